//! Moving every ciphertext to the active data key, in batches.
//!
//! Safe while the service writes: each row is rewritten only if its `revision` is still
//! the one that was read (compare-and-swap), so a credential replaced meanwhile keeps
//! its new value. Resumable: progress is the data itself (a row on the active key is
//! done), so an interrupted run is finished by running it again.

use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use crate::crypto::{Binding, Keyring};
use crate::error::{Error, Result};
use crate::models::TenantId;
use crate::repositories::credential_secrets::{self, Reencrypted};
use crate::repositories::key_usage;

pub use crate::repositories::credential_secrets::StaleSecret;

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReencryptReport {
    /// Rows moved to the active key.
    pub reencrypted: u64,
    /// Rows changed by someone else between read and write; left as they were.
    pub skipped: u64,
    /// Rows that could not be decrypted, left under their old key (see the log).
    pub unreadable: u64,
    /// Rows still under an older key when the run stopped (unreadable ones included).
    pub remaining: u64,
}

/// The key a run moves rows to: the active one when it starts. Keys made during the run
/// (automatic rotation at the limit) are newer still, so rows under them count as done.
pub fn target_key(keyring: &Keyring) -> Result<u32> {
    keyring
        .active_key_id()
        .ok_or(Error::NotFound("active data key"))
}

/// The tenants that have secrets under keys older than `target`, by id.
async fn stale_tenants(db: &DatabaseConnection, target: u32) -> Result<Vec<TenantId>> {
    let mut tenants: Vec<TenantId> = key_usage::all(db)
        .await?
        .into_iter()
        .filter(|u| u.key_id < target)
        .map(|u| u.tenant)
        .collect();
    tenants.dedup();
    Ok(tenants)
}

/// Up to `limit` secrets under keys older than `target`, tenant by tenant.
pub async fn stale_batch(
    db: &DatabaseConnection,
    target: u32,
    limit: u64,
) -> Result<Vec<StaleSecret>> {
    let mut cursor = Cursor::new(stale_tenants(db, target).await?);
    cursor.next_batch(db, target, limit).await
}

/// Where a run is: the tenants with stale secrets, the one being worked on, and the
/// last row handed out in it. It only moves forward, so every row is visited once:
/// rows re-encrypted leave the stale set, rows changed meanwhile were rewritten under
/// a newer key by their writer, and unreadable rows are stepped past.
struct Cursor {
    tenants: Vec<TenantId>,
    index: usize,
    after: Option<(Uuid, String)>,
}

impl Cursor {
    fn new(tenants: Vec<TenantId>) -> Self {
        Self {
            tenants,
            index: 0,
            after: None,
        }
    }

    /// The next `limit` stale secrets, across as many tenants as it takes, read in one
    /// transaction that is scoped to each tenant in turn.
    async fn next_batch(
        &mut self,
        db: &DatabaseConnection,
        target: u32,
        limit: u64,
    ) -> Result<Vec<StaleSecret>> {
        let mut out: Vec<StaleSecret> = Vec::new();
        if self.index >= self.tenants.len() {
            return Ok(out);
        }
        let txn = db.begin().await?;
        while self.index < self.tenants.len() {
            let room = limit.saturating_sub(out.len() as u64);
            if room == 0 {
                break;
            }
            let tenant = self.tenants[self.index];
            let rows =
                credential_secrets::stale_in_tenant(&txn, tenant, target, self.after.take(), room)
                    .await?;
            let full = rows.len() as u64 == room;
            self.after = rows
                .last()
                .map(|last| (last.connection_id, last.field.clone()));
            out.extend(rows);
            if !full {
                self.index += 1;
                self.after = None;
            }
        }
        txn.commit().await?;
        Ok(out)
    }
}

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub reencrypted: u64,
    /// Changed by someone else between read and write; left as they were.
    pub skipped: u64,
    /// Could not be decrypted (tampered or corrupt); left as they were, named in the log.
    pub unreadable: u64,
}

/// Re-encrypts a batch and writes it in one statement, with compare-and-swap on each
/// row's revision and ciphertext.
pub async fn apply_batch(
    db: &DatabaseConnection,
    keyring: &Keyring,
    batch: Vec<StaleSecret>,
) -> Result<BatchOutcome> {
    if batch.len() as u64 > MAX_BATCH_SIZE {
        return Err(Error::invalid(
            "batch_size",
            format!("at most {MAX_BATCH_SIZE} rows per batch"),
        ));
    }
    // Encrypt first: the keyring may write, and SQLite allows one writer at a time.
    let mut updates = Vec::with_capacity(batch.len());
    let mut unreadable = 0;
    for row in batch {
        let binding = Binding {
            tenant: row.tenant_id,
            row: row.connection_id,
            field: &row.field,
        };
        let plain = match keyring.decrypt(binding, &row.ciphertext).await {
            Ok(plain) => plain,
            Err(Error::Decrypt | Error::MalformedCiphertext | Error::UnknownDataKey(_)) => {
                tracing::error!(
                    tenant_id = %row.tenant_id,
                    connection_id = %row.connection_id,
                    field = %row.field,
                    "cannot decrypt a stored secret; left under its old key"
                );
                unreadable += 1;
                continue;
            }
            Err(other) => return Err(other),
        };
        let (key_id, ciphertext) = keyring.encrypt(binding, &plain).await?;
        updates.push(Reencrypted {
            row,
            key_id,
            ciphertext,
        });
    }
    if updates.is_empty() {
        return Ok(BatchOutcome {
            unreadable,
            ..Default::default()
        });
    }
    let total = updates.len() as u64;
    let done = credential_secrets::reencrypt_rows(db, &updates).await?;
    Ok(BatchOutcome {
        reencrypted: done,
        skipped: total - done,
        unreadable,
    })
}

/// Re-encrypts every stale secret (or at most `max_rows`), `batch_size` at a time.
/// Largest batch: keeps one statement under both backends' bound-parameter limits.
pub const MAX_BATCH_SIZE: u64 = 1000;

pub async fn run(
    db: &DatabaseConnection,
    keyring: &Keyring,
    batch_size: u64,
    max_rows: Option<u64>,
) -> Result<ReencryptReport> {
    let batch_size = batch_size.clamp(1, MAX_BATCH_SIZE);
    let target = target_key(keyring)?;
    let mut report = ReencryptReport::default();
    // New secrets are written under the target key or a newer one, so the list of
    // tenants with stale secrets cannot grow meanwhile.
    let mut cursor = Cursor::new(stale_tenants(db, target).await?);
    loop {
        let processed = report.reencrypted + report.skipped + report.unreadable;
        let budget = match max_rows {
            Some(max) => max.saturating_sub(processed),
            None => batch_size,
        };
        if budget == 0 {
            break;
        }
        let batch = cursor
            .next_batch(db, target, Ord::min(budget, batch_size))
            .await?;
        if batch.is_empty() {
            break;
        }
        let outcome = apply_batch(db, keyring, batch).await?;
        report.reencrypted += outcome.reencrypted;
        report.skipped += outcome.skipped;
        report.unreadable += outcome.unreadable;
        tracing::info!(
            done = report.reencrypted,
            skipped = report.skipped,
            unreadable = report.unreadable,
            "re-encryption progress"
        );
    }
    // The OAuth apps' client secrets: a handful of global rows.
    let (apps, apps_unreadable) =
        crate::repositories::oauth_apps::reencrypt(db, keyring, target).await?;
    report.reencrypted += apps;
    report.unreadable += apps_unreadable;
    // The event endpoints' signing secrets.
    let (endpoints, endpoints_unreadable) =
        crate::repositories::events::endpoints::reencrypt(db, keyring, target).await?;
    report.reencrypted += endpoints;
    report.unreadable += endpoints_unreadable;
    report.remaining = stale_count(db, target).await?;
    Ok(report)
}

/// How many secrets are under keys older than `target`.
pub async fn stale_count(db: &DatabaseConnection, target: u32) -> Result<u64> {
    key_usage::count_for_keys(db, |k| k < target).await
}
