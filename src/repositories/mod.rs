//! Tenant-scoped data access, one module per aggregate. Every function that reads or
//! writes a tenant's row takes its [`TenantId`](crate::models::TenantId) and puts it in
//! the `WHERE` clause: a wrong tenant finds nothing and changes nothing.
//!
//! Functions are generic over the connection so that callers can compose them inside
//! one transaction.

pub mod activity;
pub mod api_keys;
pub mod connect_sessions;
pub mod connections;
pub mod console_sessions;
pub mod credential_secrets;
pub mod epochs;
pub mod events;
pub mod health_checks;
pub mod key_usage;
pub mod oauth_apps;
pub mod operations;
pub mod page;
pub mod providers;
pub mod refresh_leases;
pub mod repository_connections;
pub mod tenants;
pub mod webhook_events;

pub use page::{Page, PageResult};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait};

/// The current time at the precision both backends store (microseconds), so that a
/// value read back compares equal to the value written.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (waiting out the busy timeout) instead of failing later when a read upgrades.
pub(crate) async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
