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

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::cache_watch::{self, Trust, Watched, Watching};
use super::guarded_lru::{GuardedLru, Lookup};
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
    /// By connection id, with the tenant the rows belong to.
    rows: GuardedLru<Uuid, Entry>,
    trust: Trust,
}

#[derive(Clone)]
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
            rows: GuardedLru::new(capacity),
            trust: Trust::default(),
        });
        let subscription = inner.rows.enabled().then(|| {
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
        let cache = &self.inner.rows;
        if !cache.enabled() || !self.trusted() {
            return Ok(credential_secrets::read(db, tenant, connection)
                .await?
                .into());
        }
        let generation = match cache.get(&connection.as_uuid(), |e| e.tenant == tenant.as_uuid()) {
            Lookup::Hit(entry) => return Ok(entry.rows),
            Lookup::Miss(generation) => generation,
        };
        let found: Arc<[SecretRow]> = credential_secrets::read(db, tenant, connection)
            .await?
            .into();
        if !found.is_empty() {
            let entry = Entry {
                tenant: tenant.as_uuid(),
                rows: found.clone(),
            };
            cache.store(generation, connection.as_uuid(), entry);
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
        self.inner.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        self.inner.rows.clear();
    }

    /// Forgets the connection with this id.
    pub fn forget(&self, connection: Uuid) {
        self.inner.rows.forget(&connection);
    }
}

impl Inner {
    fn forget_tenant(&self, tenant: Uuid) {
        self.rows.retain(|_, entry| entry.tenant != tenant);
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
