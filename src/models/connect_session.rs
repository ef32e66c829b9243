//! `connect_sessions`: one end user's attempt to connect a provider through a connect
//! link. The link token and the OAuth `state` are stored only as SHA-256 hashes, the
//! PKCE verifier only as AEAD ciphertext bound to the session.

use sea_orm::entity::prelude::*;

use super::json::StringList;

/// Where a connect session is. Each step is a compare-and-swap from the one before:
/// `created` → `started` → `exchanging` → `completed`, or `failed` from any of the first
/// three.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// The link was made and not opened yet.
    #[sea_orm(string_value = "created")]
    Created,
    /// The end user was sent to the provider with a state and a PKCE verifier.
    #[sea_orm(string_value = "started")]
    Started,
    /// The state was consumed; the code is being exchanged.
    #[sea_orm(string_value = "exchanging")]
    Exchanging,
    #[sea_orm(string_value = "completed")]
    Completed,
    #[sea_orm(string_value = "failed")]
    Failed,
}

#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "connect_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The provider connected: the only one of the link, or the one the end user
    /// picked (the first allowed until they pick).
    pub provider_slug: String,
    /// The providers the end user may pick among; `None` for a link of one provider.
    pub allowed_providers: Option<StringList>,
    pub token_hash: Vec<u8>,
    pub state_hash: Option<Vec<u8>>,
    pub verifier_ciphertext: Option<Vec<u8>>,
    pub verifier_key_id: Option<i32>,
    pub return_url: String,
    pub scopes: StringList,
    pub end_user_label: Option<String>,
    pub status: SessionStatus,
    pub connection_id: Option<Uuid>,
    pub error_code: Option<String>,
    pub actor_key_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSession")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("provider_slug", &self.provider_slug)
            .field("allowed_providers", &self.allowed_providers)
            .field("status", &self.status)
            .field("connection_id", &self.connection_id)
            .field("error_code", &self.error_code)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The providers the end user may connect through this link.
    pub fn providers(&self) -> Vec<String> {
        match &self.allowed_providers {
            Some(list) => list.0.clone(),
            None => vec![self.provider_slug.clone()],
        }
    }

    /// Whether the end user picks the provider on the connect page.
    pub fn has_picker(&self) -> bool {
        self.allowed_providers.is_some()
    }
}
