//! API keys: random 256-bit secrets with a recognisable `cv_` prefix, shown once,
//! stored as SHA-256, revocable.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::models::api_key::{self, Role};
use crate::models::ids::parse_name;
use crate::models::{TenantId, tenant};

pub const KEY_PREFIX: &str = "cv_";

/// A key just made: its row, and the secret, which is never available again.
pub struct NewApiKey {
    pub key: api_key::Model,
    pub secret: SecretString,
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Makes a key. `tenant` is `None` exactly for operator keys.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    tenant: Option<TenantId>,
    role: Role,
    name: &str,
) -> Result<NewApiKey> {
    let name = parse_name("name", name, 200)?;
    match (tenant, role) {
        (None, Role::Operator) | (Some(_), Role::Admin | Role::Service | Role::Viewer) => {}
        (None, _) => {
            return Err(Error::invalid("role", "a tenant key needs a tenant"));
        }
        (Some(_), Role::Operator) => {
            return Err(Error::invalid("role", "operator keys belong to no tenant"));
        }
    }
    if let Some(t) = tenant
        && tenant::Entity::find_by_id(t.as_uuid())
            .one(db)
            .await?
            .is_none()
    {
        return Err(Error::UnknownTenant(t.as_uuid()));
    }
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    let secret = SecretString::from(format!(
        "{KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ));
    let key = api_key::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(tenant.map(|t| t.as_uuid())),
        role: Set(role),
        name: Set(name),
        prefix: Set(secret.expose_secret()[..KEY_PREFIX.len() + 6].to_owned()),
        secret_hash: Set(hash(secret.expose_secret())),
        created_at: Set(super::now()),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(NewApiKey { key, secret })
}

/// The live key with this secret, if any: one indexed lookup, no write.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    secret: &str,
) -> Result<Option<api_key::Model>> {
    if !secret.starts_with(KEY_PREFIX) || secret.len() > 128 {
        return Ok(None);
    }
    Ok(api_key::Entity::find()
        .filter(api_key::Column::SecretHash.eq(hash(secret)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?)
}

/// Keys of a tenant (or the operator keys, for `None`), oldest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant: Option<TenantId>,
) -> Result<Vec<api_key::Model>> {
    let query = match tenant {
        Some(t) => api_key::Entity::find().filter(api_key::Column::TenantId.eq(t.as_uuid())),
        None => api_key::Entity::find().filter(api_key::Column::TenantId.is_null()),
    };
    Ok(query
        .order_by_asc(api_key::Column::CreatedAt)
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await?)
}

/// Revokes a key of `tenant` (or an operator key, for `None`). `NotFound` when there is
/// no such live key there.
pub async fn revoke<C: ConnectionTrait>(db: &C, tenant: Option<TenantId>, id: Uuid) -> Result<()> {
    let mut update = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::val(super::now()))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null());
    update = match tenant {
        Some(t) => update.filter(api_key::Column::TenantId.eq(t.as_uuid())),
        None => update.filter(api_key::Column::TenantId.is_null()),
    };
    if update.exec(db).await?.rows_affected == 0 {
        return Err(Error::NotFound("api key"));
    }
    Ok(())
}
