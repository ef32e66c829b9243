//! Response bodies of operation types and runs, and their examples.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::models::operation_run::{self, NextStep, RunOutcome, RunStatus};
use crate::models::operation_type;

/// An operation type of the registry.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationTypeView {
    #[serde(rename = "type")]
    #[schema(example = "inventory.sync")]
    pub operation_type: String,
    #[schema(example = "slack")]
    pub provider: String,
    pub required_scopes: Vec<String>,
    #[schema(example = "inventory")]
    pub module: String,
    #[schema(example = 3)]
    pub max_attempts: i32,
    #[schema(example = 300)]
    pub heartbeat_timeout_seconds: i32,
    pub dedupe: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<operation_type::Model> for OperationTypeView {
    fn from(t: operation_type::Model) -> Self {
        Self {
            operation_type: t.operation_type,
            provider: t.provider_slug,
            required_scopes: t.required_scopes.0,
            module: t.module,
            max_attempts: t.max_attempts,
            heartbeat_timeout_seconds: t.heartbeat_timeout_seconds,
            dedupe: t.dedupe,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Who started a run.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunActorView {
    pub key_id: Option<Uuid>,
    pub name: String,
}

/// An operation run. A blocked run is `completed` with outcome `blocked`, a
/// `reason_code` and `next_steps` (links to the console only).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "inventory.sync")]
    pub operation_type: String,
    pub connection_id: Option<Uuid>,
    pub status: RunStatus,
    pub outcome: RunOutcome,
    /// `{provider, connection_id, target_scope, module, params}`.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub summary_counts: Option<serde_json::Value>,
    /// Sanitized: for a blocked run `{reason_code, message, missing_scopes?}`.
    #[schema(value_type = Option<Object>)]
    pub failure_summary: Option<serde_json::Value>,
    /// Why the run is blocked: `no_connection`, `no_default_connection`,
    /// `connection_needs_consent`, `connection_needs_reauth`, `connection_revoked`,
    /// `credential_missing`, `missing_scopes`, `connection_unhealthy`.
    #[schema(example = "no_connection")]
    pub reason_code: Option<String>,
    pub next_steps: Vec<NextStep>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub heartbeat_timeout_seconds: i32,
    pub actor: RunActorView,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<operation_run::Model> for RunView {
    fn from(r: operation_run::Model) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            operation_type: r.operation_type,
            connection_id: r.connection_id,
            status: r.status,
            outcome: r.outcome,
            context: r.context,
            summary_counts: r.summary_counts,
            failure_summary: r.failure_summary,
            reason_code: r.reason_code,
            next_steps: r.next_steps.map(|s| s.0).unwrap_or_default(),
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            heartbeat_timeout_seconds: r.heartbeat_timeout_seconds,
            actor: RunActorView {
                key_id: r.actor_key_id,
                name: r.actor_name,
            },
            started_at: r.started_at,
            completed_at: r.completed_at,
            heartbeat_at: r.heartbeat_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-03T08:30:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

pub fn type_view() -> OperationTypeView {
    OperationTypeView {
        operation_type: "inventory.sync".into(),
        provider: "slack".into(),
        required_scopes: vec!["channels:read".into()],
        module: "inventory".into(),
        max_attempts: 3,
        heartbeat_timeout_seconds: 300,
        dedupe: true,
        created_at: at(),
        updated_at: at(),
    }
}

pub fn type_example() -> serde_json::Value {
    serde_json::to_value(type_view()).unwrap_or_default()
}

pub fn types_example() -> serde_json::Value {
    serde_json::json!({ "items": [type_example()], "next_cursor": null })
}

pub fn run_view() -> RunView {
    let tenant = Uuid::from_u128(0x4b3c_1d2e_0000_4000_8000_0000_0000_0001);
    RunView {
        id: Uuid::from_u128(0x9f1e_0000_0000_4000_8000_0000_0000_0002),
        tenant_id: tenant,
        operation_type: "inventory.sync".into(),
        connection_id: None,
        status: RunStatus::Completed,
        outcome: RunOutcome::Blocked,
        context: serde_json::json!({
            "provider": "slack", "connection_id": null, "module": "inventory",
            "target_scope": {"channel": "C024BE91L"}, "params": {}
        }),
        summary_counts: None,
        failure_summary: Some(serde_json::json!({
            "reason_code": "no_connection",
            "message": "the tenant has no connection of the operation's provider"
        })),
        reason_code: Some("no_connection".into()),
        next_steps: vec![NextStep {
            label: "Connect Slack".into(),
            url: format!(
                "https://connvault.example.com/console/tenants/{tenant}/connect?provider=slack"
            ),
        }],
        attempt: 0,
        max_attempts: 3,
        heartbeat_timeout_seconds: 300,
        actor: RunActorView {
            key_id: None,
            name: "backend".into(),
        },
        started_at: None,
        completed_at: Some(at()),
        heartbeat_at: None,
        created_at: at(),
        updated_at: at(),
    }
}

pub fn run_example() -> serde_json::Value {
    serde_json::to_value(run_view()).unwrap_or_default()
}

pub fn runs_example() -> serde_json::Value {
    serde_json::json!({ "items": [run_example()], "next_cursor": null })
}
