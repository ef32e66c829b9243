//! What the worker endpoints answer, and their OpenAPI examples. A claim token appears
//! in the claim's answer only, once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::{Uuid, uuid};

use crate::models::operation_run::{self, NextSteps, RunOutcome, RunStatus};
use crate::services::operations::ClaimedRun;

/// `POST /v1/operations/claim` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    /// The operation types this worker serves (1 to 50).
    #[schema(min_items = 1, max_items = 50, value_type = Vec<OperationTypeName>)]
    pub types: Vec<String>,
    /// How many runs to take at most (1 to 100; default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100, required = false)]
    pub limit: Option<u32>,
}

/// An operation type's name: 1 to 64 characters of `a-z 0-9 . _ -`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9._-]{1,64}$", example = "inventory.sync")]
#[allow(dead_code)]
pub struct OperationTypeName(String);

/// A run handed to a worker, with the token that proves the claim (shown this once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClaimedRunView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub operation_type: String,
    pub connection_id: Option<Uuid>,
    /// `{provider, connection_id, target_scope, module, params}` as the run was started.
    #[schema(value_type = Object)]
    pub context: Value,
    /// This claim's attempt (1 for the first).
    pub attempt: i32,
    pub max_attempts: i32,
    /// Heartbeat at least this often, or the run is taken back.
    pub heartbeat_timeout_seconds: i32,
    /// Send as `X-Claim-Token` to heartbeat, complete and read the credential.
    pub claim_token: String,
    pub started_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl ClaimedRunView {
    pub fn new(claimed: &ClaimedRun) -> Self {
        let r = &claimed.run;
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            operation_type: r.operation_type.clone(),
            connection_id: r.connection_id,
            context: r.context.clone(),
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            heartbeat_timeout_seconds: r.heartbeat_timeout_seconds,
            claim_token: secrecy::ExposeSecret::expose_secret(&claimed.claim_token).to_owned(),
            started_at: r.started_at,
            heartbeat_at: r.heartbeat_at,
            created_at: r.created_at,
        }
    }
}

/// The answer of a claim.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClaimedView {
    /// The runs now held, oldest first; empty when none is queued.
    pub runs: Vec<ClaimedRunView>,
    /// Runs the gate refused at claim (their connection became unusable while they
    /// waited): finalized as `completed`/`blocked`, not handed out.
    pub blocked_run_ids: Vec<Uuid>,
}

/// A run as its worker sees it after a heartbeat or its completion.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkerRunView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub operation_type: String,
    pub connection_id: Option<Uuid>,
    pub status: RunStatus,
    pub outcome: RunOutcome,
    pub attempt: i32,
    pub heartbeat_timeout_seconds: i32,
    #[schema(value_type = Option<Object>)]
    pub summary_counts: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub failure_summary: Option<Value>,
    pub reason_code: Option<String>,
    #[schema(value_type = Option<Vec<crate::models::operation_run::NextStep>>)]
    pub next_steps: Option<NextSteps>,
    pub started_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<operation_run::Model> for WorkerRunView {
    fn from(r: operation_run::Model) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            operation_type: r.operation_type,
            connection_id: r.connection_id,
            status: r.status,
            outcome: r.outcome,
            attempt: r.attempt,
            heartbeat_timeout_seconds: r.heartbeat_timeout_seconds,
            summary_counts: r.summary_counts,
            failure_summary: r.failure_summary,
            reason_code: r.reason_code,
            next_steps: r.next_steps,
            started_at: r.started_at,
            heartbeat_at: r.heartbeat_at,
            completed_at: r.completed_at,
        }
    }
}

// Examples.

const RUN: Uuid = uuid!("3e5a7c9b-1d2f-4a6b-8c0e-2f4a6c8e0b1d");
const TENANT: Uuid = super::super::examples::TENANT;
const CONNECTION: Uuid = super::super::examples::CONNECTION;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

pub fn claim_body() -> Value {
    json!({ "types": ["inventory.sync"], "limit": 10 })
}

pub fn complete_body() -> Value {
    json!({
        "outcome": "partially_succeeded",
        "summary_counts": {"items_synced": 120, "items_failed": 3},
        "failure_summary": {"reason_code": "provider_rejected_items", "message": "3 items were rejected by the provider (HTTP 422)"}
    })
}

pub fn claimed() -> Value {
    json!(ClaimedView {
        runs: vec![ClaimedRunView {
            id: RUN,
            tenant_id: TENANT,
            operation_type: "inventory.sync".into(),
            connection_id: Some(CONNECTION),
            context: json!({
                "provider": "slack",
                "connection_id": CONNECTION,
                "target_scope": {"channel": "C024BE91L"},
                "module": "inventory",
                "params": {}
            }),
            attempt: 1,
            max_attempts: 3,
            heartbeat_timeout_seconds: 60,
            claim_token: "cvr_example-claim-token-0a1b2c3d".into(),
            started_at: Some(at("2025-12-01T09:30:05Z")),
            heartbeat_at: Some(at("2025-12-01T09:30:05Z")),
            created_at: at("2025-12-01T09:30:00Z"),
        }],
        blocked_run_ids: vec![],
    })
}

fn run(status: RunStatus, outcome: RunOutcome) -> WorkerRunView {
    WorkerRunView {
        id: RUN,
        tenant_id: TENANT,
        operation_type: "inventory.sync".into(),
        connection_id: Some(CONNECTION),
        status,
        outcome,
        attempt: 1,
        heartbeat_timeout_seconds: 60,
        summary_counts: None,
        failure_summary: None,
        reason_code: None,
        next_steps: None,
        started_at: Some(at("2025-12-01T09:30:05Z")),
        heartbeat_at: Some(at("2025-12-01T09:30:35Z")),
        completed_at: None,
    }
}

pub fn heartbeat() -> Value {
    json!(run(RunStatus::Running, RunOutcome::Pending))
}

pub fn completed() -> Value {
    let mut view = run(RunStatus::Completed, RunOutcome::PartiallySucceeded);
    view.summary_counts = Some(json!({"items_failed": 3, "items_synced": 120}));
    view.failure_summary = Some(json!({
        "reason_code": "provider_rejected_items",
        "message": "3 items were rejected by the provider (HTTP 422)"
    }));
    view.reason_code = Some("provider_rejected_items".into());
    view.completed_at = Some(at("2025-12-01T09:31:10Z"));
    json!(view)
}
