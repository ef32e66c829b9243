//! `connections`: one tenant's authorization to one external account.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::json::StringList;

/// Lifecycle of a connection. Revocation, not deletion, ends it.
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
pub enum ConnectionStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "needs_consent")]
    NeedsConsent,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "needs_reauth")]
    NeedsReauth,
    #[sea_orm(string_value = "error")]
    Error,
    #[sea_orm(string_value = "revoked")]
    Revoked,
}

/// What the last health check or token use said about a connection.
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
pub enum HealthStatus {
    #[sea_orm(string_value = "unknown")]
    Unknown,
    #[sea_orm(string_value = "healthy")]
    Healthy,
    #[sea_orm(string_value = "degraded")]
    Degraded,
    #[sea_orm(string_value = "unhealthy")]
    Unhealthy,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub provider_slug: String,
    pub external_id: String,
    pub display_name: Option<String>,
    pub status: ConnectionStatus,
    pub health_status: HealthStatus,
    pub is_default: bool,
    pub scopes_granted: StringList,
    pub token_expires_at: Option<DateTimeUtc>,
    pub last_health_check_at: Option<DateTimeUtc>,
    pub last_error_reason_code: Option<String>,
    /// Sanitized: never holds a secret.
    pub last_error_message: Option<String>,
    pub metadata: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Until when one process holds the right to refresh the token (compare-and-swap).
    pub refresh_lease_until: Option<DateTimeUtc>,
    /// Which process holds the lease (a random id per attempt).
    pub refresh_lease_owner: Option<Uuid>,
    /// When the token was last renewed.
    pub last_refreshed_at: Option<DateTimeUtc>,
    /// No background refresh before this (back-off after transient failures).
    pub refresh_retry_at: Option<DateTimeUtc>,
    /// Transient refresh failures in a row.
    pub refresh_failures: i32,
    /// When the scheduled health check should next test it (`None`: at once).
    pub health_check_due_at: Option<DateTimeUtc>,
    /// Until when one process holds the right to health-check it.
    pub health_lease_until: Option<DateTimeUtc>,
    /// Which process holds the health-check lease (a random id per check).
    pub health_lease_owner: Option<Uuid>,
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
    #[sea_orm(
        belongs_to = "super::provider::Entity",
        from = "Column::ProviderSlug",
        to = "super::provider::Column::Slug",
        on_delete = "Restrict"
    )]
    Provider,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn connection_id(&self) -> super::ConnectionId {
        super::ConnectionId::from_uuid(self.id)
    }

    pub fn tenant(&self) -> super::TenantId {
        super::TenantId::from_uuid(self.tenant_id)
    }
}
