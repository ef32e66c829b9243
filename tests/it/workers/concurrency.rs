//! Two workers claim and complete concurrently until the queue is empty: every run is
//! handed out once and completed exactly once (500 runs on PostgreSQL, where claims
//! skip each other's locked rows; 100 on SQLite, where they take turns at its write
//! lock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use connvault::models::operation_run::RunOutcome;
use connvault::repositories::tenants;
use connvault::services::operations::{self, Completion};
use secrecy::ExposeSecret;

use super::*;
use crate::on_both_backends;
use crate::support::{Backend, TestDb};

async fn two_workers_complete_every_run_exactly_once(t: TestDb) {
    let total = match t.backend {
        Backend::Postgres => 500,
        Backend::Sqlite => 100,
    };
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 3, 300).await;
    let mut runs = Vec::new();
    for i in 0..5 {
        let tenant = tenants::create(&t.db, &format!("T{i}"))
            .await
            .unwrap()
            .tenant_id();
        let conn = stripe(
            &t,
            &keyring,
            tenant,
            "acct_1",
            &format!("sk_live_concurrency_{i}_0001"),
        )
        .await;
        runs.extend(enqueue_many(&t, &conn, SYNC, total / 5).await);
    }
    // Who completed what; a run completed twice would show up twice.
    let completions: Arc<Mutex<HashMap<uuid::Uuid, Vec<usize>>>> = Default::default();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..2 {
        let (w, _) = worker(&t, &format!("worker {n}")).await;
        let db = t.db.clone();
        let completions = completions.clone();
        tasks.spawn(async move {
            let types = [SYNC.to_owned()];
            let done = Completion {
                outcome: RunOutcome::Succeeded,
                summary_counts: None,
                failure_summary: None,
            };
            let mut claims = 0;
            loop {
                let claimed = operations::claim(&db, &w, &types, 10, &public_url())
                    .await
                    .expect("claim");
                claims += 1;
                record_tokens(&claimed);
                if claimed.runs.is_empty() {
                    return claims;
                }
                for run in &claimed.runs {
                    let token = run.claim_token.expose_secret();
                    operations::complete(&db, &w, run.run.id, token, &done)
                        .await
                        .expect("complete");
                    completions
                        .lock()
                        .unwrap()
                        .entry(run.run.id)
                        .or_default()
                        .push(n);
                }
            }
        });
    }
    let mut per_worker = Vec::new();
    while let Some(claims) = tasks.join_next().await {
        per_worker.push(claims.unwrap());
    }
    let completions = completions.lock().unwrap().clone();
    assert_eq!(completions.len(), total, "every run completed");
    for (id, by) in completions.iter() {
        assert_eq!(by.len(), 1, "run {id} completed by {by:?}");
    }
    for id in &runs {
        assert!(completions.contains_key(id));
    }
    let completed = t
        .count(
            "operation_runs WHERE status = 'completed' AND outcome = 'succeeded' AND attempt = 1",
        )
        .await;
    assert_eq!(completed, total as i64);
    assert_eq!(
        t.count("operation_runs WHERE claim_token_hash IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        t.count("activity_log WHERE action = 'operation_completed'")
            .await,
        total as i64
    );
    assert!(per_worker.iter().all(|c| *c >= 1));
}

on_both_backends!(two_workers_complete_every_run_exactly_once);
