use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Providers {
    Table,
    Slug,
    DisplayName,
    AuthModes,
    AuthorizationUrl,
    TokenUrl,
    DefaultScopes,
    HealthCheck,
    DocsUrl,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Providers::Table)
                    .col(
                        ColumnDef::new(Providers::Slug)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Providers::DisplayName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Providers::AuthModes)
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Providers::AuthorizationUrl).text().null())
                    .col(ColumnDef::new(Providers::TokenUrl).text().null())
                    .col(
                        ColumnDef::new(Providers::DefaultScopes)
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Providers::HealthCheck).json_binary().null())
                    .col(ColumnDef::new(Providers::DocsUrl).text().null())
                    .col(ColumnDef::new(Providers::Metadata).json_binary().not_null())
                    .col(
                        ColumnDef::new(Providers::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Providers::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Providers::Table).to_owned())
            .await
    }
}
