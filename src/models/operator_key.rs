//! `operator_keys`: API keys of the operators, who belong to no tenant. Kept apart from
//! the tenants' `api_keys` so that every table with a `tenant_id` is tenant-owned.
//! A deployment-wide key is an `operator` or a `worker`.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operator_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// `Operator` or `Worker`.
    pub role: super::api_key::Role,
    /// The first characters of the key, to recognise it in listings.
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("prefix", &self.prefix)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

impl From<Model> for super::api_key::Model {
    fn from(k: Model) -> Self {
        Self {
            id: k.id,
            tenant_id: None,
            role: k.role,
            name: k.name,
            prefix: k.prefix,
            secret_hash: k.secret_hash,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
