//! Who manages a provider's catalog entry: `catalog` (the built-in catalog, which
//! seeding keeps up to date) or `operator` (set through the API; seeding leaves it).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Providers {
    Table,
    ManagedBy,
}

/// The values `providers.managed_by` takes.
pub const OWNERS: [&str; 2] = ["catalog", "operator"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Providers::Table)
                    .add_column(
                        ColumnDef::new(Providers::ManagedBy)
                            .string_len(16)
                            .not_null()
                            .default("catalog")
                            .check(Expr::col(Providers::ManagedBy).is_in(OWNERS)),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Providers::Table)
                    .drop_column(Providers::ManagedBy)
                    .to_owned(),
            )
            .await
    }
}
