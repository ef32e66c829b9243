//! The rescuer: a run whose worker stopped heartbeating for longer than the run's
//! heartbeat timeout is taken back. Its claim token stops working at once; the run goes
//! back to the queue, where the next claim is its next attempt, or, when the lost
//! attempt was its last (`attempt >= max_attempts`), it is completed as `failed` with
//! reason `worker_lost` and an `operation_completed` activity entry. `serve` runs
//! [`rescue`] periodically (the `rescue_operations` job); an embedding backend may call
//! it itself.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use super::worker::record;
use crate::error::Result;
use crate::models::activity::Action;
use crate::repositories::activity::Actor;
use crate::repositories::begin_write;
use crate::repositories::operations::rescue as repo;

/// The actor of the rescuer's activity entries.
pub const ACTOR: &str = "connvault rescuer";

/// Runs taken back in one transaction.
const BATCH: u32 = 200;

/// What a pass of the rescuer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Put back in the queue for another attempt.
    pub requeued: u64,
    /// Completed as failed with `worker_lost` (no attempt left).
    pub failed: u64,
}

/// Takes back every running run whose heartbeat is older than its timeout at `now`,
/// in batches, each in one transaction; a run locked elsewhere meanwhile (a heartbeat
/// or completion being written) is left for the next pass.
pub async fn rescue(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<RescueReport> {
    let mut report = RescueReport::default();
    let actor = Actor::system(ACTOR);
    loop {
        let txn = begin_write(db).await?;
        let stale = repo::lock_stale(&txn, now, BATCH).await?;
        let full = stale.len() as u32 == BATCH;
        let at = crate::repositories::now();
        for run in &stale {
            let tenant = run.tenant();
            if run.attempt >= run.max_attempts {
                if let Some(done) = repo::fail_lost(&txn, tenant, run.id, run.attempt, at).await? {
                    record(&txn, tenant, &actor, &done, Action::OperationCompleted).await?;
                    report.failed += 1;
                }
            } else if repo::requeue(&txn, tenant, run.id, run.attempt, at).await? {
                report.requeued += 1;
            }
        }
        txn.commit().await?;
        if !full {
            return Ok(report);
        }
    }
}

/// [`rescue`] as of now, logging what it did: the periodic job of `serve`.
pub async fn logged_pass(db: &DatabaseConnection) -> Result<()> {
    let report = rescue(db, crate::repositories::now()).await?;
    if report.requeued > 0 || report.failed > 0 {
        tracing::warn!(
            requeued = report.requeued,
            failed = report.failed,
            "operation runs of lost workers taken back"
        );
    }
    Ok(())
}
