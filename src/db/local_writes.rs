//! In-process news of tenant-scoped writes, for the caches of tenant rows this process
//! keeps (`services::credential_cache`). Every write through `tenancy::write` announces
//! its tenant once its own transaction has committed (or, inside a caller's
//! transaction, when the repository call returns), and a [`crate::tenancy::TenantTxn`]
//! that wrote announces again after its commit; so a request of this process that
//! follows a committed write never reads a cached row of that tenant from before it.
//! Changes made by other processes arrive through the database instead
//! (`services::cache_watch`).

use std::sync::{Arc, Mutex, Weak};

use crate::models::TenantId;

/// What a cache does when one of its tenants was written.
pub type Listener = dyn Fn(TenantId) + Send + Sync;

static LISTENERS: Mutex<Vec<Weak<Listener>>> = Mutex::new(Vec::new());

/// Calls `listener` after every tenant-scoped write of this process, for as long as
/// the caller keeps it.
pub fn subscribe(listener: &Arc<Listener>) {
    let mut listeners = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
    listeners.retain(|l| l.strong_count() > 0);
    listeners.push(Arc::downgrade(listener));
}

/// Tells every listener that `tenant`'s rows were written.
pub fn announce(tenant: TenantId) {
    let live: Vec<Arc<Listener>> = {
        let listeners = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
        if listeners.is_empty() {
            return;
        }
        listeners.iter().filter_map(Weak::upgrade).collect()
    };
    for listener in live {
        listener(tenant);
    }
}
