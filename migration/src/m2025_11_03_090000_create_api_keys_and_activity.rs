use sea_orm_migration::prelude::*;

use crate::m2025_11_01_102600_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Role,
    Name,
    Prefix,
    SecretHash,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ActivityLog {
    Table,
    Id,
    TenantId,
    ConnectionId,
    ProviderSlug,
    Action,
    ActorKeyId,
    ActorName,
    Details,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    TenantId,
    CreatedAt,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // API keys: only a hash of the secret is stored. No tenant = an operator key.
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(ColumnDef::new(ApiKeys::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ApiKeys::TenantId).uuid().null())
                    .col(
                        ColumnDef::new(ApiKeys::Role)
                            .string_len(16)
                            .not_null()
                            .check(
                                Expr::col(ApiKeys::Role)
                                    .is_in(["operator", "admin", "service", "viewer"]),
                            ),
                    )
                    .col(ColumnDef::new(ApiKeys::Name).string_len(200).not_null())
                    .col(ColumnDef::new(ApiKeys::Prefix).string_len(16).not_null())
                    .col(
                        ColumnDef::new(ApiKeys::SecretHash)
                            .binary_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiKeys::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_tenant")
                            .from(ApiKeys::Table, ApiKeys::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_api_keys_secret_hash")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::SecretHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_keys_tenant")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::TenantId)
                    .col(ApiKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;

        // The activity log: append-only, its own tenant id, no foreign key to the
        // connection so that it outlives it.
        manager
            .create_table(
                Table::create()
                    .table(ActivityLog::Table)
                    .col(
                        ColumnDef::new(ActivityLog::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ActivityLog::TenantId).uuid().not_null())
                    .col(ColumnDef::new(ActivityLog::ConnectionId).uuid().null())
                    .col(
                        ColumnDef::new(ActivityLog::ProviderSlug)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ActivityLog::Action)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ActivityLog::ActorKeyId).uuid().null())
                    .col(
                        ColumnDef::new(ActivityLog::ActorName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ActivityLog::Details)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ActivityLog::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_activity_log_tenant")
                            .from(ActivityLog::Table, ActivityLog::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_activity_log_tenant_created")
                    .table(ActivityLog::Table)
                    .col(ActivityLog::TenantId)
                    .col(ActivityLog::CreatedAt)
                    .col(ActivityLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_activity_log_tenant_connection_created")
                    .table(ActivityLog::Table)
                    .col(ActivityLog::TenantId)
                    .col(ActivityLog::ConnectionId)
                    .col(ActivityLog::CreatedAt)
                    .col(ActivityLog::Id)
                    .to_owned(),
            )
            .await?;
        // Listing a tenant's connections across providers.
        manager
            .create_index(
                Index::create()
                    .name("ix_connections_tenant_created")
                    .table(Connections::Table)
                    .col(Connections::TenantId)
                    .col(Connections::CreatedAt)
                    .col(Connections::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_connections_tenant_created")
                    .table(Connections::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ActivityLog::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}
