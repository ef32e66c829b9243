use sea_orm_migration::prelude::*;

use crate::m2025_11_01_102600_create_tenants::Tenants;
use crate::m2025_11_01_102700_create_providers::Providers;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
    TenantId,
    ProviderSlug,
    ExternalId,
    DisplayName,
    Status,
    HealthStatus,
    IsDefault,
    ScopesGranted,
    AccessTokenCiphertext,
    RefreshTokenCiphertext,
    TokenExpiresAt,
    LastHealthCheckAt,
    LastErrorReasonCode,
    LastErrorMessage,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

const STATUSES: [&str; 6] = [
    "pending",
    "needs_consent",
    "active",
    "needs_reauth",
    "error",
    "revoked",
];
const HEALTH_STATUSES: [&str; 4] = ["unknown", "healthy", "degraded", "unhealthy"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Connections::Table)
                    .col(
                        ColumnDef::new(Connections::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Connections::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(Connections::ProviderSlug)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Connections::ExternalId)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Connections::DisplayName)
                            .string_len(200)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Connections::Status)
                            .string_len(32)
                            .not_null()
                            .default("pending")
                            .check(Expr::col(Connections::Status).is_in(STATUSES)),
                    )
                    .col(
                        ColumnDef::new(Connections::HealthStatus)
                            .string_len(32)
                            .not_null()
                            .default("unknown")
                            .check(Expr::col(Connections::HealthStatus).is_in(HEALTH_STATUSES)),
                    )
                    .col(
                        ColumnDef::new(Connections::IsDefault)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Connections::ScopesGranted)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Connections::AccessTokenCiphertext)
                            .blob()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Connections::RefreshTokenCiphertext)
                            .blob()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Connections::TokenExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Connections::LastHealthCheckAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Connections::LastErrorReasonCode)
                            .string_len(64)
                            .null(),
                    )
                    .col(ColumnDef::new(Connections::LastErrorMessage).text().null())
                    .col(
                        ColumnDef::new(Connections::Metadata)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Connections::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Connections::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_connections_tenant")
                            .from(Connections::Table, Connections::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_connections_provider")
                            .from(Connections::Table, Connections::ProviderSlug)
                            .to(Providers::Table, Providers::Slug)
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;

        // One authorization per external account, per tenant and provider.
        manager
            .create_index(
                Index::create()
                    .name("ux_connections_tenant_provider_external")
                    .table(Connections::Table)
                    .col(Connections::TenantId)
                    .col(Connections::ProviderSlug)
                    .col(Connections::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // The target of composite foreign keys from tenant-owned child rows, so that a
        // child can never name one tenant and point at another tenant's connection.
        manager
            .create_index(
                Index::create()
                    .name("ux_connections_tenant_id")
                    .table(Connections::Table)
                    .col(Connections::TenantId)
                    .col(Connections::Id)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // At most one default per (tenant, provider): a partial unique index.
        manager
            .create_index(
                Index::create()
                    .name("ux_connections_one_default")
                    .table(Connections::Table)
                    .col(Connections::TenantId)
                    .col(Connections::ProviderSlug)
                    .unique()
                    .and_where(Expr::col(Connections::IsDefault).eq(true))
                    .to_owned(),
            )
            .await?;

        // Keyset pagination of a tenant's connections for one provider is a range scan here.
        manager
            .create_index(
                Index::create()
                    .name("ix_connections_tenant_provider_created")
                    .table(Connections::Table)
                    .col(Connections::TenantId)
                    .col(Connections::ProviderSlug)
                    .col(Connections::CreatedAt)
                    .col(Connections::Id)
                    .to_owned(),
            )
            .await?;

        // Backs the provider foreign key (a catalog change must not scan every connection).
        manager
            .create_index(
                Index::create()
                    .name("ix_connections_provider")
                    .table(Connections::Table)
                    .col(Connections::ProviderSlug)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Connections::Table).to_owned())
            .await
    }
}
