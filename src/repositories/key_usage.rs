//! How many ciphertexts each tenant has under each data key: what key status,
//! retirement and re-encryption need to know across tenants. On PostgreSQL this is the
//! operators' narrow path through row-level security: a function counts one tenant at a
//! time under the policy, and only counts come out.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QuerySelect, Statement, TransactionTrait,
};

use crate::error::Result;
use crate::models::{TenantId, oauth_app};

/// Ciphertexts of one tenant under one data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUsage {
    pub tenant: TenantId,
    pub key_id: u32,
    pub ciphertexts: u64,
}

/// Every (tenant, key) pair with at least one ciphertext, by tenant id.
pub async fn all<C: ConnectionTrait>(db: &C) -> Result<Vec<KeyUsage>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT o_tenant_id, o_key_id, o_count FROM connvault_key_usage() \
             ORDER BY o_tenant_id, o_key_id"
        }
        _ => {
            "SELECT o_tenant_id, o_key_id, COUNT(*) AS o_count FROM ( \
               SELECT tenant_id AS o_tenant_id, key_id AS o_key_id FROM credential_secrets \
               UNION ALL \
               SELECT tenant_id, verifier_key_id FROM connect_sessions \
               WHERE verifier_key_id IS NOT NULL) \
             GROUP BY o_tenant_id, o_key_id ORDER BY o_tenant_id, o_key_id"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let tenant: uuid::Uuid = row.try_get("", "o_tenant_id")?;
        let key_id: i32 = row.try_get("", "o_key_id")?;
        let count: i64 = row.try_get("", "o_count")?;
        out.push(KeyUsage {
            tenant: TenantId::from_uuid(tenant),
            key_id: u32::try_from(key_id).unwrap_or(0),
            ciphertexts: u64::try_from(count).unwrap_or(0),
        });
    }
    Ok(out)
}

/// Ciphertexts outside `credential_secrets` and connect sessions: the OAuth apps'
/// client secrets (no tenant) and the event endpoints' signing secrets (a tenant's or
/// the deployment's), per key.
pub async fn global<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<Vec<(u32, u64)>> {
    let rows: Vec<(i32, i64)> = oauth_app::Entity::find()
        .select_only()
        .column(oauth_app::Column::SecretKeyId)
        .column_as(oauth_app::Column::Id.count(), "n")
        .group_by(oauth_app::Column::SecretKeyId)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: Vec<(u32, u64)> = rows
        .into_iter()
        .map(|(k, n)| (u32::try_from(k).unwrap_or(0), u64::try_from(n).unwrap_or(0)))
        .collect();
    out.extend(super::events::key_usage(db).await?);
    Ok(out)
}

/// Ciphertexts under the keys `keys` accepts, all tenants and the global ones
/// together.
pub async fn count_for_keys<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keys: impl Fn(u32) -> bool,
) -> Result<u64> {
    let tenants: u64 = all(db)
        .await?
        .iter()
        .filter(|u| keys(u.key_id))
        .map(|u| u.ciphertexts)
        .sum();
    let global: u64 = global(db)
        .await?
        .iter()
        .filter(|(k, _)| keys(*k))
        .map(|(_, n)| n)
        .sum();
    Ok(tenants + global)
}
