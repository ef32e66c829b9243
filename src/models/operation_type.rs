//! `operation_types`: the operators' registry of provider-backed operations. A type
//! names the provider whose connection gates it, the scopes that connection must
//! hold, and how its runs are retried and deduplicated.

use sea_orm::entity::prelude::*;

use super::json::StringList;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "operation_types")]
pub struct Model {
    /// Slug-like name, e.g. `inventory.sync`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub operation_type: String,
    pub provider_slug: String,
    pub required_scopes: StringList,
    /// The product module that owns the operation (free text, shown to people).
    pub module: String,
    /// Claims a run may have before a lost worker fails it (`worker_lost`).
    pub max_attempts: i32,
    /// A running run whose heartbeat is older than this is taken back.
    pub heartbeat_timeout_seconds: i32,
    /// Whether starting an identical run while one is active returns that run.
    pub dedupe: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::provider::Entity",
        from = "Column::ProviderSlug",
        to = "super::provider::Column::Slug",
        on_delete = "Restrict"
    )]
    Provider,
}

impl Related<super::provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
