//! `repository_connections`: what a repository connection has beyond its `connections`
//! row (whose external id is the canonical repository URL and whose credential holds
//! the access token and webhook secret).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repository_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub connection_id: Uuid,
    pub tenant_id: Uuid,
    /// The webhook's id at the provider: the one connvault registered, or the
    /// `hook_id` of a GitHub `ping`.
    pub webhook_id: Option<String>,
    /// When the last verified delivery arrived.
    pub last_sync_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
