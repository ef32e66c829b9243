//! The credential read without a database round trip when nothing changed: a
//! per-process LRU of what `repositories::credential_secrets::read` returned for a
//! connection (its ciphertext rows, status, token expiry, last reason code and
//! provider), bounded by a capacity. It holds ciphertext only: every hit is decrypted
//! again with the row's binding, so a plaintext secret lives no longer than a read that
//! does not cache.
//!
//! What the database returned is what the policies let the tenant see: an entry is
//! filled only from the row-level-security read, is keyed by connection and remembers
//! its tenant, and a lookup for another tenant never uses it. Nothing empty is cached,
//! so unknown or foreign ids cannot grow it.
//!
//! Staleness is bounded as for the API-key cache (`services::cache_watch`): every change
//! to a credential row or to a connection's read columns raises `credential_epoch`
//! and, on PostgreSQL, notifies `connvault_credentials` with the connection's id when
//! it commits; the cache serves only while a check of that counter started within
//! `TRUST_FOR` succeeded, so a credential replaced, disconnected or re-encrypted
//! through another process is not served from here after 1 s. Tenant-scoped writes of
//! this process (`db::local_writes`) forget that tenant's entries at once.

use std::sync::{Arc, Mutex, MutexGuard};

use hashlink::LruCache;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::cache_watch::{self, Trust, Watched, Watching};
use crate::db::local_writes;
use crate::error::Result;
use crate::models::{ConnectionId, TenantId};
use crate::repositories::credential_secrets::{self, SecretRow};
use crate::repositories::epochs::Epoch;
use crate::tenancy::TenantScope;

/// The default number of connections whose credential rows are kept.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The shared cache; clones share it.
#[derive(Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
    /// Keeps this cache's subscription to the process's tenant writes alive.
    _subscription: Option<Arc<local_writes::Listener>>,
}

struct Inner {
    /// `None` when caching is off (capacity 0).
    rows: Option<Mutex<Rows>>,
    trust: Trust,
}

struct Rows {
    lru: LruCache<Uuid, Entry>,
    /// Raised by every invalidation: a lookup that started before one does not store
    /// its (possibly stale) answer.
    generation: u64,
}

struct Entry {
    tenant: Uuid,
    rows: Arc<[SecretRow]>,
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl CredentialCache {
    /// A cache of at most `capacity` connections (0: no caching at all). It serves
    /// nothing until [`CredentialCache::watch`] confirms it.
    pub fn new(capacity: usize) -> Self {
        let inner = Arc::new(Inner {
            rows: (capacity > 0).then(|| {
                Mutex::new(Rows {
                    lru: LruCache::new(capacity),
                    generation: 0,
                })
            }),
            trust: Trust::default(),
        });
        let subscription = inner.rows.is_some().then(|| {
            let weak = Arc::downgrade(&inner);
            let listener: Arc<local_writes::Listener> = Arc::new(move |tenant: TenantId| {
                if let Some(inner) = weak.upgrade() {
                    inner.forget_tenant(tenant.as_uuid());
                }
            });
            local_writes::subscribe(&listener);
            listener
        });
        Self {
            inner,
            _subscription: subscription,
        }
    }

    /// The connection's credential rows as `credential_secrets::read` returns them:
    /// from the cache when it is trusted and holds them for this tenant, else from the
    /// database (and then remembered, if there are any and nothing was invalidated
    /// meanwhile). Empty when the tenant has no such credential.
    pub async fn rows<C: TenantScope>(
        &self,
        db: &C,
        tenant: TenantId,
        connection: ConnectionId,
    ) -> Result<Arc<[SecretRow]>> {
        let Some(rows) = self.inner.rows.as_ref().filter(|_| self.trusted()) else {
            return Ok(credential_secrets::read(db, tenant, connection)
                .await?
                .into());
        };
        let generation = {
            let mut cached = lock(rows);
            if let Some(hit) = cached.lru.get(&connection.as_uuid())
                && hit.tenant == tenant.as_uuid()
            {
                return Ok(hit.rows.clone());
            }
            cached.generation
        };
        let found: Arc<[SecretRow]> = credential_secrets::read(db, tenant, connection)
            .await?
            .into();
        if !found.is_empty() {
            let mut cached = lock(rows);
            if cached.generation == generation {
                cached.lru.insert(
                    connection.as_uuid(),
                    Entry {
                        tenant: tenant.as_uuid(),
                        rows: found.clone(),
                    },
                );
            }
        }
        Ok(found)
    }

    /// Starts keeping this cache true against `db` on the current runtime. Until the
    /// first check succeeds, and whenever checks fail for longer than
    /// `cache_watch::TRUST_FOR`, every read goes to the database.
    pub fn watch(&self, db: DatabaseConnection) -> Watching {
        cache_watch::watch(self, db)
    }

    /// Whether the cache may serve now.
    pub fn trusted(&self) -> bool {
        self.inner.trust.trusted()
    }

    /// How many connections are cached.
    pub fn len(&self) -> usize {
        self.inner.rows.as_ref().map_or(0, |r| lock(r).lru.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        if let Some(rows) = &self.inner.rows {
            let mut rows = lock(rows);
            rows.generation += 1;
            rows.lru.clear();
        }
    }

    /// Forgets the connection with this id.
    pub fn forget(&self, connection: Uuid) {
        if let Some(rows) = &self.inner.rows {
            let mut rows = lock(rows);
            rows.generation += 1;
            rows.lru.remove(&connection);
        }
    }
}

impl Inner {
    fn forget_tenant(&self, tenant: Uuid) {
        if let Some(rows) = &self.rows {
            let mut rows = lock(rows);
            rows.generation += 1;
            rows.lru.retain(|_, entry| entry.tenant != tenant);
        }
    }
}

impl Watched for CredentialCache {
    const NAME: &'static str = "credential cache";
    const EPOCH: Epoch = Epoch::Credentials;

    fn trust(&self) -> &Trust {
        &self.inner.trust
    }

    fn invalidate_all(&self) {
        CredentialCache::invalidate_all(self)
    }

    fn forget(&self, id: Uuid) {
        CredentialCache::forget(self, id)
    }
}

fn lock(rows: &Mutex<Rows>) -> MutexGuard<'_, Rows> {
    // A panic while holding the lock cannot leave the map half-changed in a way that
    // matters: at worst an entry is missing and is read again.
    rows.lock().unwrap_or_else(|e| e.into_inner())
}
