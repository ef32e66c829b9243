//! Event endpoints of a tenant or of the deployment: insert, get, list (keyset), patch,
//! delete, secret rotation; for the worker, the enabled endpoints events fan out to,
//! and disabling one.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::{Owner, WorkerTxn, in_scope};
use crate::crypto::{Binding, Keyring};
use crate::error::Result;
use crate::models::event_endpoint;
use crate::models::json::StringList;
use crate::repositories::page::{self, Cursor, Page, PageResult, Position};
use sea_orm::DatabaseConnection;

/// The field names a secret's ciphertext is bound to.
pub const SECRET_FIELD: &str = "signing_secret";
pub const PREVIOUS_FIELD: &str = "previous_signing_secret";

/// What a secret ciphertext is bound to: the endpoint's tenant (nil for the
/// deployment's), its id and the field.
pub fn binding(tenant: Option<Uuid>, id: Uuid, field: &'static str) -> Binding<'static> {
    Binding {
        tenant: tenant.unwrap_or(Uuid::nil()),
        row: id,
        field,
    }
}

/// A sealed secret: key id and ciphertext.
#[derive(Clone)]
pub struct Sealed {
    pub key_id: u32,
    pub ciphertext: Vec<u8>,
}

/// A new endpoint, its secret already sealed for `id`.
pub struct NewEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub secret: Sealed,
}

/// The fields a patch may change; `None` leaves one as it is.
#[derive(Default)]
pub struct Patch {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

fn owned(owner: Owner) -> sea_orm::Condition {
    let col = event_endpoint::Column::TenantId;
    match owner.tenant_uuid() {
        Some(t) => sea_orm::Condition::all().add(col.eq(t)),
        None => sea_orm::Condition::all().add(col.is_null()),
    }
}

pub async fn insert(
    db: &DatabaseConnection,
    owner: Owner,
    new: NewEndpoint,
) -> Result<event_endpoint::Model> {
    let now = crate::repositories::now();
    let row = event_endpoint::ActiveModel {
        id: Set(new.id),
        tenant_id: Set(owner.tenant_uuid()),
        url: Set(new.url),
        description: Set(new.description),
        event_types: Set(StringList(new.event_types)),
        enabled: Set(new.enabled),
        disabled_reason: Set((!new.enabled).then(|| "manual".to_owned())),
        secret_key_id: Set(new.secret.key_id as i32),
        secret_ciphertext: Set(new.secret.ciphertext),
        previous_key_id: Set(None),
        previous_ciphertext: Set(None),
        previous_expires_at: Set(None),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    in_scope(db, owner, true, async |db| Ok(row.insert(db).await?)).await
}

pub async fn get(
    db: &DatabaseConnection,
    owner: Owner,
    id: Uuid,
) -> Result<Option<event_endpoint::Model>> {
    let query = event_endpoint::Entity::find_by_id(id).filter(owned(owner));
    in_scope(db, owner, false, async |db| Ok(query.one(db).await?)).await
}

/// One page of the owner's endpoints, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    owner: Owner,
    page: Page,
) -> Result<PageResult<event_endpoint::Model>> {
    let limit = page.effective_limit();
    let mut query = event_endpoint::Entity::find().filter(owned(owner));
    if let Some(cursor) = page.after.as_deref() {
        let after = Position::decode(cursor)?;
        query = query.filter(
            event_endpoint::Column::CreatedAt.gt(after.created_at).or(
                event_endpoint::Column::CreatedAt
                    .eq(after.created_at)
                    .and(event_endpoint::Column::Id.gt(after.id)),
            ),
        );
    }
    let query = query
        .order_by_asc(event_endpoint::Column::CreatedAt)
        .order_by_asc(event_endpoint::Column::Id)
        .limit(limit + 1);
    let items = in_scope(db, owner, false, async |db| Ok(query.all(db).await?)).await?;
    Ok(page::finish(items, limit, |e| Position {
        created_at: e.created_at,
        id: e.id,
    }))
}

/// Applies `patch`; enabling clears the disable reason and the failure streak.
pub async fn update(
    db: &DatabaseConnection,
    owner: Owner,
    id: Uuid,
    patch: Patch,
) -> Result<Option<event_endpoint::Model>> {
    let query = event_endpoint::Entity::find_by_id(id).filter(owned(owner));
    in_scope(db, owner, true, async |db| {
        let Some(row) = query.one(db).await? else {
            return Ok(None);
        };
        let mut active: event_endpoint::ActiveModel = row.into();
        if let Some(url) = patch.url {
            active.url = Set(url);
        }
        if let Some(d) = patch.description {
            active.description = Set(d);
        }
        if let Some(t) = patch.event_types {
            active.event_types = Set(StringList(t));
        }
        if let Some(enabled) = patch.enabled {
            active.enabled = Set(enabled);
            active.disabled_reason = Set((!enabled).then(|| "manual".to_owned()));
            if enabled {
                active.failing_since = Set(None);
            }
        }
        active.updated_at = Set(crate::repositories::now());
        Ok(Some(active.update(db).await?))
    })
    .await
}

pub async fn delete(db: &DatabaseConnection, owner: Owner, id: Uuid) -> Result<bool> {
    let query = event_endpoint::Entity::delete_many()
        .filter(event_endpoint::Column::Id.eq(id))
        .filter(owned(owner));
    let n = in_scope(db, owner, true, async |db| {
        Ok(query.exec(db).await?.rows_affected)
    })
    .await?;
    Ok(n == 1)
}

/// Replaces the secret with `new` and keeps `previous` (the old one, sealed for its
/// field) until `until`, if the secret is still `expected` (a concurrent rotation
/// wins, this one changes nothing and answers `None`).
pub async fn rotate(
    db: &DatabaseConnection,
    owner: Owner,
    id: Uuid,
    expected: &[u8],
    new: Sealed,
    previous: Sealed,
    until: DateTime<Utc>,
) -> Result<Option<event_endpoint::Model>> {
    let now = crate::repositories::now();
    let update = event_endpoint::Entity::update_many()
        .set(event_endpoint::ActiveModel {
            secret_key_id: Set(new.key_id as i32),
            secret_ciphertext: Set(new.ciphertext),
            previous_key_id: Set(Some(previous.key_id as i32)),
            previous_ciphertext: Set(Some(previous.ciphertext)),
            previous_expires_at: Set(Some(until)),
            updated_at: Set(now),
            ..Default::default()
        })
        .filter(event_endpoint::Column::Id.eq(id))
        .filter(event_endpoint::Column::SecretCiphertext.eq(expected.to_vec()))
        .filter(owned(owner));
    let query = event_endpoint::Entity::find_by_id(id).filter(owned(owner));
    in_scope(db, owner, true, async |db| {
        if update.exec(db).await?.rows_affected != 1 {
            return Ok(None);
        }
        Ok(query.one(db).await?)
    })
    .await
}

/// The enabled endpoints events of `tenant` (or of the deployment, `None`) go to: the
/// tenant's and the deployment's.
pub async fn enabled_for(
    txn: &WorkerTxn,
    tenant: Option<Uuid>,
) -> Result<Vec<event_endpoint::Model>> {
    let col = event_endpoint::Column::TenantId;
    let whose = match tenant {
        Some(t) => col.eq(t).or(col.is_null()),
        None => col.is_null(),
    };
    Ok(event_endpoint::Entity::find()
        .filter(whose)
        .filter(event_endpoint::Column::Enabled.eq(true))
        .all(txn.txn())
        .await?)
}

/// Endpoints by id, for the worker.
pub async fn by_ids(txn: &WorkerTxn, ids: Vec<Uuid>) -> Result<Vec<event_endpoint::Model>> {
    Ok(event_endpoint::Entity::find()
        .filter(event_endpoint::Column::Id.is_in(ids))
        .all(txn.txn())
        .await?)
}

/// After an attempt: a success ends the failure streak, a failure starts one unless
/// one is running. Returns the endpoint as it is now.
pub async fn note_outcome(
    txn: &WorkerTxn,
    id: Uuid,
    succeeded: bool,
    now: DateTime<Utc>,
) -> Result<Option<event_endpoint::Model>> {
    let col = event_endpoint::Column::FailingSince;
    let update = event_endpoint::Entity::update_many().filter(event_endpoint::Column::Id.eq(id));
    if succeeded {
        update
            .col_expr(
                col,
                sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(col.is_not_null())
            .exec(txn.txn())
            .await?;
    } else {
        update
            .col_expr(col, sea_orm::sea_query::Expr::value(Some(now)))
            .filter(col.is_null())
            .exec(txn.txn())
            .await?;
    }
    Ok(event_endpoint::Entity::find_by_id(id)
        .one(txn.txn())
        .await?)
}

/// Disables an enabled endpoint for `reason`; `false` when it was disabled already.
pub async fn disable(txn: &WorkerTxn, id: Uuid, reason: &str) -> Result<bool> {
    let result = event_endpoint::Entity::update_many()
        .set(event_endpoint::ActiveModel {
            enabled: Set(false),
            disabled_reason: Set(Some(reason.to_owned())),
            updated_at: Set(crate::repositories::now()),
            ..Default::default()
        })
        .filter(event_endpoint::Column::Id.eq(id))
        .filter(event_endpoint::Column::Enabled.eq(true))
        .exec(txn.txn())
        .await?;
    Ok(result.rows_affected == 1)
}

/// Moves every endpoint secret under a key older than `target` to the active key, each
/// with a compare-and-swap on its ciphertext. Returns (re-encrypted, unreadable).
pub async fn reencrypt(
    db: &DatabaseConnection,
    keyring: &Keyring,
    target: u32,
) -> Result<(u64, u64)> {
    let t = target as i32;
    let txn = WorkerTxn::begin(db).await?;
    let stale = event_endpoint::Entity::find()
        .filter(
            event_endpoint::Column::SecretKeyId
                .lt(t)
                .or(event_endpoint::Column::PreviousKeyId.lt(t)),
        )
        .all(txn.txn())
        .await?;
    txn.commit().await?;
    // Sealing may write (the keyring's nonce budget): no transaction is open meanwhile.
    let (mut done, mut unreadable) = (0, 0);
    for row in stale {
        let mut active = event_endpoint::ActiveModel {
            ..Default::default()
        };
        let mut ok = true;
        if row.secret_key_id < t {
            match reseal(keyring, &row, SECRET_FIELD, &row.secret_ciphertext).await {
                Ok(s) => {
                    active.secret_key_id = Set(s.key_id as i32);
                    active.secret_ciphertext = Set(s.ciphertext);
                }
                Err(_) => ok = false,
            }
        }
        if let (Some(k), Some(c)) = (row.previous_key_id, row.previous_ciphertext.as_ref())
            && k < t
        {
            match reseal(keyring, &row, PREVIOUS_FIELD, c).await {
                Ok(s) => {
                    active.previous_key_id = Set(Some(s.key_id as i32));
                    active.previous_ciphertext = Set(Some(s.ciphertext));
                }
                Err(_) => ok = false,
            }
        }
        if !ok {
            tracing::error!(endpoint = %row.id, "event endpoint secret cannot be decrypted");
            unreadable += 1;
            continue;
        }
        let txn = WorkerTxn::begin(db).await?;
        let result = event_endpoint::Entity::update_many()
            .set(active)
            .filter(event_endpoint::Column::Id.eq(row.id))
            .filter(event_endpoint::Column::SecretCiphertext.eq(row.secret_ciphertext.clone()))
            .exec(txn.txn())
            .await?;
        txn.commit().await?;
        done += result.rows_affected;
    }
    Ok((done, unreadable))
}

async fn reseal(
    keyring: &Keyring,
    row: &event_endpoint::Model,
    field: &'static str,
    ciphertext: &[u8],
) -> Result<Sealed> {
    let plain = keyring
        .decrypt(binding(row.tenant_id, row.id, field), ciphertext)
        .await?;
    let secret = secrecy::SecretString::from(String::from_utf8_lossy(&plain).into_owned());
    let (key_id, ciphertext) = keyring
        .encrypt(
            binding(row.tenant_id, row.id, field),
            secret.expose_secret().as_bytes(),
        )
        .await?;
    Ok(Sealed { key_id, ciphertext })
}
