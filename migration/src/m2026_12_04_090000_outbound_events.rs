//! Outbound events (tenant-owned, forced row-level security on PostgreSQL):
//!
//! - `event_endpoints`: where the product wants events, a tenant's (`tenant_id` set)
//!   or deployment-wide (`tenant_id` NULL); the signing secret (and, for 24 h after a
//!   rotation, the previous one) as ciphertext;
//! - `events`: the outbox, one row per change, written in the change's transaction;
//!   `body` is the exact JSON sent, so every attempt signs the same bytes;
//! - `event_deliveries`: one per (event, endpoint), the retry ledger (status, attempts,
//!   next attempt, a lease token while a worker sends it);
//! - `event_attempts`: each attempt's status code, latency and error class.
//!
//! PostgreSQL: besides `tenant_isolation`, two policies read `connvault.event_scope`,
//! which only `repositories::events` sets, transaction-local: `deployment` shows and
//! writes the rows of no tenant (the operators' deployment-wide endpoints); `worker`
//! shows and writes every row of these four tables, for the delivery worker, which
//! fans events out to endpoints of their tenant and of the deployment and records
//! attempts across tenants.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventEndpoints {
    Table,
    Id,
    TenantId,
    Url,
    Description,
    EventTypes,
    Enabled,
    DisabledReason,
    SecretKeyId,
    SecretCiphertext,
    PreviousKeyId,
    PreviousCiphertext,
    PreviousExpiresAt,
    FailingSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    TenantId,
    EventType,
    Body,
    CreatedAt,
    DispatchedAt,
}

#[derive(DeriveIden)]
enum EventDeliveries {
    Table,
    Id,
    TenantId,
    EventId,
    EndpointId,
    EventType,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseToken,
    LastStatusCode,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EventAttempts {
    Table,
    Id,
    TenantId,
    DeliveryId,
    EndpointId,
    Attempt,
    AttemptedAt,
    StatusCode,
    LatencyMs,
    ErrorClass,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

/// Delivery statuses, checked by the database.
pub const DELIVERY_STATUSES: [&str; 3] = ["pending", "succeeded", "failed"];

/// The tables of this migration, all tenant-owned.
pub const EVENT_TABLES: [&str; 4] = [
    "event_endpoints",
    "events",
    "event_deliveries",
    "event_attempts",
];

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn tenant_fk(table: impl IntoIden, col: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventEndpoints::Table)
                    .col(
                        ColumnDef::new(EventEndpoints::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(EventEndpoints::TenantId).uuid().null())
                    .col(
                        ColumnDef::new(EventEndpoints::Url)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventEndpoints::Description)
                            .string_len(500)
                            .null(),
                    )
                    .col(ColumnDef::new(EventEndpoints::EventTypes).json().not_null())
                    .col(ColumnDef::new(EventEndpoints::Enabled).boolean().not_null())
                    .col(
                        ColumnDef::new(EventEndpoints::DisabledReason)
                            .string_len(32)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(EventEndpoints::SecretKeyId)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventEndpoints::SecretCiphertext)
                            .binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventEndpoints::PreviousKeyId)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(EventEndpoints::PreviousCiphertext)
                            .binary()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(EventEndpoints::PreviousExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(EventEndpoints::FailingSince)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(timestamp(EventEndpoints::CreatedAt))
                    .col(timestamp(EventEndpoints::UpdatedAt))
                    .foreign_key(&mut tenant_fk(
                        EventEndpoints::Table,
                        EventEndpoints::TenantId,
                        "fk_event_endpoints_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_event_endpoints_tenant_created")
                    .table(EventEndpoints::Table)
                    .col(EventEndpoints::TenantId)
                    .col(EventEndpoints::CreatedAt)
                    .col(EventEndpoints::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(ColumnDef::new(Events::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Events::TenantId).uuid().null())
                    .col(ColumnDef::new(Events::EventType).string_len(64).not_null())
                    .col(ColumnDef::new(Events::Body).text().not_null())
                    .col(timestamp(Events::CreatedAt))
                    .col(
                        ColumnDef::new(Events::DispatchedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut tenant_fk(
                        Events::Table,
                        Events::TenantId,
                        "fk_events_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        // The worker's fan-out (undispatched, oldest first) and the retention purge.
        manager
            .create_index(
                Index::create()
                    .name("ix_events_dispatched_created")
                    .table(Events::Table)
                    .col(Events::DispatchedAt)
                    .col(Events::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_events_created")
                    .table(Events::Table)
                    .col(Events::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EventDeliveries::Table)
                    .col(
                        ColumnDef::new(EventDeliveries::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(EventDeliveries::TenantId).uuid().null())
                    .col(ColumnDef::new(EventDeliveries::EventId).uuid().not_null())
                    .col(
                        ColumnDef::new(EventDeliveries::EndpointId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventDeliveries::EventType)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventDeliveries::Status)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(EventDeliveries::Status).is_in(DELIVERY_STATUSES)),
                    )
                    .col(
                        ColumnDef::new(EventDeliveries::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventDeliveries::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(EventDeliveries::LeaseToken).uuid().null())
                    .col(
                        ColumnDef::new(EventDeliveries::LastStatusCode)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(EventDeliveries::LastError)
                            .string_len(64)
                            .null(),
                    )
                    .col(timestamp(EventDeliveries::CreatedAt))
                    .col(timestamp(EventDeliveries::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_deliveries_event")
                            .from(EventDeliveries::Table, EventDeliveries::EventId)
                            .to(Events::Table, Events::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_deliveries_endpoint")
                            .from(EventDeliveries::Table, EventDeliveries::EndpointId)
                            .to(EventEndpoints::Table, EventEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut tenant_fk(
                        EventDeliveries::Table,
                        EventDeliveries::TenantId,
                        "fk_event_deliveries_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        // One delivery per (event, endpoint), however many workers fan out.
        manager
            .create_index(
                Index::create()
                    .name("ux_event_deliveries_event_endpoint")
                    .table(EventDeliveries::Table)
                    .col(EventDeliveries::EventId)
                    .col(EventDeliveries::EndpointId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The worker's due selection.
        manager
            .create_index(
                Index::create()
                    .name("ix_event_deliveries_due")
                    .table(EventDeliveries::Table)
                    .col(EventDeliveries::Status)
                    .col(EventDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // An endpoint's deliveries by keyset.
        manager
            .create_index(
                Index::create()
                    .name("ix_event_deliveries_endpoint_created")
                    .table(EventDeliveries::Table)
                    .col(EventDeliveries::EndpointId)
                    .col(EventDeliveries::CreatedAt)
                    .col(EventDeliveries::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EventAttempts::Table)
                    .col(
                        ColumnDef::new(EventAttempts::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(EventAttempts::TenantId).uuid().null())
                    .col(ColumnDef::new(EventAttempts::DeliveryId).uuid().not_null())
                    .col(ColumnDef::new(EventAttempts::EndpointId).uuid().not_null())
                    .col(ColumnDef::new(EventAttempts::Attempt).integer().not_null())
                    .col(timestamp(EventAttempts::AttemptedAt))
                    .col(ColumnDef::new(EventAttempts::StatusCode).integer().null())
                    .col(
                        ColumnDef::new(EventAttempts::LatencyMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EventAttempts::ErrorClass)
                            .string_len(32)
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_attempts_delivery")
                            .from(EventAttempts::Table, EventAttempts::DeliveryId)
                            .to(EventDeliveries::Table, EventDeliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut tenant_fk(
                        EventAttempts::Table,
                        EventAttempts::TenantId,
                        "fk_event_attempts_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_event_attempts_delivery")
                    .table(EventAttempts::Table)
                    .col(EventAttempts::DeliveryId)
                    .col(EventAttempts::Attempt)
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in EVENT_TABLES {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; \
                 ALTER TABLE {table} FORCE ROW LEVEL SECURITY; \
                 CREATE POLICY tenant_isolation ON {table} FOR ALL \
                 USING (tenant_id = connvault_current_tenant()) \
                 WITH CHECK (tenant_id = connvault_current_tenant()); \
                 CREATE POLICY event_deployment ON {table} FOR ALL \
                 USING (tenant_id IS NULL \
                        AND current_setting('connvault.event_scope', true) = 'deployment') \
                 WITH CHECK (tenant_id IS NULL \
                        AND current_setting('connvault.event_scope', true) = 'deployment'); \
                 CREATE POLICY event_worker ON {table} FOR ALL \
                 USING (current_setting('connvault.event_scope', true) = 'worker') \
                 WITH CHECK (current_setting('connvault.event_scope', true) = 'worker')"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            EventAttempts::Table.into_iden(),
            EventDeliveries::Table.into_iden(),
            Events::Table.into_iden(),
            EventEndpoints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
