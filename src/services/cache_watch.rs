//! What keeps a per-process cache of database rows true across replicas: the periodic
//! check of the rows' change counter (both backends, `repositories::epochs`) and, on
//! PostgreSQL, a listener for the changing transactions' notifications.
//!
//! A cache is trusted only while its checks succeed: one not confirmed by a check that
//! started within [`TRUST_FOR`] is bypassed (every lookup goes to the database), so a
//! change committed anywhere reaches this process within [`TRUST_FOR`] even when
//! notifications are lost. A notification evicts its row within milliseconds; a lost
//! listening connection forgets the whole cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::repositories::epochs::{self, Change, Epoch};

/// How often the change counter is read.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long after the start of its last successful check a cache is trusted: the
/// longest a change can go unseen when every notification is lost.
pub const TRUST_FOR: Duration = Duration::from_millis(750);

/// How long to wait before listening again after the listening connection failed.
const RELISTEN_AFTER: Duration = Duration::from_millis(500);

/// When a cache was last confirmed by a successful check.
pub struct Trust {
    /// Time origin of `confirmed`.
    origin: Instant,
    /// Milliseconds after `origin` (plus one, so 0 means never) at which the last
    /// successful check started.
    confirmed: AtomicU64,
}

impl Default for Trust {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
        }
    }
}

impl Trust {
    /// Whether the last successful check started within [`TRUST_FOR`].
    pub fn trusted(&self) -> bool {
        let confirmed = self.confirmed.load(Ordering::Acquire);
        confirmed != 0 && self.millis(Instant::now()) < confirmed + TRUST_FOR.as_millis() as u64
    }

    /// Records a successful check that started at `started`.
    fn confirm(&self, started: Instant) {
        self.confirmed
            .fetch_max(self.millis(started), Ordering::AcqRel);
    }

    /// Stops trusting until the next successful check.
    fn distrust(&self) {
        self.confirmed.store(0, Ordering::Release);
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64 + 1
    }
}

/// A cache that [`watch`] can keep true.
pub trait Watched: Clone + Send + Sync + 'static {
    /// What the cache holds, for log lines ("API-key cache").
    const NAME: &'static str;
    /// The counter and channel of the rows it holds.
    const EPOCH: Epoch;
    fn trust(&self) -> &Trust;
    /// Forgets everything.
    fn invalidate_all(&self);
    /// Forgets what it holds of the row with this id.
    fn forget(&self, id: Uuid);
}

/// The watch tasks of one cache; [`Watching::stop`] ends them.
pub struct Watching {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Watching {
    /// Stops watching; the cache is no longer trusted afterwards.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts keeping `cache` true against `db` on the current runtime. Until the first
/// check succeeds, and whenever checks fail for longer than [`TRUST_FOR`], the cache is
/// not trusted.
pub fn watch<W: Watched>(cache: &W, db: DatabaseConnection) -> Watching {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tasks.spawn(check_loop(cache.clone(), db.clone(), stopped.clone()));
    tasks.spawn(listen_loop(cache.clone(), db, stopped));
    Watching { stop, tasks }
}

/// One check: reads the counter and forgets everything when it moved since `last`.
/// Returns the value read.
async fn check<W: Watched>(
    cache: &W,
    db: &DatabaseConnection,
    last: Option<i64>,
) -> crate::Result<i64> {
    let started = Instant::now();
    let version = epochs::version(db, W::EPOCH).await?;
    if last != Some(version) {
        cache.invalidate_all();
    }
    cache.trust().confirm(started);
    Ok(version)
}

async fn check_loop<W: Watched>(
    cache: W,
    db: DatabaseConnection,
    mut stopped: watch::Receiver<bool>,
) {
    let mut last = None;
    let mut failing = false;
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = every.tick() => {}
        }
        match check(&cache, &db, last).await {
            Ok(version) => {
                if failing {
                    tracing::info!(cache = W::NAME, "cache checks succeed again");
                }
                failing = false;
                last = Some(version);
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(cache = W::NAME, error = %err, "cache check failed; rows are read from the database until it succeeds");
                }
                failing = true;
            }
        }
    }
    cache.trust().distrust();
}

async fn listen_loop<W: Watched>(
    cache: W,
    db: DatabaseConnection,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let mut changes = match epochs::listen(&db, W::EPOCH).await {
            Ok(Some(changes)) => changes,
            // SQLite: the counter's checks alone keep the cache true.
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(cache = W::NAME, error = %err, "cannot listen for changes; retrying");
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(RELISTEN_AFTER) => continue,
                }
            }
        };
        // Anything changed before the listener was in place is not announced to it.
        cache.invalidate_all();
        loop {
            let change = tokio::select! {
                _ = stopped.changed() => return,
                change = changes.next() => change,
            };
            match change {
                Ok(Change::Row(id)) => cache.forget(id),
                Ok(Change::Unknown) => cache.invalidate_all(),
                Ok(Change::Reconnected) => {
                    tracing::warn!(
                        cache = W::NAME,
                        "the change listener reconnected; cache cleared"
                    );
                    cache.invalidate_all();
                }
                Err(err) => {
                    tracing::warn!(cache = W::NAME, error = %err, "the change listener failed; cache cleared");
                    cache.invalidate_all();
                    break;
                }
            }
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(RELISTEN_AFTER) => {}
        }
    }
}
