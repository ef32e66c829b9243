//! The keyring: data keys, stored in `encryption_keys` wrapped by the master key, and
//! held unwrapped in memory only.
//!
//! One key is active; older keys stay readable until retired. Each key's nonce budget
//! is counted in the database: a process reserves small blocks of encryptions, so the
//! count is an upper bound, and a new key is made before `rotate_after` is reached
//! (random 96-bit nonces must stay far below 2^32 encryptions per key).
//!
//! Encrypting may write to the database (a reservation or a rotation) through the
//! keyring's own pool: call it before opening a write transaction, never inside one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{KeyInit, OsRng};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use zeroize::Zeroizing;

use super::envelope::{self, Binding};
use super::master::MasterKey;
use crate::error::{Error, Result, is_unique_violation};
use crate::models::encryption_key::{self, KeyState};
use crate::repositories;
use crate::repositories::key_usage;

/// Encryptions reserved per database round trip.
const RESERVATION_BLOCK: u64 = 256;

/// How long a reserved block may be used before the key's state is checked again, so a
/// process notices within this time that another one rotated the key.
const RESERVATION_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Tunables of the keyring.
#[derive(Clone, Copy, Debug)]
pub struct KeyringOptions {
    /// Make a new data key once this many encryptions were reserved under the active one.
    pub rotate_after: u64,
}

impl KeyringOptions {
    /// 2^28 encryptions per key: a 16th of the 2^32 bound for random-nonce AES-GCM.
    pub const DEFAULT_ROTATE_AFTER: u64 = 1 << 28;
    /// The largest accepted limit, 2^30: a quarter of that bound.
    pub const MAX_ROTATE_AFTER: u64 = 1 << 30;
}

impl Default for KeyringOptions {
    fn default() -> Self {
        Self {
            rotate_after: Self::DEFAULT_ROTATE_AFTER,
        }
    }
}

/// What `connvault keys status` shows of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStatus {
    pub id: u32,
    pub state: KeyState,
    pub master_key_id: String,
    pub encryptions: u64,
    pub ciphertexts: u64,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("master_key_id", &self.inner.master.id())
            .field("active", &self.active_key_id())
            .finish_non_exhaustive()
    }
}

struct Inner {
    db: DatabaseConnection,
    master: MasterKey,
    options: KeyringOptions,
    keys: RwLock<Keys>,
    budget: tokio::sync::Mutex<Budget>,
}

#[derive(Default)]
struct Keys {
    ciphers: HashMap<u32, Arc<Aes256Gcm>>,
    active: Option<u32>,
}

#[derive(Default)]
struct Budget {
    key_id: u32,
    remaining: u64,
    reserved_at: Option<std::time::Instant>,
}

fn key_id(id: i32) -> u32 {
    u32::try_from(id).unwrap_or(0)
}

impl Keyring {
    /// Loads every data key and checks that the master key opens each one; makes the
    /// first data key on a new database. A wrong master key is an error that changes
    /// nothing.
    pub async fn open(
        db: DatabaseConnection,
        master: MasterKey,
        options: KeyringOptions,
    ) -> Result<Self> {
        if !(1..=KeyringOptions::MAX_ROTATE_AFTER).contains(&options.rotate_after) {
            return Err(Error::invalid(
                "rotate_after",
                format!(
                    "must be between 1 and {} (random-nonce AES-GCM allows far fewer than 2^32 encryptions per key)",
                    KeyringOptions::MAX_ROTATE_AFTER
                ),
            ));
        }
        let keyring = Self {
            inner: Arc::new(Inner {
                db,
                master,
                options,
                keys: RwLock::new(Keys::default()),
                budget: tokio::sync::Mutex::new(Budget::default()),
            }),
        };
        keyring.reload().await?;
        if keyring.active_key_id().is_none() {
            keyring.create_active_key().await?;
        }
        Ok(keyring)
    }

    /// The fingerprint of the master key in use.
    pub fn master_key_id(&self) -> &str {
        self.inner.master.id()
    }

    /// A key derived from the master key for `purpose` (see [`MasterKey::derive`]).
    pub fn derive(&self, purpose: &str) -> secrecy::SecretBox<[u8; 32]> {
        self.inner.master.derive(purpose)
    }

    /// The key new ciphertexts are made with.
    pub fn active_key_id(&self) -> Option<u32> {
        self.inner.keys.read().map(|k| k.active).unwrap_or(None)
    }

    /// Re-reads the keys from the database (after another process rotated or retired).
    pub async fn reload(&self) -> Result<()> {
        let rows = encryption_key::Entity::find()
            .order_by_asc(encryption_key::Column::Id)
            .all(&self.inner.db)
            .await?;
        let mut keys = Keys::default();
        for row in rows {
            let id = key_id(row.id);
            if row.master_key_id != self.inner.master.id() {
                return Err(Error::MasterKey(format!(
                    "data key {id} is wrapped by master key {}, but the configured master key is {}",
                    row.master_key_id,
                    self.inner.master.id()
                )));
            }
            let raw = self.inner.master.unwrap(id, &row.wrapped_key)?;
            let cipher = Aes256Gcm::new_from_slice(raw.as_ref())
                .map_err(|_| Error::MasterKey(format!("data key {id} has a bad length")))?;
            keys.ciphers.insert(id, Arc::new(cipher));
            if row.state == KeyState::Active {
                keys.active = Some(id);
            }
        }
        if let Ok(mut guard) = self.inner.keys.write() {
            *guard = keys;
        }
        Ok(())
    }

    /// Readiness: the database holds an active data key wrapped by this master key, and
    /// it opens. Reads only; the reason, when not, is one line.
    pub async fn check_active(&self) -> std::result::Result<u32, String> {
        let row = encryption_key::Entity::find()
            .filter(encryption_key::Column::State.eq(KeyState::Active))
            .one(&self.inner.db)
            .await
            .map_err(|e| format!("cannot read the data keys: {e}"))?
            .ok_or_else(|| "the database holds no active data key".to_owned())?;
        let id = key_id(row.id);
        if row.master_key_id != self.inner.master.id() {
            return Err(format!(
                "the active data key {id} is wrapped by another master key ({})",
                row.master_key_id
            ));
        }
        self.inner
            .master
            .unwrap(id, &row.wrapped_key)
            .map(|_| id)
            .map_err(|e| e.to_string())
    }

    fn cipher(&self, id: u32) -> Option<Arc<Aes256Gcm>> {
        self.inner
            .keys
            .read()
            .ok()
            .and_then(|k| k.ciphers.get(&id).cloned())
    }

    /// Encrypts `plaintext` for `binding` under the active key; returns the key id and
    /// the ciphertext.
    pub async fn encrypt(&self, binding: Binding<'_>, plaintext: &[u8]) -> Result<(u32, Vec<u8>)> {
        let id = self.take_encryption().await?;
        let cipher = self.cipher(id).ok_or(Error::UnknownDataKey(id))?;
        Ok((id, envelope::seal(&cipher, id, binding, plaintext)?))
    }

    /// Decrypts a ciphertext made for `binding`. Reads nothing from the database unless
    /// the ciphertext names a key this process has not loaded yet.
    pub async fn decrypt(
        &self,
        binding: Binding<'_>,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let id = envelope::key_id_of(ciphertext)?;
        let cipher = match self.cipher(id) {
            Some(c) => c,
            None => {
                self.reload().await?;
                self.cipher(id).ok_or(Error::UnknownDataKey(id))?
            }
        };
        envelope::open(&cipher, binding, ciphertext)
    }

    /// Takes one encryption from the active key's budget, reserving a new block in the
    /// database when the local one is spent and rotating when the key's limit is near.
    async fn take_encryption(&self) -> Result<u32> {
        let mut budget = self.inner.budget.lock().await;
        let active = self.active_key_id();
        let fresh = budget
            .reserved_at
            .is_some_and(|at| at.elapsed() < RESERVATION_TTL);
        if budget.remaining > 0 && fresh && Some(budget.key_id) == active {
            budget.remaining -= 1;
            return Ok(budget.key_id);
        }
        let limit = self.inner.options.rotate_after;
        let block = Ord::min(RESERVATION_BLOCK, limit);
        for _ in 0..8 {
            let Some(active) = self.active_key_id() else {
                self.create_active_key().await?;
                continue;
            };
            let reserved = encryption_key::Entity::update_many()
                .col_expr(
                    encryption_key::Column::Encryptions,
                    Expr::col(encryption_key::Column::Encryptions).add(block as i64),
                )
                .filter(encryption_key::Column::Id.eq(active as i32))
                .filter(encryption_key::Column::State.eq(KeyState::Active))
                .filter(
                    Expr::col(encryption_key::Column::Encryptions)
                        .add(block as i64)
                        .lte(limit as i64),
                )
                .exec(&self.inner.db)
                .await?;
            if reserved.rows_affected == 1 {
                *budget = Budget {
                    key_id: active,
                    remaining: block - 1,
                    reserved_at: Some(std::time::Instant::now()),
                };
                return Ok(active);
            }
            // Either this key reached its limit, or another process rotated it.
            let current = encryption_key::Entity::find()
                .filter(encryption_key::Column::State.eq(KeyState::Active))
                .one(&self.inner.db)
                .await?;
            match current {
                Some(row) if key_id(row.id) != active => self.reload().await?,
                _ => {
                    tracing::info!(
                        key_id = active,
                        limit,
                        "data key reached its encryption limit; rotating"
                    );
                    self.create_active_key().await?;
                }
            }
        }
        Err(Error::MasterKey(
            "could not reserve an encryption under any data key".into(),
        ))
    }

    /// Makes a new active key; the previous one becomes decrypt-only. Returns its id.
    pub async fn rotate(&self) -> Result<u32> {
        let mut budget = self.inner.budget.lock().await;
        let id = self.create_active_key().await?;
        *budget = Budget::default();
        Ok(id)
    }

    async fn create_active_key(&self) -> Result<u32> {
        let db = &self.inner.db;
        let txn = repositories::begin_write(db).await?;
        // Demote first: on PostgreSQL this waits for a concurrent rotation or re-wrap
        // holding the key rows, and what follows then sees its result.
        encryption_key::Entity::update_many()
            .col_expr(
                encryption_key::Column::State,
                Expr::val(KeyState::DecryptOnly.as_str()),
            )
            .filter(encryption_key::Column::State.eq(KeyState::Active))
            .exec(&txn)
            .await?;
        // Never wrap a new key under a master key the others are no longer under.
        let masters: Vec<String> = encryption_key::Entity::find()
            .select_only()
            .column(encryption_key::Column::MasterKeyId)
            .distinct()
            .into_tuple()
            .all(&txn)
            .await?;
        if let Some(other) = masters
            .iter()
            .find(|m| m.as_str() != self.inner.master.id())
        {
            return Err(Error::MasterKey(format!(
                "the data keys are now wrapped by master key {other}, not by this process's {}: restart with the new master key",
                self.inner.master.id()
            )));
        }
        let max: Option<i32> = encryption_key::Entity::find()
            .select_only()
            .column_as(encryption_key::Column::Id.max(), "max_id")
            .into_tuple()
            .one(&txn)
            .await?
            .flatten();
        let id = key_id(max.unwrap_or(0)) + 1;
        let mut raw = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(raw.as_mut());
        let wrapped = self.inner.master.wrap(id, &raw)?;
        let inserted = encryption_key::ActiveModel {
            id: Set(id as i32),
            state: Set(KeyState::Active),
            wrapped_key: Set(wrapped),
            master_key_id: Set(self.inner.master.id().to_owned()),
            encryptions: Set(0),
            created_at: Set(repositories::now()),
        }
        .insert(&txn)
        .await;
        match inserted {
            Ok(_) => txn.commit().await?,
            // Another process rotated at the same moment: use its key.
            Err(err) if is_unique_violation(&err) => {
                drop(txn);
                self.reload().await?;
                return self
                    .active_key_id()
                    .ok_or(Error::NotFound("active data key"));
            }
            Err(err) => return Err(err.into()),
        }
        self.reload().await?;
        tracing::info!(key_id = id, "new active data key");
        Ok(id)
    }

    /// Every key with its state, budget use and number of ciphertexts.
    pub async fn status(&self) -> Result<Vec<KeyStatus>> {
        let db = &self.inner.db;
        let mut counts: HashMap<u32, u64> = HashMap::new();
        for usage in key_usage::all(db).await? {
            *counts.entry(usage.key_id).or_default() += usage.ciphertexts;
        }
        for (key, n) in key_usage::global(db).await? {
            *counts.entry(key).or_default() += n;
        }
        let rows = encryption_key::Entity::find()
            .order_by_asc(encryption_key::Column::Id)
            .all(db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| KeyStatus {
                id: key_id(row.id),
                state: row.state,
                master_key_id: row.master_key_id,
                encryptions: u64::try_from(row.encryptions).unwrap_or(0),
                ciphertexts: counts.get(&key_id(row.id)).copied().unwrap_or(0),
                created_at: row.created_at,
            })
            .collect())
    }

    /// Destroys a decrypt-only key that no ciphertext uses. The foreign key from every
    /// ciphertext to its key makes this fail in the database too if one appears.
    pub async fn retire(&self, id: u32) -> Result<()> {
        let db = &self.inner.db;
        let txn = repositories::begin_write(db).await?;
        let row = encryption_key::Entity::find_by_id(id as i32)
            .one(&txn)
            .await?
            .ok_or(Error::UnknownDataKey(id))?;
        if row.state == KeyState::Active {
            return Err(Error::KeyIsActive(id));
        }
        let used = key_usage::count_for_keys(&txn, |k| k == id).await?;
        if used > 0 {
            return Err(Error::KeyInUse {
                id,
                ciphertexts: used,
            });
        }
        encryption_key::Entity::delete_by_id(id as i32)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        self.reload().await?;
        tracing::info!(key_id = id, "data key retired");
        Ok(())
    }

    /// Re-wraps every data key under `new_master`, in one transaction. Ciphertexts are
    /// untouched. Afterwards only `new_master` opens the keyring.
    pub async fn rewrap(&self, new_master: &MasterKey) -> Result<usize> {
        let db = &self.inner.db;
        let txn = repositories::begin_write(db).await?;
        // Lock every key row: a concurrent rotation waits, then sees the new master.
        let rows = encryption_key::Entity::find()
            .lock_exclusive()
            .all(&txn)
            .await?;
        let count = rows.len();
        for row in rows {
            let id = key_id(row.id);
            let raw = self.inner.master.unwrap(id, &row.wrapped_key)?;
            let wrapped = new_master.wrap(id, &raw)?;
            encryption_key::Entity::update_many()
                .col_expr(encryption_key::Column::WrappedKey, Expr::val(wrapped))
                .col_expr(
                    encryption_key::Column::MasterKeyId,
                    Expr::val(new_master.id().to_owned()),
                )
                .filter(encryption_key::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        tracing::info!(
            keys = count,
            master_key_id = new_master.id(),
            "data keys re-wrapped"
        );
        Ok(count)
    }
}
