//! Keyset pages of the tenants and of the operator keys: both lists are ordered by
//! `(created_at, id)`, and each page starts after the last row of the previous one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OperatorKeys {
    Table,
    Id,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_tenants_created")
                    .table(Tenants::Table)
                    .col(Tenants::CreatedAt)
                    .col(Tenants::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_operator_keys_created")
                    .table(OperatorKeys::Table)
                    .col(OperatorKeys::CreatedAt)
                    .col(OperatorKeys::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_operator_keys_created")
                    .table(OperatorKeys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_tenants_created")
                    .table(Tenants::Table)
                    .to_owned(),
            )
            .await
    }
}
