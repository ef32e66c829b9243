//! Moving every ciphertext to the active data key, in batches.
//!
//! Safe while the service writes: each row is rewritten only if its `revision` is still
//! the one that was read (compare-and-swap), so a credential replaced meanwhile keeps
//! its new value. Resumable: progress is the data itself (a row on the active key is
//! done), so an interrupted run is finished by running it again.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait, Value,
};
use uuid::Uuid;

use crate::crypto::{Binding, Keyring};
use crate::error::{Error, Result};
use crate::models::{TenantId, credential_secret};
use crate::repositories::{begin_write, key_usage};
use crate::tenancy::TenantScope;

/// A secret still under an older key, as read.
pub struct StaleSecret {
    key_id: i32,
    tenant_id: Uuid,
    connection_id: Uuid,
    field: String,
    ciphertext: Vec<u8>,
    revision: i64,
}

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
    after: Option<StaleSecret>,
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
            let rows = stale_in_tenant(&txn, tenant, target, self.after.as_ref(), room).await?;
            let full = rows.len() as u64 == room;
            if let Some(last) = rows.last() {
                self.after = Some(StaleSecret {
                    key_id: last.key_id,
                    tenant_id: last.tenant_id,
                    connection_id: last.connection_id,
                    field: last.field.clone(),
                    ciphertext: Vec::new(),
                    revision: 0,
                });
            }
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

/// Up to `limit` of the tenant's secrets under keys older than `target`, after `after`
/// in the order (connection, field): how a run steps past rows it could not
/// re-encrypt.
async fn stale_in_tenant<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    target: u32,
    after: Option<&StaleSecret>,
    limit: u64,
) -> Result<Vec<StaleSecret>> {
    let mut query = credential_secret::Entity::find()
        .filter(credential_secret::Column::TenantId.eq(tenant.as_uuid()))
        .filter(credential_secret::Column::KeyId.lt(target as i32));
    if let Some(a) = after {
        let columns = Expr::tuple([
            Expr::col(credential_secret::Column::ConnectionId),
            Expr::col(credential_secret::Column::Field),
        ]);
        let position = Expr::tuple([Expr::val(a.connection_id), Expr::val(a.field.clone())]);
        query = query.filter(columns.gt(position));
    }
    let scoped = db.enter(tenant, false).await?;
    let rows = query
        .order_by_asc(credential_secret::Column::ConnectionId)
        .order_by_asc(credential_secret::Column::Field)
        .limit(limit)
        .all(&scoped)
        .await?;
    scoped.finish().await?;
    Ok(rows
        .into_iter()
        .map(|r| StaleSecret {
            key_id: r.key_id,
            tenant_id: r.tenant_id,
            connection_id: r.connection_id,
            field: r.field,
            ciphertext: r.ciphertext,
            revision: r.revision,
        })
        .collect())
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
        updates.push((row, key_id, ciphertext));
    }
    if updates.is_empty() {
        return Ok(BatchOutcome {
            unreadable,
            ..Default::default()
        });
    }
    // Each row is rewritten, in its tenant's scope, only if its revision and its
    // ciphertext are still the ones read above (a credential deleted and stored again
    // may repeat a revision, never a ciphertext: every nonce is fresh).
    let total = updates.len() as u64;
    let mut done = 0;
    if db.get_database_backend() == DbBackend::Postgres {
        // One statement for the whole batch: the function scopes itself to each tenant.
        let row = db
            .query_one_raw(update_from_json(&updates))
            .await?
            .ok_or(Error::NotFound("re-encryption result"))?;
        done = u64::try_from(row.try_get::<i64>("", "n")?).unwrap_or(0);
    } else {
        let mut by_tenant: BTreeMap<Uuid, Vec<Update>> = BTreeMap::new();
        for update in updates {
            by_tenant
                .entry(update.0.tenant_id)
                .or_default()
                .push(update);
        }
        // One transaction for the batch, scoped to each tenant in turn.
        let txn = begin_write(db).await?;
        for (tenant, updates) in by_tenant {
            let scoped = txn.enter(TenantId::from_uuid(tenant), true).await?;
            done += scoped
                .execute_raw(update_from_values(DbBackend::Sqlite, &updates))
                .await?
                .rows_affected();
            scoped.finish().await?;
        }
        txn.commit().await?;
    }
    Ok(BatchOutcome {
        reencrypted: done,
        skipped: total - done,
        unreadable,
    })
}

/// A row as read, with its new key and ciphertext.
type Update = (StaleSecret, u32, Vec<u8>);

/// PostgreSQL: the batch travels as one JSON parameter to `connvault_reencrypt_rows`,
/// which writes each tenant's rows under that tenant's scope, in one statement.
fn update_from_json(updates: &[Update]) -> Statement {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let rows: Vec<serde_json::Value> = updates
        .iter()
        .map(|(row, key_id, ciphertext)| {
            serde_json::json!({
                "tenant_id": row.tenant_id,
                "connection_id": row.connection_id,
                "field": row.field,
                "revision": row.revision,
                "ciphertext": hex(ciphertext),
                "key_id": key_id,
                "old": hex(&row.ciphertext),
            })
        })
        .collect();
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT connvault_reencrypt_rows($1::json) AS n",
        [serde_json::Value::Array(rows).to_string().into()],
    )
}

/// SQLite: a `VALUES` list (its columns are named column1…).
fn update_from_values(backend: DbBackend, updates: &[Update]) -> Statement {
    let mut values: Vec<Value> = Vec::with_capacity(updates.len() * 7);
    let mut tuples = Vec::with_capacity(updates.len());
    for (row, key_id, ciphertext) in updates {
        tuples.push("(?, ?, ?, ?, ?, ?, ?)");
        values.push(row.tenant_id.into());
        values.push(row.connection_id.into());
        values.push(row.field.clone().into());
        values.push(row.revision.into());
        values.push(ciphertext.clone().into());
        values.push((*key_id as i32).into());
        values.push(row.ciphertext.clone().into());
    }
    let sql = format!(
        "UPDATE credential_secrets SET ciphertext = v.column5, key_id = v.column6, \
         revision = credential_secrets.revision + 1 \
         FROM (VALUES {}) AS v \
         WHERE credential_secrets.tenant_id = v.column1 \
         AND credential_secrets.connection_id = v.column2 \
         AND credential_secrets.field = v.column3 \
         AND credential_secrets.revision = v.column4 \
         AND credential_secrets.ciphertext = v.column7",
        tuples.join(", ")
    );
    Statement::from_sql_and_values(backend, sql, values)
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
    report.remaining = stale_count(db, target).await?;
    Ok(report)
}

/// How many secrets are under keys older than `target`.
pub async fn stale_count(db: &DatabaseConnection, target: u32) -> Result<u64> {
    key_usage::count_for_keys(db, |k| k < target).await
}
