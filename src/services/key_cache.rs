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

use std::sync::{Arc, Mutex, MutexGuard};

use hashlink::LruCache;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::error::Result;
use crate::repositories::api_keys::{self, KeyIdentity};

use super::cache_watch::{self, Trust, Watched};
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
    /// `None` when caching is off (capacity 0).
    keys: Option<Mutex<Keys>>,
    trust: Trust,
}

struct Keys {
    lru: LruCache<[u8; 32], KeyIdentity>,
    /// Raised by every invalidation: a lookup that started before one does not store
    /// its (possibly stale) answer.
    generation: u64,
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
                keys: (capacity > 0).then(|| {
                    Mutex::new(Keys {
                        lru: LruCache::new(capacity),
                        generation: 0,
                    })
                }),
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
        let Some(keys) = self.inner.keys.as_ref().filter(|_| self.trusted()) else {
            return api_keys::authenticate_hash(db, &hash).await;
        };
        let generation = {
            let mut keys = lock(keys);
            if let Some(hit) = keys.lru.get(&hash) {
                return Ok(Some(hit.clone()));
            }
            keys.generation
        };
        let found = api_keys::authenticate_hash(db, &hash).await?;
        if let Some(identity) = &found {
            let mut keys = lock(keys);
            if keys.generation == generation {
                keys.lru.insert(hash, identity.clone());
            }
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
        if let Some(keys) = &self.inner.keys {
            let mut keys = lock(keys);
            keys.generation += 1;
            keys.lru.clear();
        }
    }

    /// Forgets the key with this id (revoked or changed).
    pub fn forget(&self, key_id: Uuid) {
        if let Some(keys) = &self.inner.keys {
            let mut keys = lock(keys);
            keys.generation += 1;
            keys.lru.retain(|_, identity| identity.id != key_id);
        }
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.inner.keys.as_ref().map_or(0, |k| lock(k).lru.len())
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

fn lock(keys: &Mutex<Keys>) -> MutexGuard<'_, Keys> {
    // A panic while holding the lock cannot leave the map half-changed in a way that
    // matters: at worst a key is missing and is read again.
    keys.lock().unwrap_or_else(|e| e.into_inner())
}
