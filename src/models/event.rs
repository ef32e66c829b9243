//! `events`: the outbox of outbound events, written in the transaction of the change
//! each reports. `body` is the exact JSON every attempt sends and signs.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `None`: an event of the deployment (a deployment-wide endpoint disabled).
    pub tenant_id: Option<Uuid>,
    pub event_type: String,
    pub body: String,
    pub created_at: DateTimeUtc,
    /// When the worker made its deliveries; `None` until then.
    pub dispatched_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
