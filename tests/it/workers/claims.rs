//! Claims through the library: oldest first across tenants, only the types asked for,
//! each run once with its own token; the gate asked again at claim.

use connvault::Error;
use connvault::models::ConnectionId;
use connvault::models::operation_run::{RunOutcome, RunStatus};
use connvault::repositories::activity::Actor;
use connvault::repositories::tenants;
use connvault::services::connections::disconnect;
use connvault::services::operations::{self, Completion};
use secrecy::ExposeSecret;

use super::*;
use crate::on_both_backends;
use crate::support::TestDb;

async fn a_claim_takes_the_oldest_queued_runs_of_its_types_from_every_tenant(t: TestDb) {
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 3, 60).await;
    register_type(&t, "billing.export", "stripe", 3, 60).await;
    let acme = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let globex = tenants::create(&t.db, "Globex").await.unwrap().tenant_id();
    let a = stripe(&t, &keyring, acme, "acct_acme", "sk_live_claims_acme_0001").await;
    let g = stripe(
        &t,
        &keyring,
        globex,
        "acct_globex",
        "sk_live_claims_globex_0001",
    )
    .await;
    let first = enqueue_many(&t, &a, SYNC, 2).await;
    let other_type = enqueue(&t, &g, "billing.export").await;
    let later = enqueue_many(&t, &g, SYNC, 2).await;
    let (w, _) = worker(&t, "worker one").await;
    let types = vec![SYNC.to_owned()];

    let claimed = operations::claim(&t.db, &w, &types, 3, &public_url())
        .await
        .unwrap();
    record_tokens(&claimed);
    let ids: Vec<_> = claimed.runs.iter().map(|r| r.run.id).collect();
    assert_eq!(
        ids,
        [first[0], first[1], later[0]],
        "oldest first, across tenants"
    );
    let mut tokens: Vec<_> = claimed
        .runs
        .iter()
        .map(|r| r.claim_token.expose_secret().to_owned())
        .collect();
    assert!(
        tokens
            .iter()
            .all(|t| t.starts_with("cvr_") && t.len() == 47)
    );
    tokens.dedup();
    assert_eq!(tokens.len(), 3, "a token per run");
    for r in &claimed.runs {
        assert_eq!(r.run.status, RunStatus::Running);
        assert_eq!(r.run.outcome, RunOutcome::Pending);
        assert_eq!(r.run.attempt, 1);
        assert_eq!(r.run.claimed_by, Some(w.key_id));
        assert!(r.run.heartbeat_at.is_some() && r.run.started_at.is_some());
        let stored = run_row(&t, r.run.id).await;
        assert_eq!(stored.status, RunStatus::Running);
        let hash = stored.claim_token_hash.expect("the token's hash is stored");
        assert_eq!(hash.len(), 32);
        assert_ne!(
            hash,
            r.claim_token.expose_secret().as_bytes(),
            "never the token"
        );
    }

    let again = operations::claim(&t.db, &w, &types, 10, &public_url())
        .await
        .unwrap();
    record_tokens(&again);
    assert_eq!(again.runs.len(), 1);
    assert_eq!(again.runs[0].run.id, later[1]);
    let empty = operations::claim(&t.db, &w, &types, 10, &public_url())
        .await
        .unwrap();
    assert!(empty.runs.is_empty() && empty.blocked.is_empty());
    assert_eq!(
        run_row(&t, other_type).await.status,
        RunStatus::Queued,
        "not asked for"
    );
}

async fn a_claim_refuses_bad_input_and_changes_nothing(t: TestDb) {
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 3, 60).await;
    let tenant = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let conn = stripe(
        &t,
        &keyring,
        tenant,
        "acct_1",
        "sk_live_claims_bad_input_01",
    )
    .await;
    let run = enqueue(&t, &conn, SYNC).await;
    let (w, _) = worker(&t, "w").await;
    let url = public_url();
    for (types, limit, field) in [
        (vec![SYNC.to_owned()], 0, "limit"),
        (vec![SYNC.to_owned()], 101, "limit"),
        (vec![], 1, "types"),
        (vec!["Not A Type".to_owned()], 1, "types"),
        (vec!["x".repeat(65)], 1, "types"),
    ] {
        match operations::claim(&t.db, &w, &types, limit, &url).await {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("{types:?} {limit} was accepted"),
        }
    }
    assert_eq!(run_row(&t, run).await.status, RunStatus::Queued);
}

/// A run whose connection was disconnected while it waited is not handed out: it is
/// completed as blocked, with the reason and link-only next steps, and recorded.
async fn a_run_whose_connection_was_revoked_while_queued_is_blocked_at_claim(t: TestDb) {
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 3, 60).await;
    let tenant = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let revoked = stripe(
        &t,
        &keyring,
        tenant,
        "acct_gone",
        "sk_live_claims_revoked_001",
    )
    .await;
    let blocked = enqueue(&t, &revoked, SYNC).await;
    let other = tenants::create(&t.db, "Globex").await.unwrap().tenant_id();
    let fine = stripe(
        &t,
        &keyring,
        other,
        "acct_fine",
        "sk_live_claims_fine_00001",
    )
    .await;
    let usable = enqueue(&t, &fine, SYNC).await;
    disconnect(
        &t.db,
        tenant,
        &Actor::system("admin"),
        ConnectionId::from_uuid(revoked.id),
    )
    .await
    .unwrap();

    let (w, _) = worker(&t, "w").await;
    let claimed = operations::claim(&t.db, &w, &[SYNC.to_owned()], 10, &public_url())
        .await
        .unwrap();
    record_tokens(&claimed);
    assert_eq!(claimed.runs.len(), 1);
    assert_eq!(claimed.runs[0].run.id, usable);
    assert_eq!(claimed.blocked.len(), 1);
    let row = run_row(&t, blocked).await;
    assert_eq!(row.status, RunStatus::Completed);
    assert_eq!(row.outcome, RunOutcome::Blocked);
    assert_eq!(row.reason_code.as_deref(), Some("connection_revoked"));
    assert!(row.claim_token_hash.is_none() && row.completed_at.is_some());
    let steps = row.next_steps.expect("next steps").0;
    assert!(!steps.is_empty());
    for step in &steps {
        assert!(
            step.url
                .starts_with("https://connvault.example.com/console/tenants/"),
            "{}",
            step.url
        );
    }
    assert_eq!(entries(&t, "operation_blocked", blocked).await, 1);
    assert_eq!(entries(&t, "operation_blocked", usable).await, 0);
    // Never handed out later either.
    let again = operations::claim(&t.db, &w, &[SYNC.to_owned()], 10, &public_url())
        .await
        .unwrap();
    assert!(again.runs.is_empty() && again.blocked.is_empty());
}

/// Heartbeat and completion hold only for the claim's token and its worker; a
/// completed run's token opens nothing.
async fn heartbeat_and_completion_need_the_runs_own_claim(t: TestDb) {
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 3, 60).await;
    let tenant = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let conn = stripe(&t, &keyring, tenant, "acct_1", "sk_live_claims_heartbeat_1").await;
    let runs = enqueue_many(&t, &conn, SYNC, 2).await;
    let (w, _) = worker(&t, "w").await;
    let (other_worker, _) = worker(&t, "other").await;
    let claimed = operations::claim(&t.db, &w, &[SYNC.to_owned()], 2, &public_url())
        .await
        .unwrap();
    record_tokens(&claimed);
    let (one, two) = (&claimed.runs[0], &claimed.runs[1]);
    let token_one = one.claim_token.expose_secret();
    let token_two = two.claim_token.expose_secret();

    let lost = |r: Result<_, Error>| matches!(r, Err(Error::ClaimLost));
    assert!(lost(
        operations::heartbeat(&t.db, &w, runs[0], token_two).await
    ));
    assert!(lost(
        operations::heartbeat(&t.db, &w, runs[0], "cvr_not-a-token").await
    ));
    assert!(lost(operations::heartbeat(&t.db, &w, runs[0], "").await));
    assert!(lost(
        operations::heartbeat(&t.db, &other_worker, runs[0], token_one).await
    ));
    let before = run_row(&t, runs[0]).await.heartbeat_at;
    let beat = operations::heartbeat(&t.db, &w, runs[0], token_one)
        .await
        .unwrap();
    assert!(beat.heartbeat_at >= before);
    assert_eq!(beat.status, RunStatus::Running);

    let done = Completion {
        outcome: RunOutcome::Succeeded,
        summary_counts: Some([("items_synced".to_owned(), 12)].into()),
        failure_summary: None,
    };
    assert!(lost(
        operations::complete(&t.db, &w, runs[0], token_two, &done).await
    ));
    let completed = operations::complete(&t.db, &w, runs[0], token_one, &done)
        .await
        .unwrap();
    assert_eq!(completed.status, RunStatus::Completed);
    assert_eq!(completed.outcome, RunOutcome::Succeeded);
    assert_eq!(
        completed.summary_counts,
        Some(serde_json::json!({"items_synced": 12}))
    );
    assert!(completed.claim_token_hash.is_none() && completed.completed_at.is_some());
    assert_eq!(entries(&t, "operation_completed", runs[0]).await, 1);
    assert!(lost(
        operations::complete(&t.db, &w, runs[0], token_one, &done).await
    ));
    assert!(lost(
        operations::heartbeat(&t.db, &w, runs[0], token_one).await
    ));
    assert_eq!(entries(&t, "operation_completed", runs[0]).await, 1, "once");
    assert_eq!(run_row(&t, runs[1]).await.status, RunStatus::Running);
}

/// What a worker reports is checked before anything is written, and a failure message
/// is kept as one bounded line without anything that looks like a credential.
async fn a_completion_is_checked_and_its_failure_summary_sanitized(t: TestDb) {
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 3, 60).await;
    let tenant = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let conn = stripe(&t, &keyring, tenant, "acct_1", "sk_live_claims_sanitize_01").await;
    let run = enqueue(&t, &conn, SYNC).await;
    let (w, _) = worker(&t, "w").await;
    let claimed = operations::claim(&t.db, &w, &[SYNC.to_owned()], 1, &public_url())
        .await
        .unwrap();
    record_tokens(&claimed);
    let token = claimed.runs[0].claim_token.expose_secret();
    let completion = |outcome, code: Option<&str>, message: Option<String>| Completion {
        outcome,
        summary_counts: None,
        failure_summary: Some(connvault::services::operations::FailureSummary {
            reason_code: code.map(str::to_owned),
            message,
        }),
    };
    for (c, field) in [
        (completion(RunOutcome::Cancelled, None, None), "outcome"),
        (completion(RunOutcome::Blocked, None, None), "outcome"),
        (completion(RunOutcome::Pending, None, None), "outcome"),
        (
            completion(RunOutcome::Failed, Some("Bad Code"), None),
            "failure_summary.reason_code",
        ),
        (
            completion(RunOutcome::Failed, None, Some("x".repeat(8193))),
            "failure_summary.message",
        ),
    ] {
        match operations::complete(&t.db, &w, run, token, &c).await {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{:?}", other.map(|r| r.id)),
        }
    }
    let many = Completion {
        outcome: RunOutcome::Succeeded,
        summary_counts: Some((0..51).map(|i| (format!("c{i}"), 1)).collect()),
        failure_summary: None,
    };
    assert!(matches!(
        operations::complete(&t.db, &w, run, token, &many).await,
        Err(Error::Invalid {
            field: "summary_counts",
            ..
        })
    ));
    assert_eq!(
        run_row(&t, run).await.status,
        RunStatus::Running,
        "nothing written"
    );

    let leaked = "sk_live_worker_leak_5f4e3d2c1b0a9f8e";
    secrets::record(leaked);
    let message = format!(
        "provider said:\nAuthorization: Bearer {leaked} rejected {}",
        "y".repeat(2000)
    );
    let failed = completion(RunOutcome::Failed, Some("provider_rejected"), Some(message));
    let row = operations::complete(&t.db, &w, run, token, &failed)
        .await
        .unwrap();
    assert_eq!(row.outcome, RunOutcome::Failed);
    assert_eq!(row.reason_code.as_deref(), Some("provider_rejected"));
    let summary = row.failure_summary.expect("summary");
    let stored = summary["message"].as_str().unwrap();
    assert!(
        !stored.contains(leaked) && !stored.contains('\n'),
        "{stored}"
    );
    assert!(stored.chars().count() <= 1000);
    assert_eq!(summary["reason_code"], "provider_rejected");
}

on_both_backends!(
    a_claim_takes_the_oldest_queued_runs_of_its_types_from_every_tenant,
    a_claim_refuses_bad_input_and_changes_nothing,
    a_run_whose_connection_was_revoked_while_queued_is_blocked_at_claim,
    heartbeat_and_completion_need_the_runs_own_claim,
    a_completion_is_checked_and_its_failure_summary_sanitized,
);
