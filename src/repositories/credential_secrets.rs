//! The ciphertext rows of connections' credentials: one row per secret field, all of a
//! connection's rows replaced together under a new revision. Nothing here decrypts or
//! encrypts; `services::credentials` seals and opens what these functions move.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Set, Statement, Value,
};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::models::connection::ConnectionStatus;
use crate::models::{ConnectionId, TenantId, connection, credential_secret};
use crate::tenancy::{self, TenantScope};

/// One sealed field to store.
pub struct SealedRow {
    pub field: &'static str,
    pub key_id: u32,
    pub ciphertext: Vec<u8>,
    pub mask: String,
}

/// Replaces the connection's secret rows with `rows` of credential kind `kind`, inside
/// the caller's transaction when given one. Returns the time written. `NotFound` when
/// the tenant has no such connection.
pub async fn replace<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection_id: ConnectionId,
    kind: &str,
    rows: Vec<SealedRow>,
) -> Result<DateTime<Utc>> {
    tenancy::write(db, tenant, async |db| {
        // Locking the connection row serializes concurrent replacements of its
        // credential (PostgreSQL; SQLite's write transaction is exclusive already).
        let exists = connection::Entity::find()
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.eq(connection_id.as_uuid()))
            .lock_exclusive()
            .one(db)
            .await?
            .is_some();
        if !exists {
            return Err(Error::NotFound("connection"));
        }
        let previous: Option<i64> = scoped(tenant, connection_id)
            .select_only()
            .column_as(credential_secret::Column::Revision.max(), "rev")
            .into_tuple()
            .one(db)
            .await?
            .flatten();
        let revision = previous.unwrap_or(0) + 1;
        credential_secret::Entity::delete_many()
            .filter(credential_secret::Column::TenantId.eq(tenant.as_uuid()))
            .filter(credential_secret::Column::ConnectionId.eq(connection_id.as_uuid()))
            .exec(db)
            .await?;
        let now = super::now();
        let rows = rows.into_iter().map(|f| credential_secret::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            connection_id: Set(connection_id.as_uuid()),
            field: Set(f.field.to_owned()),
            kind: Set(kind.to_owned()),
            ciphertext: Set(f.ciphertext),
            key_id: Set(f.key_id as i32),
            mask: Set(f.mask),
            revision: Set(revision),
            updated_at: Set(now),
        });
        credential_secret::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
        Ok(now)
    })
    .await
}

fn scoped(
    tenant: TenantId,
    connection: ConnectionId,
) -> sea_orm::Select<credential_secret::Entity> {
    credential_secret::Entity::find()
        .filter(credential_secret::Column::TenantId.eq(tenant.as_uuid()))
        .filter(credential_secret::Column::ConnectionId.eq(connection.as_uuid()))
}

/// A secret row of the credential read, with what its connection row says.
#[derive(Clone)]
pub struct SecretRow {
    pub field: String,
    pub kind: String,
    pub ciphertext: Vec<u8>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub status: ConnectionStatus,
    pub reason_code: Option<String>,
    pub provider: String,
}

/// The connection's secret rows and its token expiry, status, last reason code and
/// provider, in one statement and no write: on PostgreSQL `connvault_read_credentials`,
/// which scopes its own implicit transaction to the tenant and reads under row-level
/// security; on SQLite a primary-key range of `credential_secrets` joined to its
/// connection row.
pub async fn read<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<Vec<SecretRow>> {
    tenancy::check_bound(db, tenant)?;
    if db.get_database_backend() == DbBackend::Postgres {
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT o_field, o_kind, o_ciphertext, o_token_expires_at, o_status, o_reason, \
             o_provider FROM connvault_read_credentials($1, $2)",
            [tenant.as_uuid().into(), connection.as_uuid().into()],
        );
        let rows = db.query_all_raw(stmt).await?;
        return rows
            .iter()
            .map(|r| {
                let status: String = r.try_get("", "o_status")?;
                Ok(SecretRow {
                    field: r.try_get("", "o_field")?,
                    kind: r.try_get("", "o_kind")?,
                    ciphertext: r.try_get("", "o_ciphertext")?,
                    token_expires_at: r.try_get("", "o_token_expires_at")?,
                    status: ConnectionStatus::try_from_value(&status)?,
                    reason_code: r.try_get("", "o_reason")?,
                    provider: r.try_get("", "o_provider")?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(Into::into);
    }
    type Row = (
        String,
        String,
        Vec<u8>,
        Option<DateTime<Utc>>,
        ConnectionStatus,
        Option<String>,
        String,
    );
    let query = scoped(tenant, connection)
        .join(
            sea_orm::JoinType::InnerJoin,
            credential_secret::Relation::Connection.def(),
        )
        .select_only()
        .column(credential_secret::Column::Field)
        .column(credential_secret::Column::Kind)
        .column(credential_secret::Column::Ciphertext)
        .column(connection::Column::TokenExpiresAt)
        .column(connection::Column::Status)
        .column(connection::Column::LastErrorReasonCode)
        .column(connection::Column::ProviderSlug)
        .into_tuple::<Row>();
    let rows = tenancy::read(db, tenant, async |db| query.all(db).await).await?;
    Ok(rows
        .into_iter()
        .map(
            |(field, kind, ciphertext, token_expires_at, status, reason_code, provider)| {
                SecretRow {
                    field,
                    kind,
                    ciphertext,
                    token_expires_at,
                    status,
                    reason_code,
                    provider,
                }
            },
        )
        .collect())
}

/// What may be shown of one stored field.
pub struct MaskRow {
    pub connection_id: Uuid,
    pub field: String,
    pub kind: String,
    pub mask: String,
    pub updated_at: DateTime<Utc>,
}

/// The masks of the given connections' fields, in one query; no ciphertext is read.
pub async fn masks<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connections: &[Uuid],
) -> Result<Vec<MaskRow>> {
    if connections.is_empty() {
        return Ok(Vec::new());
    }
    let query = credential_secret::Entity::find()
        .filter(credential_secret::Column::TenantId.eq(tenant.as_uuid()))
        .filter(credential_secret::Column::ConnectionId.is_in(connections.iter().copied()))
        .select_only()
        .column(credential_secret::Column::ConnectionId)
        .column(credential_secret::Column::Field)
        .column(credential_secret::Column::Kind)
        .column(credential_secret::Column::Mask)
        .column(credential_secret::Column::UpdatedAt)
        .into_tuple::<(Uuid, String, String, String, DateTime<Utc>)>();
    let rows = tenancy::read(db, tenant, async |db| query.all(db).await).await?;
    Ok(rows
        .into_iter()
        .map(|(connection_id, field, kind, mask, updated_at)| MaskRow {
            connection_id,
            field,
            kind,
            mask,
            updated_at,
        })
        .collect())
}

/// Destroys the connection's secret rows; returns how many were deleted.
pub async fn delete<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<u64> {
    let delete = credential_secret::Entity::delete_many()
        .filter(credential_secret::Column::TenantId.eq(tenant.as_uuid()))
        .filter(credential_secret::Column::ConnectionId.eq(connection.as_uuid()));
    let result = tenancy::write(db, tenant, async |db| delete.exec(db).await).await?;
    Ok(result.rows_affected)
}

/// A secret still under an older key, as read by re-encryption.
pub struct StaleSecret {
    pub key_id: i32,
    pub tenant_id: Uuid,
    pub connection_id: Uuid,
    pub field: String,
    pub ciphertext: Vec<u8>,
    pub revision: i64,
}

/// Up to `limit` of the tenant's secrets under keys older than `target`, after the
/// position `after` (connection, field) in that order.
pub async fn stale_in_tenant<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    target: u32,
    after: Option<(Uuid, String)>,
    limit: u64,
) -> Result<Vec<StaleSecret>> {
    let mut query = credential_secret::Entity::find()
        .filter(credential_secret::Column::TenantId.eq(tenant.as_uuid()))
        .filter(credential_secret::Column::KeyId.lt(target as i32));
    if let Some((connection_id, field)) = after {
        let columns = Expr::tuple([
            Expr::col(credential_secret::Column::ConnectionId),
            Expr::col(credential_secret::Column::Field),
        ]);
        let position = Expr::tuple([Expr::val(connection_id), Expr::val(field)]);
        query = query.filter(columns.gt(position));
    }
    let query = query
        .order_by_asc(credential_secret::Column::ConnectionId)
        .order_by_asc(credential_secret::Column::Field)
        .limit(limit);
    let rows = tenancy::read(db, tenant, async |db| query.all(db).await).await?;
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

/// A stale row as read, with its new key and ciphertext.
pub struct Reencrypted {
    pub row: StaleSecret,
    pub key_id: u32,
    pub ciphertext: Vec<u8>,
}

/// Writes re-encrypted rows, each in its tenant's scope and only if its revision and
/// ciphertext are still the ones read (a credential deleted and stored again may
/// repeat a revision, never a ciphertext: every nonce is fresh). Returns how many
/// were written. On PostgreSQL one statement for the whole batch
/// (`connvault_reencrypt_rows`); on SQLite one statement per tenant in one transaction.
pub async fn reencrypt_rows(db: &DatabaseConnection, updates: &[Reencrypted]) -> Result<u64> {
    if db.get_database_backend() == DbBackend::Postgres {
        let row = db
            .query_one_raw(update_from_json(updates))
            .await?
            .ok_or(Error::NotFound("re-encryption result"))?;
        return Ok(u64::try_from(row.try_get::<i64>("", "n")?).unwrap_or(0));
    }
    let mut by_tenant: BTreeMap<Uuid, Vec<&Reencrypted>> = BTreeMap::new();
    for update in updates {
        by_tenant
            .entry(update.row.tenant_id)
            .or_default()
            .push(update);
    }
    let txn = super::begin_write(db).await?;
    let mut done = 0;
    for (tenant, updates) in by_tenant {
        let stmt = update_from_values(DbBackend::Sqlite, &updates);
        done += tenancy::write(&txn, TenantId::from_uuid(tenant), async |db| {
            db.execute_raw(stmt).await
        })
        .await?
        .rows_affected();
    }
    txn.commit().await?;
    Ok(done)
}

/// PostgreSQL: the batch travels as one JSON parameter to `connvault_reencrypt_rows`,
/// which writes each tenant's rows under that tenant's scope, in one statement.
fn update_from_json(updates: &[Reencrypted]) -> Statement {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let rows: Vec<serde_json::Value> = updates
        .iter()
        .map(|u| {
            serde_json::json!({
                "tenant_id": u.row.tenant_id,
                "connection_id": u.row.connection_id,
                "field": u.row.field,
                "revision": u.row.revision,
                "ciphertext": hex(&u.ciphertext),
                "key_id": u.key_id,
                "old": hex(&u.row.ciphertext),
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
fn update_from_values(backend: DbBackend, updates: &[&Reencrypted]) -> Statement {
    let mut values: Vec<Value> = Vec::with_capacity(updates.len() * 7);
    let mut tuples = Vec::with_capacity(updates.len());
    for u in updates {
        tuples.push("(?, ?, ?, ?, ?, ?, ?)");
        values.push(u.row.tenant_id.into());
        values.push(u.row.connection_id.into());
        values.push(u.row.field.clone().into());
        values.push(u.row.revision.into());
        values.push(u.ciphertext.clone().into());
        values.push((u.key_id as i32).into());
        values.push(u.row.ciphertext.clone().into());
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
