//! `providers`: the global catalog, keyed by slug.

use sea_orm::entity::prelude::*;

use serde::Serialize;

use super::json::{AuthModes, HealthCheck, StringList};

/// Who manages a provider's entry. Seeding the built-in catalog updates only entries
/// the catalog manages; one an operator set through the API stays as the operator left
/// it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    #[sea_orm(string_value = "catalog")]
    Catalog,
    #[sea_orm(string_value = "operator")]
    Operator,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "providers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub slug: String,
    pub display_name: String,
    pub auth_modes: AuthModes,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub default_scopes: StringList,
    pub health_check: Option<HealthCheck>,
    pub docs_url: Option<String>,
    pub metadata: Json,
    pub managed_by: ManagedBy,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::connection::Entity")]
    Connections,
}

impl Related<super::connection::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Connections.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
