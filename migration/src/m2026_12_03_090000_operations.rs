//! Provider-backed operations: the operators' registry of operation types (global) and
//! the tenants' operation runs (tenant-owned, forced row-level security on PostgreSQL).
//!
//! A run always exists once a start was asked for: it is `queued` when its connection
//! is usable, or `completed`/`blocked` with a reason code and link-only next steps when
//! it is not. At most one identical run of a deduplicating type is active (queued or
//! running) at a time: a partial unique index decides, so concurrent starts cannot
//! both insert.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OperationTypes {
    Table,
    OperationType,
    ProviderSlug,
    RequiredScopes,
    Module,
    MaxAttempts,
    HeartbeatTimeoutSeconds,
    Dedupe,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OperationRuns {
    Table,
    Id,
    TenantId,
    OperationType,
    ConnectionId,
    Status,
    Outcome,
    Context,
    DedupeKey,
    SummaryCounts,
    FailureSummary,
    ReasonCode,
    NextSteps,
    Attempt,
    MaxAttempts,
    HeartbeatTimeoutSeconds,
    ClaimTokenHash,
    ClaimedBy,
    ActorKeyId,
    ActorName,
    StartedAt,
    CompletedAt,
    HeartbeatAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Slug,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

/// `operation_runs.status`.
pub const RUN_STATUSES: [&str; 3] = ["queued", "running", "completed"];
/// `operation_runs.outcome`.
pub const RUN_OUTCOMES: [&str; 6] = [
    "pending",
    "succeeded",
    "partially_succeeded",
    "failed",
    "cancelled",
    "blocked",
];
/// The statuses of an active run: the ones deduplication looks at.
pub const ACTIVE_STATUSES: [&str; 2] = ["queued", "running"];

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn nullable_timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OperationTypes::Table)
                    .col(
                        ColumnDef::new(OperationTypes::OperationType)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OperationTypes::ProviderSlug)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OperationTypes::RequiredScopes)
                            .json()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OperationTypes::Module)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OperationTypes::MaxAttempts)
                            .integer()
                            .not_null()
                            .check(Expr::col(OperationTypes::MaxAttempts).between(1, 100)),
                    )
                    .col(
                        ColumnDef::new(OperationTypes::HeartbeatTimeoutSeconds)
                            .integer()
                            .not_null()
                            .check(
                                Expr::col(OperationTypes::HeartbeatTimeoutSeconds)
                                    .between(5, 86_400),
                            ),
                    )
                    .col(ColumnDef::new(OperationTypes::Dedupe).boolean().not_null())
                    .col(timestamp(OperationTypes::CreatedAt))
                    .col(timestamp(OperationTypes::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_operation_types_provider")
                            .from(OperationTypes::Table, OperationTypes::ProviderSlug)
                            .to(Providers::Table, Providers::Slug)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_operation_types_provider")
                    .table(OperationTypes::Table)
                    .col(OperationTypes::ProviderSlug)
                    .to_owned(),
            )
            .await?;

        // A run keeps its type's name and limits as they were when it started: the
        // registry may change or lose the type later without touching history.
        manager
            .create_table(
                Table::create()
                    .table(OperationRuns::Table)
                    .col(
                        ColumnDef::new(OperationRuns::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OperationRuns::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(OperationRuns::OperationType)
                            .string_len(64)
                            .not_null(),
                    )
                    // No foreign key: a run outlives the connection it was gated on.
                    .col(ColumnDef::new(OperationRuns::ConnectionId).uuid().null())
                    .col(
                        ColumnDef::new(OperationRuns::Status)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(OperationRuns::Status).is_in(RUN_STATUSES)),
                    )
                    .col(
                        ColumnDef::new(OperationRuns::Outcome)
                            .string_len(32)
                            .not_null()
                            .check(Expr::col(OperationRuns::Outcome).is_in(RUN_OUTCOMES)),
                    )
                    .col(ColumnDef::new(OperationRuns::Context).json().not_null())
                    // SHA-256 (hex) of the run's identity for deduplication; NULL when
                    // its type does not deduplicate.
                    .col(
                        ColumnDef::new(OperationRuns::DedupeKey)
                            .string_len(64)
                            .null(),
                    )
                    .col(ColumnDef::new(OperationRuns::SummaryCounts).json().null())
                    .col(ColumnDef::new(OperationRuns::FailureSummary).json().null())
                    .col(
                        ColumnDef::new(OperationRuns::ReasonCode)
                            .string_len(64)
                            .null(),
                    )
                    .col(ColumnDef::new(OperationRuns::NextSteps).json().null())
                    .col(
                        ColumnDef::new(OperationRuns::Attempt)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(OperationRuns::MaxAttempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OperationRuns::HeartbeatTimeoutSeconds)
                            .integer()
                            .not_null(),
                    )
                    // SHA-256 of the current claim's token; the token itself is only
                    // ever in the claiming worker's hands.
                    .col(
                        ColumnDef::new(OperationRuns::ClaimTokenHash)
                            .binary_len(32)
                            .null(),
                    )
                    .col(ColumnDef::new(OperationRuns::ClaimedBy).uuid().null())
                    .col(ColumnDef::new(OperationRuns::ActorKeyId).uuid().null())
                    .col(
                        ColumnDef::new(OperationRuns::ActorName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(nullable_timestamp(OperationRuns::StartedAt))
                    .col(nullable_timestamp(OperationRuns::CompletedAt))
                    .col(nullable_timestamp(OperationRuns::HeartbeatAt))
                    .col(timestamp(OperationRuns::CreatedAt))
                    .col(timestamp(OperationRuns::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_operation_runs_tenant")
                            .from(OperationRuns::Table, OperationRuns::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // One active run per identity of a deduplicating type.
        manager
            .create_index(
                Index::create()
                    .name("ux_operation_runs_active_dedupe")
                    .table(OperationRuns::Table)
                    .col(OperationRuns::TenantId)
                    .col(OperationRuns::DedupeKey)
                    .unique()
                    .and_where(Expr::col(OperationRuns::DedupeKey).is_not_null())
                    .and_where(Expr::col(OperationRuns::Status).is_in(ACTIVE_STATUSES))
                    .to_owned(),
            )
            .await?;
        // A tenant's runs, newest first, by keyset.
        manager
            .create_index(
                Index::create()
                    .name("ix_operation_runs_tenant_created")
                    .table(OperationRuns::Table)
                    .col(OperationRuns::TenantId)
                    .col(OperationRuns::CreatedAt)
                    .col(OperationRuns::Id)
                    .to_owned(),
            )
            .await?;
        // The queue: queued runs, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_operation_runs_queued")
                    .table(OperationRuns::Table)
                    .col(OperationRuns::CreatedAt)
                    .col(OperationRuns::Id)
                    .and_where(Expr::col(OperationRuns::Status).eq("queued"))
                    .to_owned(),
            )
            .await?;
        // Rescue: running runs by heartbeat.
        manager
            .create_index(
                Index::create()
                    .name("ix_operation_runs_running_heartbeat")
                    .table(OperationRuns::Table)
                    .col(OperationRuns::HeartbeatAt)
                    .and_where(Expr::col(OperationRuns::Status).eq("running"))
                    .to_owned(),
            )
            .await?;
        // A claim is found by its token.
        manager
            .create_index(
                Index::create()
                    .name("ux_operation_runs_claim_token")
                    .table(OperationRuns::Table)
                    .col(OperationRuns::ClaimTokenHash)
                    .unique()
                    .and_where(Expr::col(OperationRuns::ClaimTokenHash).is_not_null())
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE operation_runs ENABLE ROW LEVEL SECURITY; \
                 ALTER TABLE operation_runs FORCE ROW LEVEL SECURITY; \
                 CREATE POLICY tenant_isolation ON operation_runs FOR ALL \
                 USING (tenant_id = connvault_current_tenant()) \
                 WITH CHECK (tenant_id = connvault_current_tenant())",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OperationRuns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OperationTypes::Table).to_owned())
            .await
    }
}
