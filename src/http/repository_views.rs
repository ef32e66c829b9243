//! Response bodies of repository connections and webhook events, and their OpenAPI
//! examples.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;
use uuid::{Uuid, uuid};

use crate::models::ServiceType;
use crate::models::connection::HealthStatus;
use crate::models::webhook_event;
use crate::services::repositories::{RepositoryConnection, webhook_url};

/// A repository connection (seed 003's `RepositoryConnectionInfo`), plus where the Git
/// service must send its events. Never the token or the secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RepositoryView {
    /// The connection's id (`/v1/tenants/{t}/connections/{id}` shows it too).
    pub id: Uuid,
    /// The canonical URL, `https://host/owner/repo`.
    pub repository_url: String,
    pub service_type: ServiceType,
    pub display_name: Option<String>,
    /// `false` once disconnected (the token and the secret are then destroyed).
    pub is_active: bool,
    pub health_status: HealthStatus,
    /// When the last verified delivery arrived.
    pub last_sync_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Where the service must send this repository's deliveries.
    pub webhook_url: String,
    /// The webhook's id at the service, when known.
    pub webhook_id: Option<String>,
}

impl RepositoryView {
    pub fn new(r: RepositoryConnection, public_url: &Url) -> Self {
        Self {
            id: r.conn.id,
            webhook_url: webhook_url(public_url, r.conn.connection_id()).to_string(),
            repository_url: r.conn.external_id,
            service_type: r.service,
            display_name: r.conn.display_name,
            is_active: r.conn.status == crate::models::connection::ConnectionStatus::Active,
            health_status: r.conn.health_status,
            last_sync_at: r.repo.last_sync_at,
            created_at: r.conn.created_at,
            webhook_id: r.repo.webhook_id,
        }
    }
}

/// The answer of an upsert.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UpsertedRepositoryView {
    #[serde(flatten)]
    pub repository: RepositoryView,
    /// `true` when this call created the connection.
    pub created: bool,
    /// The webhook secret connvault generated, shown once, in this answer only; absent
    /// when you gave one or the connection kept its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// One verified delivery.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookEventView {
    pub id: Uuid,
    pub connection_id: Uuid,
    /// The service's delivery id (`X-GitHub-Delivery`, `Idempotency-Key` or
    /// `webhook-id`, `X-Request-UUID`).
    pub delivery_id: String,
    /// The service's event name (`push`, `Push Hook`, `repo:push`, …).
    pub event_type: String,
    /// The service's headers worth keeping, by lowercase name; never a token or a
    /// signature.
    #[schema(value_type = Object)]
    pub headers: Value,
    /// The delivery's JSON document.
    #[schema(value_type = Object)]
    pub payload: Value,
    pub received_at: DateTime<Utc>,
}

impl From<webhook_event::Model> for WebhookEventView {
    fn from(e: webhook_event::Model) -> Self {
        Self {
            id: e.id,
            connection_id: e.connection_id,
            delivery_id: e.delivery_id,
            event_type: e.event_type,
            headers: e.headers,
            payload: e.payload,
            received_at: e.received_at,
        }
    }
}

/// The answer to an accepted delivery.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// `true` when this delivery id was stored before: nothing new was stored.
    pub duplicate: bool,
    /// The stored event; absent for a duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
}

const CONNECTION: Uuid = uuid!("5f1e9a7c-3b2d-4e6f-8a0c-1d3e5f7a9b2c");
const EVENT: Uuid = uuid!("3e5d7f9b-1a2c-4b4d-8e6f-0a2b4c6d8e0f");
const CURSOR: &str = "eyJ0IjoiMjAyNS0xMi0wMVQwOTozMDowMFoiLCJpIjoiNWYxZTlhN2MtM2IyZC00ZTZmLThhMGMtMWQzZTVmN2E5YjJjIn0";

pub fn upsert_repository_example() -> Value {
    json!({
        "repository_url": "git@github.com:octo-org/hello-world.git",
        "service_type": "github",
        "access_token": "github_pat_example_0a1b2c3d",
        "display_name": "Hello World",
        "register_webhook": false
    })
}

fn repository_example() -> Value {
    json!({
        "id": CONNECTION,
        "repository_url": "https://github.com/octo-org/hello-world",
        "service_type": "github",
        "display_name": "Hello World",
        "is_active": true,
        "health_status": "healthy",
        "last_sync_at": "2025-12-01T09:45:00Z",
        "created_at": "2025-12-01T09:30:00Z",
        "webhook_url": format!("https://connvault.example.com/webhooks/{CONNECTION}"),
        "webhook_id": "292430182"
    })
}

pub fn upserted_repository_example() -> Value {
    let mut body = repository_example();
    body["created"] = true.into();
    body["last_sync_at"] = Value::Null;
    body["health_status"] = "unknown".into();
    body["webhook_secret"] = "c2VjcmV0LXNob3duLW9uY2UtZXhhbXBsZS0wMTIzNDU2Nzg5".into();
    body
}

pub fn repositories_example() -> Value {
    json!({ "items": [repository_example()], "next_cursor": CURSOR })
}

pub fn webhook_events_example() -> Value {
    json!({
        "items": [{
            "id": EVENT,
            "connection_id": CONNECTION,
            "delivery_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "event_type": "push",
            "headers": {
                "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                "x-github-event": "push",
                "x-github-hook-id": "292430182",
                "user-agent": "GitHub-Hookshot/044aadd"
            },
            "payload": { "ref": "refs/heads/main", "repository": { "full_name": "octo-org/hello-world" } },
            "received_at": "2025-12-01T09:45:00Z"
        }],
        "next_cursor": CURSOR
    })
}

pub fn delivery_example() -> Value {
    json!({ "duplicate": false, "event_id": EVENT })
}

pub fn github_push_example() -> Value {
    json!({ "ref": "refs/heads/main", "repository": { "full_name": "octo-org/hello-world" } })
}
