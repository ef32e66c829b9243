//! `encryption_keys`: data keys, stored wrapped by the master key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum KeyState {
    /// The one key new ciphertexts are made with.
    #[sea_orm(string_value = "active")]
    Active,
    /// An older key: still decrypts, never encrypts.
    #[sea_orm(string_value = "decrypt_only")]
    DecryptOnly,
}

impl KeyState {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::DecryptOnly => "decrypt_only",
        }
    }
}

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "encryption_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub state: KeyState,
    /// The data key encrypted under the master key: nonce, ciphertext and tag.
    pub wrapped_key: Vec<u8>,
    /// Fingerprint of the master key that wrapped it (not the key).
    pub master_key_id: String,
    /// Nonces reserved under this key so far: an upper bound of its encryptions.
    pub encryptions: i64,
    pub created_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("master_key_id", &self.master_key_id)
            .field("encryptions", &self.encryptions)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
