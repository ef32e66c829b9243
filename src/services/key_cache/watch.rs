//! The task that keeps a [`KeyCache`] true: the periodic check of the key-change
//! counter (both backends) and, on PostgreSQL, the listener for the revoking
//! transactions' notifications.

use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{CHECK_EVERY, KeyCache};
use crate::repositories::key_epoch::{self, Change};

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

impl KeyCache {
    /// Starts keeping this cache true against `db` on the current runtime. Until the
    /// first check succeeds, and whenever checks fail for longer than
    /// [`super::TRUST_FOR`], every lookup goes to the database.
    pub fn watch(&self, db: DatabaseConnection) -> Watching {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(check_loop(self.clone(), db.clone(), stopped.clone()));
        tasks.spawn(listen_loop(self.clone(), db, stopped));
        Watching { stop, tasks }
    }

    /// One check: reads the counter and forgets everything when it moved since
    /// `last`. Returns the value read.
    async fn check(&self, db: &DatabaseConnection, last: Option<i64>) -> crate::Result<i64> {
        let started = Instant::now();
        let version = key_epoch::version(db).await?;
        if last != Some(version) {
            self.invalidate_all();
        }
        self.confirm(started);
        Ok(version)
    }
}

async fn check_loop(cache: KeyCache, db: DatabaseConnection, mut stopped: watch::Receiver<bool>) {
    let mut last = None;
    let mut failing = false;
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = every.tick() => {}
        }
        match cache.check(&db, last).await {
            Ok(version) => {
                if failing {
                    tracing::info!("API-key cache checks succeed again");
                }
                failing = false;
                last = Some(version);
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(error = %err, "API-key cache check failed; keys are read from the database until it succeeds");
                }
                failing = true;
            }
        }
    }
    cache.distrust();
}

/// How long to wait before listening again after the listening connection failed.
const RELISTEN_AFTER: Duration = Duration::from_millis(500);

async fn listen_loop(cache: KeyCache, db: DatabaseConnection, mut stopped: watch::Receiver<bool>) {
    loop {
        let mut changes = match key_epoch::listen(&db).await {
            Ok(Some(changes)) => changes,
            // SQLite: the counter's checks alone keep the cache true.
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for API-key changes; retrying");
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(RELISTEN_AFTER) => continue,
                }
            }
        };
        // Anything revoked before the listener was in place is not announced to it.
        cache.invalidate_all();
        loop {
            let change = tokio::select! {
                _ = stopped.changed() => return,
                change = changes.next() => change,
            };
            match change {
                Ok(Change::Key(id)) => cache.forget(id),
                Ok(Change::Unknown) => cache.invalidate_all(),
                Ok(Change::Reconnected) => {
                    tracing::warn!("the API-key change listener reconnected; cache cleared");
                    cache.invalidate_all();
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the API-key change listener failed; cache cleared");
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
