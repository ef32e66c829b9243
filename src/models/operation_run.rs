//! `operation_runs`: one asked-for provider-backed operation of one tenant (seed 002's
//! `OperationRun`). A run is created for every start: `queued` when its connection is
//! usable, else `completed` with outcome `blocked`, a reason code and link-only next
//! steps. Workers claim queued runs, heartbeat while running, and complete them.

use sea_orm::FromJsonQueryResult;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a run is in its life.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "completed")]
    Completed,
}

/// How a run ended (`pending` until it does).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "partially_succeeded")]
    PartiallySucceeded,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "blocked")]
    Blocked,
}

impl RunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
        }
    }
}

impl RunOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Pending => "pending",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::PartiallySucceeded => "partially_succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::Blocked => "blocked",
        }
    }
}

/// One thing a person can do to unblock a run: a label and a link to the console.
/// Links only: never a token or a secret.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult, utoipa::ToSchema,
)]
pub struct NextStep {
    #[schema(example = "Connect Slack")]
    pub label: String,
    #[schema(
        example = "https://connvault.example.com/console/tenants/4b3c…/connect?provider=slack"
    )]
    pub url: String,
}

/// The next steps of a blocked run, in the order to try them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct NextSteps(pub Vec<NextStep>);

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "operation_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub operation_type: String,
    /// The connection the run was gated on; `None` when none could be resolved.
    pub connection_id: Option<Uuid>,
    pub status: RunStatus,
    pub outcome: RunOutcome,
    /// `{provider, connection_id, target_scope, module, params}`.
    pub context: Json,
    /// SHA-256 (hex) of (type, connection, target scope) for deduplicating types.
    pub dedupe_key: Option<String>,
    pub summary_counts: Option<Json>,
    /// Sanitized and bounded: never holds a secret.
    pub failure_summary: Option<Json>,
    pub reason_code: Option<String>,
    pub next_steps: Option<NextSteps>,
    /// How many times the run was claimed.
    pub attempt: i32,
    /// The type's limits when the run started.
    pub max_attempts: i32,
    pub heartbeat_timeout_seconds: i32,
    /// SHA-256 of the current claim's token.
    pub claim_token_hash: Option<Vec<u8>>,
    /// The worker key holding the current claim.
    pub claimed_by: Option<Uuid>,
    /// Who started the run.
    pub actor_key_id: Option<Uuid>,
    pub actor_name: String,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub heartbeat_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id",
        on_delete = "Cascade"
    )]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn tenant(&self) -> super::TenantId {
        super::TenantId::from_uuid(self.tenant_id)
    }
}
