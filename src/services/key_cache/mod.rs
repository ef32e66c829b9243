//! API-key authentication without a database round trip on the hot path: an in-process
//! LRU of live keys (SHA-256 of the secret → the key's identity), bounded by a
//! capacity. Only keys found live are cached, so random or revoked keys cannot grow it.
//!
//! The cache is trusted only while its [`watch`] task confirms it: the key-change
//! counter (`repositories::key_epoch`) is read every [`CHECK_EVERY`], and a cache not
//! confirmed by a read that started within [`TRUST_FOR`] is bypassed (every lookup goes
//! to the database), so a revocation committed anywhere reaches this process within
//! [`TRUST_FOR`] even when notifications are lost. On PostgreSQL the revoking
//! transaction's notification evicts the key within milliseconds; a lost listening
//! connection forgets the whole cache.

mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hashlink::LruCache;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::error::Result;
use crate::repositories::api_keys::{self, KeyIdentity};

pub use watch::Watching;

/// How often the key-change counter is read.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long after the start of its last successful check the cache is trusted: the
/// longest a revocation can go unseen when every notification is lost.
pub const TRUST_FOR: Duration = Duration::from_millis(750);

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
    /// Time origin of `confirmed`.
    origin: Instant,
    /// Milliseconds after `origin` (plus one, so 0 means never) at which the last
    /// successful check started.
    confirmed: AtomicU64,
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
                origin: Instant::now(),
                confirmed: AtomicU64::new(0),
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
        let confirmed = self.inner.confirmed.load(Ordering::Acquire);
        confirmed != 0 && self.millis(Instant::now()) < confirmed + TRUST_FOR.as_millis() as u64
    }

    /// Records a successful check that started at `started`.
    fn confirm(&self, started: Instant) {
        self.inner
            .confirmed
            .fetch_max(self.millis(started), Ordering::AcqRel);
    }

    /// Stops trusting the cache until the next successful check.
    fn distrust(&self) {
        self.inner.confirmed.store(0, Ordering::Release);
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.inner.origin).as_millis() as u64 + 1
    }
}

fn lock(keys: &Mutex<Keys>) -> MutexGuard<'_, Keys> {
    // A panic while holding the lock cannot leave the map half-changed in a way that
    // matters: at worst a key is missing and is read again.
    keys.lock().unwrap_or_else(|e| e.into_inner())
}
