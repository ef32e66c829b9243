//! Inbound webhook deliveries of repository connections: looked up without an API key,
//! verified over the raw bytes before anything is parsed or stored, stored once per
//! delivery id, and fed into the connection's health.
//!
//! Every refusal (unknown, inactive or non-repository connection, no secret, bad
//! signature) is one [`Receipt::Refused`], answered alike. Repeated verification
//! failures of one connection degrade its health (`webhook_signature_invalid`), at most
//! one write per [`FAILURE_WINDOW`] and connection, counted in this process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::crypto::Keyring;
use crate::error::Result;
use crate::events::EventType;
use crate::models::activity::Action;
use crate::models::connection::{ConnectionStatus, HealthStatus};
use crate::models::{ConnectionId, ServiceType, TenantId};
use crate::repositories::activity::Actor;
use crate::repositories::connections::{self, ConnectionError, TokenStatusPatch};
use crate::repositories::events;
use crate::repositories::repository_connections;
use crate::repositories::webhook_events::{self, NewEvent};
use crate::services::activity::record;
use crate::services::credentials::{self, Credential};
use crate::tenancy::TenantTxn;
use crate::webhooks::{self, Refusal};

/// The largest delivery body accepted when none is configured: 5 MiB.
pub const DEFAULT_MAX_BYTES: usize = 5 * 1024 * 1024;
/// How long events are kept when nothing else is configured.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// Failures of one connection within [`FAILURE_WINDOW`] that degrade its health.
pub const FAILURE_THRESHOLD: u32 = 5;
/// The window of [`FAILURE_THRESHOLD`], and the least time between two health writes
/// for failures of one connection.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// The reason code of a health degraded by failed verifications.
pub const SIGNATURE_INVALID: &str = "webhook_signature_invalid";
/// Connections whose failures are counted at once; more start the count afresh.
const MAX_TRACKED: usize = 10_000;

/// What the receiver needs beside the database: its limits and failure counts.
pub struct Inbound {
    pub max_bytes: usize,
    failures: Mutex<HashMap<Uuid, Failures>>,
}

impl Default for Inbound {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

struct Failures {
    count: u32,
    since: Instant,
    marked: Option<Instant>,
}

impl Inbound {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a failure; `true` when the connection's health should be degraded now.
    fn failed(&self, id: Uuid) -> bool {
        let now = Instant::now();
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= MAX_TRACKED && !all.contains_key(&id) {
            all.clear();
        }
        let entry = all.entry(id).or_insert(Failures {
            count: 0,
            since: now,
            marked: None,
        });
        if now.duration_since(entry.since) > FAILURE_WINDOW {
            entry.count = 0;
            entry.since = now;
        }
        entry.count += 1;
        let recently_marked = entry
            .marked
            .is_some_and(|at| now.duration_since(at) < FAILURE_WINDOW);
        if entry.count >= FAILURE_THRESHOLD && !recently_marked {
            entry.marked = Some(now);
            return true;
        }
        false
    }

    fn succeeded(&self, id: Uuid) {
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(&id);
    }
}

/// What became of a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Verified and stored as this event.
    Stored(Uuid),
    /// Verified, and its delivery id was stored before: nothing new.
    Duplicate,
    /// Not verified, or no active repository connection has this id; the reason is
    /// for the log only.
    Refused(Option<Refusal>),
    /// The repository connection was disconnected.
    Gone,
    /// Verified, but the body is not a JSON document (nor a form with a `payload`).
    NotJson,
}

/// Receives one delivery for the connection `id`.
pub async fn receive(
    db: &DatabaseConnection,
    keyring: &Keyring,
    inbound: &Inbound,
    id: ConnectionId,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Receipt> {
    let Some(target) = repository_connections::webhook_target(db, id).await? else {
        return Ok(Receipt::Refused(None));
    };
    let Some(service) = ServiceType::from_slug(&target.provider_slug) else {
        return Ok(Receipt::Refused(None));
    };
    let tenant = target.tenant;
    if repository_connections::get(db, tenant, id).await?.is_none() {
        return Ok(Receipt::Refused(None));
    }
    match target.status {
        ConnectionStatus::Active => {}
        ConnectionStatus::Revoked => return Ok(Receipt::Gone),
        _ => return Ok(Receipt::Refused(None)),
    }
    let secret = match credentials::read(db, keyring, tenant, id).await? {
        Some(Credential::RepositoryToken { webhook_secret, .. }) => webhook_secret,
        _ => return Ok(Receipt::Refused(Some(Refusal::NoSecret))),
    };
    let delivery = match webhooks::verify(service, &[secret], headers, body, now) {
        Ok(delivery) => delivery,
        Err(refusal) => {
            if inbound.failed(id.as_uuid()) {
                degrade(db, tenant, id, refusal).await?;
            }
            return Ok(Receipt::Refused(Some(refusal)));
        }
    };
    let Some(payload) = payload(headers, body) else {
        return Ok(Receipt::NotJson);
    };
    inbound.succeeded(id.as_uuid());
    let hook_id = (delivery.event_type == "ping")
        .then(|| ping_hook_id(&payload))
        .flatten();
    // The outbound `repository.event` forwards the verified delivery.
    let mut forwarded = json!({
        "connection_id": id.as_uuid(),
        "provider": target.provider_slug,
        "delivery_id": delivery.delivery_id,
        "event_type": delivery.event_type,
        "payload": payload,
    });
    let event = NewEvent {
        connection: id,
        delivery_id: delivery.delivery_id,
        event_type: delivery.event_type,
        headers: json!(delivery.headers),
        payload,
        received_at: now,
    };
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let Some(event_id) = webhook_events::insert(&txn, tenant, event).await? else {
        return Ok(Receipt::Duplicate);
    };
    forwarded["webhook_event_id"] = json!(event_id);
    events::emit(&txn, tenant, EventType::RepositoryEvent, forwarded).await?;
    repository_connections::record_sync(&txn, tenant, id, now).await?;
    if let Some(hook_id) = hook_id {
        repository_connections::set_webhook_id(&txn, tenant, id, Some(hook_id)).await?;
    }
    let conn = connections::get_by_id(&txn, tenant, id).await?;
    if let Some(conn) = conn.filter(|c| c.health_status != HealthStatus::Healthy) {
        let patch = TokenStatusPatch {
            health_status: Some(HealthStatus::Healthy),
            last_error: Some(None),
            ..Default::default()
        };
        let after = connections::update_tokens_status(&txn, tenant, id, patch).await?;
        let details = json!({ "from": conn.health_status, "to": HealthStatus::Healthy, "because": "webhook_verified" });
        record(&txn, &actor(), &after, Action::HealthChanged, details).await?;
    }
    txn.commit().await?;
    Ok(Receipt::Stored(event_id))
}

fn actor() -> Actor {
    Actor::system("webhooks")
}

/// Marks the connection `degraded` with [`SIGNATURE_INVALID`], unless it is already.
async fn degrade(
    db: &DatabaseConnection,
    tenant: TenantId,
    id: ConnectionId,
    refusal: Refusal,
) -> Result<()> {
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let Some(conn) = connections::get_by_id(&txn, tenant, id).await? else {
        return Ok(());
    };
    if conn.health_status == HealthStatus::Degraded
        && conn.last_error_reason_code.as_deref() == Some(SIGNATURE_INVALID)
    {
        return Ok(());
    }
    let patch = TokenStatusPatch {
        health_status: Some(HealthStatus::Degraded),
        last_error: Some(Some(ConnectionError {
            reason_code: SIGNATURE_INVALID.to_owned(),
            message: format!(
                "{FAILURE_THRESHOLD} or more deliveries failed verification ({})",
                refusal.reason_code()
            ),
        })),
        ..Default::default()
    };
    let after = connections::update_tokens_status(&txn, tenant, id, patch).await?;
    let details = json!({
        "from": conn.health_status,
        "to": HealthStatus::Degraded,
        "reason_code": SIGNATURE_INVALID,
        "last_refusal": refusal.reason_code(),
    });
    record(&txn, &actor(), &after, Action::HealthChanged, details).await?;
    txn.commit().await?;
    tracing::warn!(connection = %id.as_uuid(), "webhook deliveries keep failing verification: health degraded");
    Ok(())
}

/// The JSON document of a verified body: the body itself, or GitHub's form encoding
/// (`payload=<json>`).
fn payload(headers: &HeaderMap, body: &[u8]) -> Option<Value> {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let (_, json) = url::form_urlencoded::parse(body).find(|(k, _)| k == "payload")?;
        return serde_json::from_str(&json).ok();
    }
    serde_json::from_slice(body).ok()
}

/// GitHub's `ping` names its hook: `hook_id` (or `hook.id`).
fn ping_hook_id(payload: &Value) -> Option<String> {
    let id = payload
        .get("hook_id")
        .or_else(|| payload.get("hook").and_then(|h| h.get("id")))?;
    match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() && s.len() <= 200 => Some(s.clone()),
        _ => None,
    }
}

/// Deletes every tenant's events older than `retention_days`; returns how many.
pub async fn purge(
    db: &DatabaseConnection,
    retention_days: u32,
    now: DateTime<Utc>,
) -> Result<u64> {
    let before = now - chrono::Duration::days(i64::from(retention_days));
    webhook_events::purge(db, before).await
}

/// One page of the tenant's events matching `filter`, newest first.
pub async fn events(
    db: &DatabaseConnection,
    tenant: TenantId,
    filter: &webhook_events::EventFilter,
    page: crate::repositories::Page,
) -> Result<crate::repositories::PageResult<crate::models::webhook_event::Model>> {
    webhook_events::list(db, tenant, filter, page).await
}
