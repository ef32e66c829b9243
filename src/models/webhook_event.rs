//! `webhook_events`: one verified inbound delivery of a repository connection, kept
//! once per (connection, delivery id).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub connection_id: Uuid,
    /// The service's delivery id (`X-GitHub-Delivery`, `Idempotency-Key`,
    /// `X-Request-UUID`, …).
    pub delivery_id: String,
    /// The service's event name (`push`, `Push Hook`, `repo:push`, …).
    pub event_type: String,
    /// The service's headers worth keeping, by lowercase name; never a token or a
    /// signature.
    pub headers: Json,
    pub payload: Json,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
