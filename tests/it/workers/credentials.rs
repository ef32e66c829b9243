//! A worker reads the credential of a run's connection only while it holds that run's
//! claim: never another run's connection, never before the claim or after the run
//! completed or was taken back.

use connvault::Error;
use connvault::models::operation_run::RunOutcome;
use connvault::repositories::tenants;
use connvault::services::operations::{self, Completion};
use connvault::services::refresh::{RefreshOptions, Refresher};
use secrecy::ExposeSecret;

use super::*;
use crate::on_both_backends;
use crate::support::TestDb;

async fn a_worker_reads_a_credential_only_while_it_holds_the_runs_claim(t: TestDb) {
    let keyring = t.keyring().await;
    let refresher = Refresher::new(t.db.clone(), keyring.clone(), RefreshOptions::default());
    register_type(&t, SYNC, "stripe", 3, 30).await;
    let acme = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let globex = tenants::create(&t.db, "Globex").await.unwrap().tenant_id();
    let acme_secret = "sk_live_worker_cred_acme_7f6e5d4c";
    let globex_secret = "sk_live_worker_cred_globex_3b2a1908";
    let a = stripe(&t, &keyring, acme, "acct_acme", acme_secret).await;
    let g = stripe(&t, &keyring, globex, "acct_globex", globex_secret).await;
    let run_a = enqueue(&t, &a, SYNC).await;
    let run_g = enqueue(&t, &g, SYNC).await;
    let (w, _) = worker(&t, "w").await;
    let (other, _) = worker(&t, "other").await;

    let claimed = operations::claim(&t.db, &w, &[SYNC.to_owned()], 2, &public_url())
        .await
        .unwrap();
    record_tokens(&claimed);
    let token = |id| {
        claimed
            .runs
            .iter()
            .find(|r| r.run.id == id)
            .unwrap()
            .claim_token
            .expose_secret()
            .to_owned()
    };
    let (token_a, token_g) = (token(run_a), token(run_g));
    let read = |worker: &Worker, run, token: String| {
        let (db, refresher, worker) = (t.db.clone(), refresher.clone(), worker.clone());
        async move { operations::credential(&db, &refresher, &worker, run, &token).await }
    };
    let secret_of = |r: Result<_, Error>| {
        let (_, _, read): (_, _, connvault::services::credentials::CredentialRead) = r.unwrap();
        read.credential.fields()[0].1.expose_secret().to_owned()
    };
    let lost = |r: Result<_, Error>| matches!(r, Err(Error::ClaimLost));

    let (tenant, connection, _) = read(&w, run_a, token_a.clone()).await.unwrap();
    assert_eq!((tenant, connection.as_uuid()), (acme, a.id));
    assert_eq!(
        secret_of(read(&w, run_a, token_a.clone()).await),
        acme_secret
    );
    assert_eq!(
        secret_of(read(&w, run_g, token_g.clone()).await),
        globex_secret
    );
    // Another run's token, another worker, a made-up token: nothing.
    assert!(lost(read(&w, run_a, token_g.clone()).await));
    assert!(lost(read(&w, run_g, token_a.clone()).await));
    assert!(lost(read(&other, run_a, token_a.clone()).await));
    assert!(lost(read(&w, run_a, "cvr_made-up".to_owned()).await));

    // Completed: the token reads nothing any more.
    let done = Completion {
        outcome: RunOutcome::Succeeded,
        summary_counts: None,
        failure_summary: None,
    };
    operations::complete(&t.db, &w, run_a, &token_a, &done)
        .await
        .unwrap();
    assert!(lost(read(&w, run_a, token_a.clone()).await));
    // Taken back: neither.
    operations::rescue(&t.db, chrono::Utc::now() + chrono::TimeDelta::seconds(120))
        .await
        .unwrap();
    assert!(lost(read(&w, run_g, token_g.clone()).await));
}

/// A queued run has no claim yet: nobody can read its credential through it.
async fn a_queued_run_opens_no_credential(t: TestDb) {
    let keyring = t.keyring().await;
    let refresher = Refresher::new(t.db.clone(), keyring.clone(), RefreshOptions::default());
    register_type(&t, SYNC, "stripe", 3, 30).await;
    let tenant = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let conn = stripe(
        &t,
        &keyring,
        tenant,
        "acct_1",
        "sk_live_worker_cred_queued_01",
    )
    .await;
    let run = enqueue(&t, &conn, SYNC).await;
    let (w, _) = worker(&t, "w").await;
    for token in ["", "cvr_", "cv_not_a_claim_token_at_all"] {
        assert!(matches!(
            operations::credential(&t.db, &refresher, &w, run, token).await,
            Err(Error::ClaimLost)
        ));
    }
}

on_both_backends!(
    a_worker_reads_a_credential_only_while_it_holds_the_runs_claim,
    a_queued_run_opens_no_credential,
);
