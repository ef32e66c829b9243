//! The web pages' state: `connect_sessions.allowed_providers` (a connect link that lets
//! the end user pick among several providers; `NULL` for a link of one provider), and
//! `console_session_revocations`, the console sessions ended by signing out: a signed
//! session cookie whose session id is listed is refused, so a copied cookie stops
//! working at sign-out. A row is kept until the session would have expired anyway.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConnectSessions {
    Table,
    AllowedProviders,
}

#[derive(DeriveIden)]
enum ConsoleSessionRevocations {
    Table,
    SessionId,
    RevokedAt,
    ExpiresAt,
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ConnectSessions::Table)
                    .add_column(
                        ColumnDef::new(ConnectSessions::AllowedProviders)
                            .json()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsoleSessionRevocations::Table)
                    .col(
                        ColumnDef::new(ConsoleSessionRevocations::SessionId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(timestamp(ConsoleSessionRevocations::RevokedAt))
                    .col(timestamp(ConsoleSessionRevocations::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_console_session_revocations_expires")
                    .table(ConsoleSessionRevocations::Table)
                    .col(ConsoleSessionRevocations::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ConsoleSessionRevocations::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ConnectSessions::Table)
                    .drop_column(ConnectSessions::AllowedProviders)
                    .to_owned(),
            )
            .await
    }
}
