use sea_orm_migration::prelude::*;

use crate::m2025_11_01_102600_create_tenants::Tenants;
use crate::m2025_11_02_090000_create_encryption_keys::EncryptionKeys;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CredentialSecrets {
    Table,
    TenantId,
    ConnectionId,
    Field,
    Kind,
    Ciphertext,
    KeyId,
    Mask,
    Revision,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
    TenantId,
    AccessTokenCiphertext,
    RefreshTokenCiphertext,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per secret field of a connection's credential, as AEAD ciphertext bound
        // to (tenant, connection, field), with a display mask beside it.
        manager
            .create_table(
                Table::create()
                    .table(CredentialSecrets::Table)
                    .col(
                        ColumnDef::new(CredentialSecrets::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialSecrets::ConnectionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialSecrets::Field)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialSecrets::Kind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialSecrets::Ciphertext)
                            .blob()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialSecrets::KeyId)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialSecrets::Mask)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialSecrets::Revision)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .col(
                        ColumnDef::new(CredentialSecrets::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CredentialSecrets::TenantId)
                            .col(CredentialSecrets::ConnectionId)
                            .col(CredentialSecrets::Field),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_credential_secrets_tenant")
                            .from(CredentialSecrets::Table, CredentialSecrets::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_credential_secrets_connection")
                            .from(
                                CredentialSecrets::Table,
                                (CredentialSecrets::TenantId, CredentialSecrets::ConnectionId),
                            )
                            .to(Connections::Table, (Connections::TenantId, Connections::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_credential_secrets_key")
                            .from(CredentialSecrets::Table, CredentialSecrets::KeyId)
                            .to(EncryptionKeys::Table, EncryptionKeys::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // Counting a key's ciphertexts, and walking the rows to re-encrypt in order.
        manager
            .create_index(
                Index::create()
                    .name("ix_credential_secrets_key")
                    .table(CredentialSecrets::Table)
                    .col(CredentialSecrets::KeyId)
                    .col(CredentialSecrets::TenantId)
                    .col(CredentialSecrets::ConnectionId)
                    .col(CredentialSecrets::Field)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_credential_secrets_connection")
                    .table(CredentialSecrets::Table)
                    .col(CredentialSecrets::ConnectionId)
                    .to_owned(),
            )
            .await?;
        // The placeholder token columns of the first schema are superseded.
        for column in [
            Connections::AccessTokenCiphertext,
            Connections::RefreshTokenCiphertext,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Connections::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Connections::AccessTokenCiphertext,
            Connections::RefreshTokenCiphertext,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Connections::Table)
                        .add_column(ColumnDef::new(column).blob().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(CredentialSecrets::Table).to_owned())
            .await
    }
}
