use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum EncryptionKeys {
    Table,
    Id,
    State,
    WrappedKey,
    MasterKeyId,
    Encryptions,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Data keys, stored only wrapped by the master key (which never enters the
        // database). Retiring a key deletes its row; the foreign key from every
        // ciphertext makes that impossible while any ciphertext still uses it.
        manager
            .create_table(
                Table::create()
                    .table(EncryptionKeys::Table)
                    .col(
                        ColumnDef::new(EncryptionKeys::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(EncryptionKeys::State)
                            .string_len(16)
                            .not_null()
                            .check(
                                Expr::col(EncryptionKeys::State).is_in(["active", "decrypt_only"]),
                            ),
                    )
                    .col(ColumnDef::new(EncryptionKeys::WrappedKey).blob().not_null())
                    .col(
                        ColumnDef::new(EncryptionKeys::MasterKeyId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EncryptionKeys::Encryptions)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(EncryptionKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Exactly one key encrypts at a time, even when two processes rotate at once.
        manager
            .create_index(
                Index::create()
                    .name("ux_encryption_keys_one_active")
                    .table(EncryptionKeys::Table)
                    .col(EncryptionKeys::State)
                    .unique()
                    .and_where(Expr::col(EncryptionKeys::State).eq("active"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EncryptionKeys::Table).to_owned())
            .await
    }
}
