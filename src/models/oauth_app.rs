//! `oauth_apps`: the deployment's OAuth client for one provider. The client secret is
//! stored only as AEAD ciphertext bound to this row.

use sea_orm::entity::prelude::*;

use super::json::StringList;

#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_apps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_slug: String,
    pub client_id: String,
    pub secret_ciphertext: Vec<u8>,
    pub secret_key_id: i32,
    pub secret_mask: String,
    /// Where a connect flow may send the end user back to (exact URLs).
    pub allowed_return_urls: StringList,
    /// Bumped on every write, so a re-encryption never overwrites a newer secret.
    pub revision: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthApp")
            .field("id", &self.id)
            .field("provider_slug", &self.provider_slug)
            .field("client_id", &self.client_id)
            .field("secret_key_id", &self.secret_key_id)
            .field("secret_mask", &self.secret_mask)
            .field("allowed_return_urls", &self.allowed_return_urls)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
