//! The one way services record what they changed: an activity entry about a connection,
//! in the change's own transaction (and so its tenant), so that both commit or neither.

use crate::error::Result;
use crate::models::activity::Action;
use crate::models::connection;
use crate::repositories::activity::{self, Actor, Entry};
use crate::tenancy::TenantTxn;

/// Records `action` on `conn` by `actor`. `details` must hold no secret.
pub async fn record(
    txn: &TenantTxn,
    actor: &Actor,
    conn: &connection::Model,
    action: Action,
    details: serde_json::Value,
) -> Result<()> {
    append(txn, actor, Some(conn), action, details).await
}

/// Records `action` on the tenant itself (an API key, …) by `actor`.
pub async fn record_on_tenant(
    txn: &TenantTxn,
    actor: &Actor,
    action: Action,
    details: serde_json::Value,
) -> Result<()> {
    append(txn, actor, None, action, details).await
}

async fn append(
    txn: &TenantTxn,
    actor: &Actor,
    conn: Option<&connection::Model>,
    action: Action,
    details: serde_json::Value,
) -> Result<()> {
    let entry = Entry {
        connection_id: conn.map(|c| c.id),
        provider_slug: conn.map(|c| c.provider_slug.as_str()),
        action,
        details,
    };
    activity::record(txn, txn.tenant(), actor, entry).await?;
    Ok(())
}
