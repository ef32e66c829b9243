//! `activity_log`: what happened to a tenant's connections, by whom. Append-only; no
//! secret in it; it outlives the connection.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

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
pub enum Action {
    #[sea_orm(string_value = "connected")]
    Connected,
    #[sea_orm(string_value = "disconnected")]
    Disconnected,
    #[sea_orm(string_value = "deleted")]
    Deleted,
    #[sea_orm(string_value = "credentials_updated")]
    CredentialsUpdated,
    #[sea_orm(string_value = "default_changed")]
    DefaultChanged,
    #[sea_orm(string_value = "status_changed")]
    StatusChanged,
    /// A token was renewed (by refresh token or client credentials).
    #[sea_orm(string_value = "refreshed")]
    Refreshed,
    /// A renewal failed; `details.reason_code` says why.
    #[sea_orm(string_value = "refresh_failed")]
    RefreshFailed,
    /// A renewal succeeded after failures that had degraded the connection's health.
    #[sea_orm(string_value = "refresh_recovered")]
    RefreshRecovered,
    /// Display name or metadata changed; `details.fields` names which.
    #[sea_orm(string_value = "updated")]
    Updated,
    /// An API key of the tenant was created; `details` has its id, role and name.
    #[sea_orm(string_value = "api_key_created")]
    ApiKeyCreated,
    /// An API key of the tenant was revoked.
    #[sea_orm(string_value = "api_key_revoked")]
    ApiKeyRevoked,
    /// A connection test asked for through the API found the credential working;
    /// `details` has the health and the provider's HTTP status.
    #[sea_orm(string_value = "test_succeeded")]
    TestSucceeded,
    /// A connection test found the credential rejected or the provider failing;
    /// `details` has the health, reason code and HTTP status.
    #[sea_orm(string_value = "test_failed")]
    TestFailed,
    /// A health check or inbound webhook deliveries changed a connection's health
    /// (healthy to unhealthy or degraded, or recovered); `details` has `from`, `to`
    /// and the reason code.
    #[sea_orm(string_value = "health_changed")]
    HealthChanged,
    /// An operation run was blocked at start or at claim; `details` has the run id,
    /// type and reason code.
    #[sea_orm(string_value = "operation_blocked")]
    OperationBlocked,
    /// An operation run completed; `details` has the run id, type and outcome.
    #[sea_orm(string_value = "operation_completed")]
    OperationCompleted,
    /// An operation run was cancelled before it completed.
    #[sea_orm(string_value = "operation_cancelled")]
    OperationCancelled,
    /// A repository connection was created or updated by its upsert; `details` has the
    /// repository URL and whether it was created.
    #[sea_orm(string_value = "repository_connected")]
    RepositoryConnected,
    /// connvault created the repository's webhook at the provider; `details.webhook_id`.
    #[sea_orm(string_value = "webhook_registered")]
    WebhookRegistered,
    /// The repository's webhook was deleted at the provider, or that failed
    /// (`details.removed` false, `details.reason_code`): best effort, recorded either way.
    #[sea_orm(string_value = "webhook_removed")]
    WebhookRemoved,
    /// One of the tenant's event endpoints was disabled by the delivery worker;
    /// `details` has the endpoint id, its host and the reason (`gone`: it answered
    /// 410; `failing`: every attempt failed for too long).
    #[sea_orm(string_value = "event_endpoint_disabled")]
    EventEndpointDisabled,
}

impl Action {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "connected" => Action::Connected,
            "disconnected" => Action::Disconnected,
            "deleted" => Action::Deleted,
            "credentials_updated" => Action::CredentialsUpdated,
            "default_changed" => Action::DefaultChanged,
            "status_changed" => Action::StatusChanged,
            "refreshed" => Action::Refreshed,
            "refresh_failed" => Action::RefreshFailed,
            "refresh_recovered" => Action::RefreshRecovered,
            "updated" => Action::Updated,
            "api_key_created" => Action::ApiKeyCreated,
            "api_key_revoked" => Action::ApiKeyRevoked,
            "test_succeeded" => Action::TestSucceeded,
            "test_failed" => Action::TestFailed,
            "health_changed" => Action::HealthChanged,
            "operation_blocked" => Action::OperationBlocked,
            "operation_completed" => Action::OperationCompleted,
            "operation_cancelled" => Action::OperationCancelled,
            "repository_connected" => Action::RepositoryConnected,
            "webhook_registered" => Action::WebhookRegistered,
            "webhook_removed" => Action::WebhookRemoved,
            "event_endpoint_disabled" => Action::EventEndpointDisabled,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "activity_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub connection_id: Option<Uuid>,
    pub provider_slug: Option<String>,
    pub action: Action,
    pub actor_key_id: Option<Uuid>,
    pub actor_name: String,
    pub details: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
