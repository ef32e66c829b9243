//! `event_endpoints`: where the product receives outbound events, a tenant's or (with
//! no tenant) the deployment's. The signing secret, and for a while after a rotation
//! the previous one, is stored only as AEAD ciphertext bound to this row.

use sea_orm::entity::prelude::*;

use super::json::StringList;

#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "event_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `None`: a deployment-wide endpoint, which receives every tenant's events.
    pub tenant_id: Option<Uuid>,
    pub url: String,
    pub description: Option<String>,
    /// The event types it wants; empty means all.
    pub event_types: StringList,
    pub enabled: bool,
    /// Why it was disabled: `manual`, `gone` (410) or `failing` (failing too long).
    pub disabled_reason: Option<String>,
    pub secret_key_id: i32,
    pub secret_ciphertext: Vec<u8>,
    pub previous_key_id: Option<i32>,
    pub previous_ciphertext: Option<Vec<u8>>,
    /// Until when the previous secret signs too.
    pub previous_expires_at: Option<DateTimeUtc>,
    /// Since when every attempt to it has failed (cleared by a success).
    pub failing_since: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    /// Whether it wants events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.0.is_empty() || self.event_types.0.iter().any(|t| t == event_type)
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventEndpoint")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .field("secret_key_id", &self.secret_key_id)
            .field("previous_expires_at", &self.previous_expires_at)
            .field("failing_since", &self.failing_since)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
