//! connvault's schema, written once with SeaQuery for SQLite and PostgreSQL.
//! Migrations hold structure only: the provider catalog is data, seeded by the service.

pub use sea_orm_migration::prelude::*;

mod m2025_11_01_102600_create_tenants;
mod m2025_11_01_102700_create_providers;
mod m2025_11_01_102800_create_connections;
mod m2025_11_02_090000_create_encryption_keys;
mod m2025_11_02_090100_create_credential_secrets;
mod m2025_11_03_090000_create_api_keys_and_activity;
mod m2025_11_04_090000_tenant_isolation;
mod m2025_11_05_090000_oauth;
mod m2025_12_01_090000_refresh_margins;
mod m2025_12_10_090000_list_indexes;
mod m2026_12_02_090000_applied_migrations;
mod m2026_12_02_100000_provider_ownership;
mod m2026_12_03_090000_operations;
mod m2026_12_03_091000_operation_workers;
mod m2026_12_03_092000_operation_type_in_use;
mod m2026_12_03_100000_health_checks;
mod m2026_12_03_120000_repositories_and_webhook_events;
mod m2026_12_03_140000_api_key_epoch;
mod m2026_12_04_090000_outbound_events;
mod m2026_12_05_090000_credential_epoch;
mod m2026_12_05_100000_web_sessions;
mod m2026_12_05_110000_api_key_epoch_at_commit;

/// The tenant-owned tables: each has a `tenant_id` and, on PostgreSQL, forced
/// row-level security. Every later tenant table belongs here too.
pub const TENANT_TABLES: [&str; 12] = [
    "connections",
    "credential_secrets",
    "activity_log",
    "api_keys",
    "connect_sessions",
    "operation_runs",
    "repository_connections",
    "webhook_events",
    "event_endpoints",
    "events",
    "event_deliveries",
    "event_attempts",
];

/// Outbound event delivery statuses, checked by the database.
pub use m2026_12_04_090000_outbound_events::DELIVERY_STATUSES;

/// Operation-run statuses and outcomes, checked by the database.
pub use m2026_12_03_090000_operations::{RUN_OUTCOMES, RUN_STATUSES};

/// The rescuer's selection of stale runs on SQLite, beside the PostgreSQL function
/// `connvault_stale_runs` it mirrors.
pub use m2026_12_03_091000_operation_workers::STALE_RUNS_SQLITE;

/// The channel on which PostgreSQL announces a changed API or operator key.
pub use m2026_12_03_140000_api_key_epoch::API_KEYS_CHANNEL;

/// The channel on which PostgreSQL announces a change to what a connection's
/// credential read returns.
pub use m2026_12_05_090000_credential_epoch::CREDENTIALS_CHANNEL;

/// Connect-session statuses, checked by the database.
pub use m2025_11_05_090000_oauth::SESSION_STATUSES;

/// The background refresher's selection on SQLite, beside the PostgreSQL function
/// `connvault_due_refreshes` it mirrors.
pub use m2025_12_01_090000_refresh_margins::DUE_REFRESHES_SQLITE;

/// The scheduled health checks' selection and the count of connections by health on
/// SQLite, beside the PostgreSQL functions they mirror.
pub use m2026_12_03_100000_health_checks::{
    CONNECTIONS_BY_HEALTH_SQLITE, DUE_HEALTH_CHECKS_SQLITE,
};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m2025_11_01_102600_create_tenants::Migration),
            Box::new(m2025_11_01_102700_create_providers::Migration),
            Box::new(m2025_11_01_102800_create_connections::Migration),
            Box::new(m2025_11_02_090000_create_encryption_keys::Migration),
            Box::new(m2025_11_02_090100_create_credential_secrets::Migration),
            Box::new(m2025_11_03_090000_create_api_keys_and_activity::Migration),
            Box::new(m2025_11_04_090000_tenant_isolation::Migration),
            Box::new(m2025_11_05_090000_oauth::Migration),
            Box::new(m2025_12_01_090000_refresh_margins::Migration),
            Box::new(m2025_12_10_090000_list_indexes::Migration),
            Box::new(m2026_12_02_090000_applied_migrations::Migration),
            Box::new(m2026_12_02_100000_provider_ownership::Migration),
            Box::new(m2026_12_03_090000_operations::Migration),
            Box::new(m2026_12_03_091000_operation_workers::Migration),
            Box::new(m2026_12_03_092000_operation_type_in_use::Migration),
            Box::new(m2026_12_03_100000_health_checks::Migration),
            Box::new(m2026_12_03_120000_repositories_and_webhook_events::Migration),
            Box::new(m2026_12_03_140000_api_key_epoch::Migration),
            Box::new(m2026_12_04_090000_outbound_events::Migration),
            Box::new(m2026_12_05_090000_credential_epoch::Migration),
            Box::new(m2026_12_05_100000_web_sessions::Migration),
            Box::new(m2026_12_05_110000_api_key_epoch_at_commit::Migration),
        ]
    }
}
