//! `credential_secrets`: one encrypted field of a connection's credential.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credential_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub connection_id: Uuid,
    /// Which secret this is (`access_token`, `client_secret`, …); bound into the AEAD.
    #[sea_orm(primary_key, auto_increment = false)]
    pub field: String,
    /// The credential kind all fields of this connection share.
    pub kind: String,
    /// Versioned AEAD ciphertext naming its data key (see `crypto::envelope`).
    pub ciphertext: Vec<u8>,
    /// The data key of `ciphertext`, for counting and re-encryption.
    pub key_id: i32,
    /// Safe to show: at most the last four characters.
    pub mask: String,
    /// Bumped on every write, so a re-encryption never overwrites a newer value.
    pub revision: i64,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialSecret")
            .field("tenant_id", &self.tenant_id)
            .field("connection_id", &self.connection_id)
            .field("field", &self.field)
            .field("kind", &self.kind)
            .field("key_id", &self.key_id)
            .field("mask", &self.mask)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::connection::Entity",
        from = "Column::ConnectionId",
        to = "super::connection::Column::Id",
        on_delete = "Cascade"
    )]
    Connection,
}

impl Related<super::connection::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Connection.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
