//! Bodies of the event-endpoint operations, and their OpenAPI examples.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::events::public_id;
use crate::models::event_delivery::{self, DeliveryStatus, attempt};
use crate::models::event_endpoint;

/// An event type an endpoint may ask for.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventTypeName {
    #[serde(rename = "connection.created")]
    ConnectionCreated,
    #[serde(rename = "connection.status_changed")]
    ConnectionStatusChanged,
    #[serde(rename = "connection.health_changed")]
    ConnectionHealthChanged,
    #[serde(rename = "connection.disconnected")]
    ConnectionDisconnected,
    #[serde(rename = "connection.deleted")]
    ConnectionDeleted,
    #[serde(rename = "token.refresh_failed")]
    TokenRefreshFailed,
    #[serde(rename = "token.refresh_recovered")]
    TokenRefreshRecovered,
    #[serde(rename = "operation.blocked")]
    OperationBlocked,
    #[serde(rename = "operation.completed")]
    OperationCompleted,
    #[serde(rename = "repository.event")]
    RepositoryEvent,
    #[serde(rename = "endpoint.disabled")]
    EndpointDisabled,
}

impl EventTypeName {
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// `POST …/event-endpoints` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventEndpoint {
    /// Where events are POSTed. https (http only in the `local` and `test` profiles),
    /// no user info; in production its host must not resolve to a loopback, private,
    /// link-local or metadata address. Redirects are not followed.
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://app.example.com/hooks/connvault"
    )]
    pub url: String,
    #[serde(default)]
    #[schema(max_length = 500, example = "Production backend")]
    pub description: Option<String>,
    /// The event types to receive; all when empty or absent.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub event_types: Vec<EventTypeName>,
    /// Whether events are sent to it (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH …/event-endpoints/{endpoint_id}` body: the fields to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEventEndpoint {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://app.example.com/hooks/connvault"
    )]
    pub url: Option<String>,
    /// The new description; an empty string removes it.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(max_items = 32)]
    pub event_types: Option<Vec<EventTypeName>>,
    /// Enabling an endpoint again clears why it was disabled and its failure streak.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// An event endpoint. Never its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventEndpointView {
    pub id: Uuid,
    /// The tenant; `null` for a deployment-wide endpoint (every tenant's events).
    pub tenant_id: Option<Uuid>,
    pub url: String,
    pub description: Option<String>,
    /// The types it receives; empty: all.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// `manual`, `gone` (it answered 410) or `failing` (every attempt failed for 5
    /// days); `null` while enabled.
    pub disabled_reason: Option<String>,
    /// Until when the previous secret signs beside the current one (after a rotation).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when every attempt has failed; `null` when the last one succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<event_endpoint::Model> for EventEndpointView {
    fn from(e: event_endpoint::Model) -> Self {
        Self {
            id: e.id,
            tenant_id: e.tenant_id,
            url: e.url,
            description: e.description,
            event_types: e.event_types.0,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            previous_secret_expires_at: e.previous_expires_at,
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown this once (creation and rotation).
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventEndpointSecretView {
    pub endpoint: EventEndpointView,
    /// `whsec_` and base64 of 32 random bytes: give it to your Standard Webhooks
    /// library. Not shown again.
    pub secret: String,
}

/// One attempt of a delivery.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// 1 for the first.
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; `null` when none came.
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// `null` on success; `http_status`, `timeout`, `connect`, `refused_address`,
    /// `request`, `endpoint_disabled` or `no_secret`.
    pub error_class: Option<String>,
}

impl From<attempt::Model> for AttemptView {
    fn from(a: attempt::Model) -> Self {
        Self {
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error_class: a.error_class,
        }
    }
}

/// One event to one endpoint, with its attempts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventDeliveryView {
    pub id: Uuid,
    /// The event's id: the `webhook-id` of every attempt and the body's `id`.
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

impl EventDeliveryView {
    pub fn new(d: event_delivery::Model, attempts: Vec<attempt::Model>) -> Self {
        Self {
            id: d.id,
            event_id: public_id(d.event_id),
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: (d.status == DeliveryStatus::Pending)
                .then_some(d.next_attempt_at)
                .flatten(),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempt_log: attempts.into_iter().map(Into::into).collect(),
        }
    }
}

fn endpoint_example(tenant: bool) -> Value {
    json!({
        "id": "6f1c2b1e-3c1a-4a55-9a57-0f5d3b2a1c11",
        "tenant_id": if tenant { json!("0b6a8f0e-2f4e-4a3b-9a61-1b9b2f0c6d21") } else { Value::Null },
        "url": "https://app.example.com/hooks/connvault",
        "description": "Production backend",
        "event_types": ["connection.status_changed", "token.refresh_failed"],
        "enabled": true,
        "disabled_reason": null,
        "previous_secret_expires_at": null,
        "failing_since": null,
        "created_at": "2026-12-04T09:00:00Z",
        "updated_at": "2026-12-04T09:00:00Z",
    })
}

pub fn create_example() -> Value {
    json!({
        "url": "https://app.example.com/hooks/connvault",
        "description": "Production backend",
        "event_types": ["connection.status_changed", "token.refresh_failed"],
    })
}

pub fn update_example() -> Value {
    json!({ "event_types": [], "enabled": true })
}

pub fn tenant_endpoint_example() -> Value {
    endpoint_example(true)
}

pub fn deployment_endpoint_example() -> Value {
    endpoint_example(false)
}

fn with_secret(endpoint: Value) -> Value {
    json!({
        "endpoint": endpoint,
        "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    })
}

pub fn tenant_secret_example() -> Value {
    with_secret(endpoint_example(true))
}

pub fn deployment_secret_example() -> Value {
    with_secret(endpoint_example(false))
}

pub fn tenant_endpoints_example() -> Value {
    json!({ "items": [endpoint_example(true)], "next_cursor": null })
}

pub fn deployment_endpoints_example() -> Value {
    json!({ "items": [endpoint_example(false)], "next_cursor": null })
}

pub fn delivery_example() -> Value {
    json!({
        "id": "1d0f6c8e-8f0a-4f55-8d3e-7b9f8e0a2c31",
        "event_id": "evt_4f2a9c0e8b1d4e6f9a3b2c1d0e9f8a7b",
        "event_type": "connection.status_changed",
        "status": "pending",
        "attempts": 2,
        "next_attempt_at": "2026-12-04T09:05:05Z",
        "last_status_code": 503,
        "last_error": "http_status",
        "created_at": "2026-12-04T09:00:00Z",
        "updated_at": "2026-12-04T09:00:05Z",
        "attempt_log": [
            {"attempt": 1, "attempted_at": "2026-12-04T09:00:00Z", "status_code": null, "latency_ms": 15000, "error_class": "timeout"},
            {"attempt": 2, "attempted_at": "2026-12-04T09:00:05Z", "status_code": 503, "latency_ms": 42, "error_class": "http_status"},
        ],
    })
}

pub fn deliveries_example() -> Value {
    json!({ "items": [delivery_example()], "next_cursor": null })
}
