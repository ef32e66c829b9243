//! `event_deliveries`: one event to one endpoint, the retry ledger; and
//! `event_attempts` (module [`attempt`]): each try.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet delivered: due at `next_attempt_at`.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// A 2xx answer.
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// Every attempt of the schedule failed, or the endpoint is gone or disabled.
    #[sea_orm(string_value = "failed")]
    Failed,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "event_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The endpoint's tenant (`None` for a deployment-wide endpoint).
    pub tenant_id: Option<Uuid>,
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    /// Set while a worker sends it; only that worker records the outcome.
    pub lease_token: Option<Uuid>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub mod attempt {
    //! `event_attempts`: one try of a delivery.

    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "event_attempts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Option<Uuid>,
        pub delivery_id: Uuid,
        pub endpoint_id: Uuid,
        pub attempt: i32,
        pub attempted_at: DateTimeUtc,
        /// The receiver's HTTP status; `None` when no answer came.
        pub status_code: Option<i32>,
        pub latency_ms: i64,
        /// `None` on success; else `http_status`, `timeout`, `connect`, `refused_address`, …
        pub error_class: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
