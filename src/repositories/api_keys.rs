//! API keys: random 256-bit secrets with a recognisable `cv_` prefix, shown once,
//! stored as SHA-256, revocable.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::page::{self, Cursor, Page, PageResult, Position};
use crate::error::{Error, Result};
use crate::models::api_key::{self, Role};
use crate::models::ids::parse_name;
use crate::models::{TenantId, operator_key, tenant};
use crate::tenancy::{self, TenantScope};

pub const KEY_PREFIX: &str = "cv_";

/// A key just made: its row, and the secret, which is never available again.
pub struct NewApiKey {
    pub key: api_key::Model,
    pub secret: SecretString,
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Makes a key. `tenant` is `None` exactly for deployment-wide keys (operators and
/// workers).
pub async fn create<C: TenantScope>(
    db: &C,
    tenant: Option<TenantId>,
    role: Role,
    name: &str,
) -> Result<NewApiKey> {
    let name = parse_name("name", name, 200)?;
    match (tenant, role) {
        (None, Role::Operator | Role::Worker)
        | (Some(_), Role::Admin | Role::Service | Role::Viewer) => {}
        (None, _) => {
            return Err(Error::invalid("role", "a tenant key needs a tenant"));
        }
        (Some(_), Role::Operator | Role::Worker) => {
            return Err(Error::invalid(
                "role",
                "operator and worker keys belong to no tenant",
            ));
        }
    }
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    let secret = SecretString::from(format!(
        "{KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ));
    let prefix = secret.expose_secret()[..KEY_PREFIX.len() + 6].to_owned();
    let secret_hash = hash(secret.expose_secret());
    let id = Uuid::new_v4();
    let created_at = super::now();
    let Some(tenant) = tenant else {
        let key = operator_key::ActiveModel {
            id: Set(id),
            name: Set(name),
            role: Set(role),
            prefix: Set(prefix),
            secret_hash: Set(secret_hash),
            created_at: Set(created_at),
            revoked_at: Set(None),
        }
        .insert(db)
        .await?;
        return Ok(NewApiKey {
            key: key.into(),
            secret,
        });
    };
    let key = api_key::ActiveModel {
        id: Set(id),
        tenant_id: Set(Some(tenant.as_uuid())),
        role: Set(role),
        name: Set(name),
        prefix: Set(prefix),
        secret_hash: Set(secret_hash),
        created_at: Set(created_at),
        revoked_at: Set(None),
    };
    let key = tenancy::write(db, tenant, async |db| {
        if tenant::Entity::find_by_id(tenant.as_uuid())
            .one(db)
            .await?
            .is_none()
        {
            return Err(Error::UnknownTenant(tenant.as_uuid()));
        }
        Ok(key.insert(db).await?)
    })
    .await?;
    Ok(NewApiKey { key, secret })
}

/// The caller a live key stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyIdentity {
    pub id: Uuid,
    /// `None` for a deployment-wide key (operator or worker).
    pub tenant_id: Option<TenantId>,
    pub role: Role,
    pub name: String,
}

/// The SHA-256 a key is found by, or `None` for a value that cannot be a key (no `cv_`
/// prefix, or too long): such a value is refused without a query.
pub fn secret_hash(secret: &str) -> Option<[u8; 32]> {
    if !secret.starts_with(KEY_PREFIX) || secret.len() > 128 {
        return None;
    }
    Some(Sha256::digest(secret.as_bytes()).into())
}

/// The live key with this secret, if any: one statement over two unique indexes, no
/// write. The tenant is not known yet, so on PostgreSQL a function makes the key row
/// visible to the holder of its secret (see the `api_key_lookup` policy).
pub async fn authenticate<C: ConnectionTrait>(db: &C, secret: &str) -> Result<Option<KeyIdentity>> {
    match secret_hash(secret) {
        Some(hash) => authenticate_hash(db, &hash).await,
        None => Ok(None),
    }
}

/// [`authenticate`] by the secret's [`secret_hash`].
pub async fn authenticate_hash<C: ConnectionTrait>(
    db: &C,
    hash: &[u8; 32],
) -> Result<Option<KeyIdentity>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT o_id, o_tenant_id, o_role, o_name FROM connvault_authenticate($1)"
        }
        _ => {
            "SELECT id AS o_id, tenant_id AS o_tenant_id, role AS o_role, name AS o_name \
             FROM api_keys WHERE secret_hash = ?1 AND revoked_at IS NULL \
             UNION ALL \
             SELECT id, NULL, role, name \
             FROM operator_keys WHERE secret_hash = ?1 AND revoked_at IS NULL"
        }
    };
    let Some(row) = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [hash.to_vec().into()],
        ))
        .await?
    else {
        return Ok(None);
    };
    let role: String = row.try_get("", "o_role")?;
    let tenant_id: Option<Uuid> = row.try_get("", "o_tenant_id")?;
    Ok(Some(KeyIdentity {
        id: row.try_get("", "o_id")?,
        tenant_id: tenant_id.map(TenantId::from_uuid),
        role: Role::parse(&role).ok_or(Error::NotFound("api key role"))?,
        name: row.try_get("", "o_name")?,
    }))
}

/// One page of a tenant's keys (or of the deployment-wide keys, operators' and
/// workers', for `None`), oldest first.
pub async fn list<C: TenantScope>(
    db: &C,
    tenant: Option<TenantId>,
    page: Page,
) -> Result<PageResult<api_key::Model>> {
    let limit = page.effective_limit();
    let after = page.after.as_deref().map(Position::decode).transpose()?;
    let Some(tenant) = tenant else {
        let mut query = operator_key::Entity::find();
        if let Some(after) = after {
            query = query.filter(
                operator_key::Column::CreatedAt.gt(after.created_at).or(
                    operator_key::Column::CreatedAt
                        .eq(after.created_at)
                        .and(operator_key::Column::Id.gt(after.id)),
                ),
            );
        }
        let items = query
            .order_by_asc(operator_key::Column::CreatedAt)
            .order_by_asc(operator_key::Column::Id)
            .limit(limit + 1)
            .all(db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        return Ok(page::finish(items, limit, key_position));
    };
    let mut query = api_key::Entity::find().filter(api_key::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(after) = after {
        query = query.filter(
            api_key::Column::CreatedAt
                .gt(after.created_at)
                .or(api_key::Column::CreatedAt
                    .eq(after.created_at)
                    .and(api_key::Column::Id.gt(after.id))),
        );
    }
    let query = query
        .order_by_asc(api_key::Column::CreatedAt)
        .order_by_asc(api_key::Column::Id)
        .limit(limit + 1);
    let items = tenancy::read(db, tenant, async |db| query.all(db).await).await?;
    Ok(page::finish(items, limit, key_position))
}

fn key_position(key: &api_key::Model) -> Position {
    Position {
        created_at: key.created_at,
        id: key.id,
    }
}

/// The tenant's key with this id, live or revoked, or `None`.
pub async fn get<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<api_key::Model>> {
    let query = api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant.as_uuid()))
        .filter(api_key::Column::Id.eq(id));
    tenancy::read(db, tenant, async |db| Ok(query.one(db).await?)).await
}

/// Revokes a key of `tenant` (or an operator key, for `None`). `NotFound` when there is
/// no such live key there.
pub async fn revoke<C: TenantScope>(db: &C, tenant: Option<TenantId>, id: Uuid) -> Result<()> {
    let revoked = match tenant {
        None => {
            operator_key::Entity::update_many()
                .col_expr(operator_key::Column::RevokedAt, Expr::val(super::now()))
                .filter(operator_key::Column::Id.eq(id))
                .filter(operator_key::Column::RevokedAt.is_null())
                .exec(db)
                .await?
                .rows_affected
        }
        Some(t) => {
            let update = api_key::Entity::update_many()
                .col_expr(api_key::Column::RevokedAt, Expr::val(super::now()))
                .filter(api_key::Column::Id.eq(id))
                .filter(api_key::Column::TenantId.eq(t.as_uuid()))
                .filter(api_key::Column::RevokedAt.is_null());
            tenancy::write(db, t, async |db| update.exec(db).await)
                .await?
                .rows_affected
        }
    };
    if revoked == 0 {
        return Err(Error::NotFound("api key"));
    }
    Ok(())
}

/// The role of the deployment-wide key with this id (operator or worker), if any.
pub async fn deployment_key_role<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<Role>> {
    Ok(operator_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|k| k.role))
}

/// The live key with this id (of `tenant`, or deployment-wide for `None`), as the
/// caller it stands for; `None` when there is none or it was revoked. The console
/// checks its session's key with it on every request.
pub async fn live_identity<C: TenantScope>(
    db: &C,
    tenant: Option<TenantId>,
    id: Uuid,
) -> Result<Option<KeyIdentity>> {
    match tenant {
        None => Ok(operator_key::Entity::find_by_id(id)
            .filter(operator_key::Column::RevokedAt.is_null())
            .one(db)
            .await?
            .map(|k| KeyIdentity {
                id: k.id,
                tenant_id: None,
                role: k.role,
                name: k.name,
            })),
        Some(t) => Ok(get(db, t, id)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .map(|k| KeyIdentity {
                id: k.id,
                tenant_id: Some(t),
                role: k.role,
                name: k.name,
            })),
    }
}
