//! Writing a check's result: the connection row (health, check time, error, status,
//! next due time, lease released) and its activity entries, in one transaction of its
//! tenant. On-demand tests record `test_succeeded` / `test_failed`; every check records
//! `health_changed` on a transition and `status_changed` when the status moved.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::classify::Verdict;
use super::rules;
use crate::error::Result;
use crate::models::activity::Action;
use crate::models::connection;
use crate::models::{ConnectionId, TenantId};
use crate::repositories::activity::Actor;
use crate::repositories::connections;
use crate::repositories::health_checks::{self, CheckRecord};
use crate::services::activity;
use crate::tenancy::TenantTxn;

/// A check to write.
pub(super) struct Checked<'a> {
    pub tenant: TenantId,
    pub id: ConnectionId,
    /// The scheduled check's lease; `None` for an on-demand test.
    pub owner: Option<Uuid>,
    pub verdict: &'a Verdict,
    pub oauth: bool,
    pub at: DateTime<Utc>,
    pub next_due_at: DateTime<Utc>,
    /// Who asked for an on-demand test; `None` for a scheduled check.
    pub requested_by: Option<&'a Actor>,
    /// The actor of entries of a scheduled check.
    pub system: &'a Actor,
}

/// Writes the check; the row as written, or `None` when the connection was
/// disconnected (or the lease lost) meanwhile and nothing was written.
pub(super) async fn write(
    db: &sea_orm::DatabaseConnection,
    checked: Checked<'_>,
) -> Result<Option<connection::Model>> {
    let Checked {
        tenant,
        id,
        verdict,
        ..
    } = checked;
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let before = connections::lock(&txn, tenant, id).await?;
    let changes = rules::changes(&before, verdict, checked.oauth);
    let record = CheckRecord {
        at: checked.at,
        health: verdict.health,
        reason_code: changes.reason_code,
        message: changes.message,
        status: changes.status,
        next_due_at: checked.next_due_at,
    };
    let Some(after) = health_checks::record(&txn, tenant, id, checked.owner, record).await? else {
        return Ok(None);
    };
    let actor = checked.requested_by.unwrap_or(checked.system);
    if checked.requested_by.is_some() {
        let action = if verdict.is_healthy() {
            Action::TestSucceeded
        } else {
            Action::TestFailed
        };
        let details = json!({
            "health": verdict.health,
            "reason_code": verdict.reason_code,
            "http_status": verdict.http_status,
        });
        activity::record(&txn, actor, &after, action, details).await?;
    }
    if rules::transition(before.health_status, after.health_status) {
        let details = json!({
            "from": before.health_status,
            "to": after.health_status,
            "reason_code": verdict.reason_code,
        });
        activity::record(&txn, actor, &after, Action::HealthChanged, details).await?;
    }
    if before.status != after.status {
        let details = json!({
            "from": before.status,
            "to": after.status,
            "reason_code": after.last_error_reason_code,
        });
        activity::record(&txn, actor, &after, Action::StatusChanged, details).await?;
    }
    txn.commit().await?;
    Ok(Some(after))
}
