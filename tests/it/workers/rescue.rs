//! The rescuer: a run whose worker went silent for longer than its heartbeat timeout
//! goes back to the queue, the silent worker's token stops working, and after the
//! last attempt the run fails with `worker_lost`. Time is passed in, not waited for.

use chrono::TimeDelta;
use connvault::Error;
use connvault::models::operation_run::{RunOutcome, RunStatus};
use connvault::repositories::tenants;
use connvault::services::operations::{self, Completion, RescueReport};
use secrecy::ExposeSecret;

use super::*;
use crate::on_both_backends;
use crate::support::TestDb;

/// Moves the run's last heartbeat `secs` into the past, as if its worker had been
/// silent that long (the owner's write: time is not waited for).
async fn silent_since(t: &TestDb, run: uuid::Uuid, secs: i64) {
    use connvault::models::operation_run;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    operation_run::Entity::update_many()
        .col_expr(
            operation_run::Column::HeartbeatAt,
            Expr::value(later(-secs)),
        )
        .filter(operation_run::Column::Id.eq(run))
        .exec(&t.owner)
        .await
        .unwrap();
}

fn later(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + TimeDelta::seconds(secs)
}

async fn a_silent_workers_run_is_requeued_and_its_old_token_refused(t: TestDb) {
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 3, 30).await;
    let tenant = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let conn = stripe(&t, &keyring, tenant, "acct_1", "sk_live_rescue_requeue_01").await;
    let run = enqueue(&t, &conn, SYNC).await;
    let lively = enqueue(&t, &conn, SYNC).await;
    let (dead, _) = worker(&t, "dead worker").await;
    let (alive, _) = worker(&t, "live worker").await;
    let types = [SYNC.to_owned()];
    let first = operations::claim(&t.db, &dead, &types, 1, &public_url())
        .await
        .unwrap();
    record_tokens(&first);
    let old = first.runs[0].claim_token.expose_secret().to_owned();
    assert_eq!(first.runs[0].run.id, run);
    let other = operations::claim(&t.db, &alive, &types, 1, &public_url())
        .await
        .unwrap();
    record_tokens(&other);
    let lively_token = other.runs[0].claim_token.expose_secret().to_owned();

    // Within the timeout nothing happens.
    let none = operations::rescue(&t.db, later(10)).await.unwrap();
    assert_eq!(none, RescueReport::default());
    assert_eq!(run_row(&t, run).await.status, RunStatus::Running);

    // The dead worker has been silent for a minute; the live one heartbeats.
    silent_since(&t, run, 60).await;
    operations::heartbeat(&t.db, &alive, lively, &lively_token)
        .await
        .unwrap();
    let report = operations::rescue(&t.db, later(0)).await.unwrap();
    assert_eq!(
        report,
        RescueReport {
            requeued: 1,
            failed: 0
        }
    );
    assert_eq!(run_row(&t, lively).await.status, RunStatus::Running);
    let row = run_row(&t, run).await;
    assert_eq!(row.status, RunStatus::Queued);
    assert_eq!(row.attempt, 1, "the lost attempt counts");
    assert!(row.claim_token_hash.is_none() && row.claimed_by.is_none());

    let lost = |r: Result<_, Error>| matches!(r, Err(Error::ClaimLost));
    assert!(lost(operations::heartbeat(&t.db, &dead, run, &old).await));
    let done = Completion {
        outcome: RunOutcome::Succeeded,
        summary_counts: None,
        failure_summary: None,
    };
    assert!(lost(
        operations::complete(&t.db, &dead, run, &old, &done).await
    ));

    // Claimed again: the next attempt, a new token; the old one still opens nothing.
    let again = operations::claim(&t.db, &alive, &types, 10, &public_url())
        .await
        .unwrap();
    record_tokens(&again);
    let reclaimed = again
        .runs
        .iter()
        .find(|r| r.run.id == run)
        .expect("requeued run");
    assert_eq!(reclaimed.run.attempt, 2);
    let new = reclaimed.claim_token.expose_secret();
    assert_ne!(new, old);
    assert!(lost(operations::heartbeat(&t.db, &dead, run, &old).await));
    assert!(lost(
        operations::complete(&t.db, &alive, run, &old, &done).await
    ));
    operations::complete(&t.db, &alive, run, new, &done)
        .await
        .unwrap();
    assert_eq!(run_row(&t, run).await.outcome, RunOutcome::Succeeded);
    assert_eq!(entries(&t, "operation_completed", run).await, 1);
}

async fn a_run_fails_with_worker_lost_after_its_last_attempt(t: TestDb) {
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 2, 5).await;
    let tenant = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let conn = stripe(&t, &keyring, tenant, "acct_1", "sk_live_rescue_lost_0001").await;
    let run = enqueue(&t, &conn, SYNC).await;
    let (w, _) = worker(&t, "flaky worker").await;
    let types = [SYNC.to_owned()];

    let one = operations::claim(&t.db, &w, &types, 1, &public_url())
        .await
        .unwrap();
    record_tokens(&one);
    assert_eq!(one.runs[0].run.attempt, 1);
    let report = operations::rescue(&t.db, later(60)).await.unwrap();
    assert_eq!(
        report,
        RescueReport {
            requeued: 1,
            failed: 0
        }
    );

    let two = operations::claim(&t.db, &w, &types, 1, &public_url())
        .await
        .unwrap();
    record_tokens(&two);
    assert_eq!(two.runs[0].run.attempt, 2);
    let token = two.runs[0].claim_token.expose_secret().to_owned();
    let report = operations::rescue(&t.db, later(120)).await.unwrap();
    assert_eq!(
        report,
        RescueReport {
            requeued: 0,
            failed: 1
        }
    );

    let row = run_row(&t, run).await;
    assert_eq!(row.status, RunStatus::Completed);
    assert_eq!(row.outcome, RunOutcome::Failed);
    assert_eq!(row.reason_code.as_deref(), Some("worker_lost"));
    assert_eq!(row.failure_summary.unwrap()["reason_code"], "worker_lost");
    assert!(row.claim_token_hash.is_none() && row.completed_at.is_some());
    assert_eq!(entries(&t, "operation_completed", run).await, 1);
    assert!(matches!(
        operations::heartbeat(&t.db, &w, run, &token).await,
        Err(Error::ClaimLost)
    ));
    // Nothing is queued, nothing more to rescue.
    assert!(
        operations::claim(&t.db, &w, &types, 1, &public_url())
            .await
            .unwrap()
            .runs
            .is_empty()
    );
    assert_eq!(
        operations::rescue(&t.db, later(600)).await.unwrap(),
        RescueReport::default()
    );
}

on_both_backends!(
    a_silent_workers_run_is_requeued_and_its_old_token_refused,
    a_run_fails_with_worker_lost_after_its_last_attempt,
);
