//! API-key authentication without a database round trip on the hot path: an in-process
//! LRU of live keys (SHA-256 of the secret → the key's identity), bounded by a
//! capacity. Only keys found live are cached, so random or revoked keys cannot grow it.
//!
//! The cache is trusted only while [`KeyCache::watch`] confirms it
//! (`services::cache_watch`): the key-change counter is read every [`CHECK_EVERY`], and
//! a cache not confirmed by a read that started within [`TRUST_FOR`] is bypassed (every
//! lookup goes to the database), so a revocation committed anywhere reaches this
//! process within [`TRUST_FOR`] even when notifications are lost. On PostgreSQL the
//! revoking transaction's notification evicts the key within milliseconds; a lost
//! listening connection forgets the whole cache.

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::error::Result;
use crate::repositories::api_keys::{self, KeyIdentity};

use super::cache_watch::{self, Trust, Watched};
use super::guarded_lru::{GuardedLru, Lookup};
use crate::repositories::epochs::Epoch;

pub use super::cache_watch::{CHECK_EVERY, TRUST_FOR, Watching};

/// The default number of keys kept.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The shared cache; clones share it.
#[derive(Clone)]
pub struct KeyCache {
    inner: Arc<Inner>,
}

struct Inner {
    keys: GuardedLru<[u8; 32], KeyIdentity>,
    trust: Trust,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl KeyCache {
    /// A cache of at most `capacity` keys (0: no caching at all). It serves nothing
    /// until [`KeyCache::watch`] confirms it.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                keys: GuardedLru::new(capacity),
                trust: Trust::default(),
            }),
        }
    }

    /// The live key with this secret, from the cache when it is trusted, else from the
    /// database (and then remembered, if it is live and nothing was invalidated
    /// meanwhile).
    pub async fn authenticate<C: ConnectionTrait>(
        &self,
        db: &C,
        secret: &str,
    ) -> Result<Option<KeyIdentity>> {
        let Some(hash) = api_keys::secret_hash(secret) else {
            return Ok(None);
        };
        let keys = &self.inner.keys;
        if !keys.enabled() || !self.trusted() {
            return api_keys::authenticate_hash(db, &hash).await;
        }
        let generation = match keys.get(&hash, |_| true) {
            Lookup::Hit(identity) => return Ok(Some(identity)),
            Lookup::Miss(generation) => generation,
        };
        let found = api_keys::authenticate_hash(db, &hash).await?;
        if let Some(identity) = &found {
            keys.store(generation, hash, identity.clone());
        }
        Ok(found)
    }

    /// Starts keeping this cache true against `db` on the current runtime. Until the
    /// first check succeeds, and whenever checks fail for longer than [`TRUST_FOR`],
    /// every lookup goes to the database.
    pub fn watch(&self, db: sea_orm::DatabaseConnection) -> Watching {
        cache_watch::watch(self, db)
    }

    /// Forgets every key.
    pub fn invalidate_all(&self) {
        self.inner.keys.clear();
    }

    /// Forgets the key with this id (revoked or changed).
    pub fn forget(&self, key_id: Uuid) {
        self.inner.keys.retain(|_, identity| identity.id != key_id);
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.inner.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the last successful check started within [`TRUST_FOR`].
    pub fn trusted(&self) -> bool {
        self.inner.trust.trusted()
    }
}

impl Watched for KeyCache {
    const NAME: &'static str = "API-key cache";
    const EPOCH: Epoch = Epoch::ApiKeys;

    fn trust(&self) -> &Trust {
        &self.inner.trust
    }

    fn invalidate_all(&self) {
        KeyCache::invalidate_all(self)
    }

    fn forget(&self, id: Uuid) {
        KeyCache::forget(self, id)
    }
}
