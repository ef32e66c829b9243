//! `api_keys`: who may call the HTTP API. Only a SHA-256 of the secret is stored.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a key may do. `Operator` and `Worker` keys have no tenant (deployment-wide);
/// the others belong to one.
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
pub enum Role {
    /// All tenants: catalog, tenants, keys.
    #[sea_orm(string_value = "operator")]
    Operator,
    /// One tenant: create, update, disconnect and delete connections; its keys.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// One tenant: read decrypted credentials, and everything a viewer can.
    #[sea_orm(string_value = "service")]
    Service,
    /// One tenant: metadata only.
    #[sea_orm(string_value = "viewer")]
    Viewer,
    /// All tenants, but only the worker endpoints: claim operation runs, heartbeat and
    /// complete them, and read a run's connection credential while holding its claim.
    #[sea_orm(string_value = "worker")]
    Worker,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Service => "service",
            Role::Viewer => "viewer",
            Role::Worker => "worker",
        }
    }

    /// Whether keys of this role belong to no tenant (`operator_keys`).
    pub fn is_deployment_wide(&self) -> bool {
        matches!(self, Role::Operator | Role::Worker)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "operator" => Role::Operator,
            "admin" => Role::Admin,
            "service" => Role::Service,
            "viewer" => Role::Viewer,
            "worker" => Role::Worker,
            _ => return None,
        })
    }
}

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub role: Role,
    pub name: String,
    /// The first characters of the key, to recognise it in listings.
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("role", &self.role)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
