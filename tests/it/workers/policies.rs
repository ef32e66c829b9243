//! PostgreSQL: the workers' paths across tenants are as narrow as they claim. As the
//! service role, with raw SQL: without a function, a tenant's scope sees only its runs;
//! the claim's policy lets other tenants' queued runs be seen and locked but never
//! written; each function clears its setting before it returns; a claim token's run is
//! visible only with that token's hash.

use connvault::repositories::tenants;
use connvault::services::operations;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::*;
use crate::support::TestDb;

async fn count<C: ConnectionTrait>(db: &C, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn exec<C: ConnectionTrait>(db: &C, sql: &str) -> Result<u64, sea_orm::DbErr> {
    db.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map(|r| r.rows_affected())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_paths_across_tenants_are_narrow() {
    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    register_type(&t, SYNC, "stripe", 3, 60).await;
    let acme = tenants::create(&t.db, "Acme").await.unwrap().tenant_id();
    let globex = tenants::create(&t.db, "Globex").await.unwrap().tenant_id();
    let a = stripe(&t, &keyring, acme, "acct_a", "sk_live_policies_acme_0001").await;
    let g = stripe(
        &t,
        &keyring,
        globex,
        "acct_g",
        "sk_live_policies_globex_001",
    )
    .await;
    enqueue(&t, &a, SYNC).await;
    let foreign = enqueue(&t, &g, SYNC).await;

    // A tenant's scope: its own runs only; no scope: none.
    let txn = t.db.begin().await.unwrap();
    exec(
        &txn,
        &format!("SELECT set_config('connvault.tenant_id', '{acme}', true)"),
    )
    .await
    .unwrap();
    assert_eq!(count(&txn, "SELECT count(*) FROM operation_runs").await, 1);
    // The claim's setting shows every tenant's queued runs, but writes none of another.
    exec(
        &txn,
        "SELECT set_config('connvault.operation_queue', 'claim', true)",
    )
    .await
    .unwrap();
    assert_eq!(count(&txn, "SELECT count(*) FROM operation_runs").await, 2);
    let write = exec(
        &txn,
        &format!("UPDATE operation_runs SET status = 'running' WHERE id = '{foreign}'"),
    )
    .await;
    assert!(
        write
            .as_ref()
            .is_err_and(|e| e.to_string().contains("row-level security")),
        "{write:?}"
    );
    txn.rollback().await.unwrap();
    assert_eq!(count(&t.db, "SELECT count(*) FROM operation_runs").await, 0);

    // The functions clear their settings: after a claim's lock, nothing more is seen.
    let txn = t.db.begin().await.unwrap();
    let locked = count(
        &txn,
        "SELECT count(*) FROM connvault_claim_queued('[\"inventory.sync\"]'::json, 10)",
    )
    .await;
    assert_eq!(locked, 2);
    assert_eq!(count(&txn, "SELECT count(*) FROM operation_runs").await, 0);
    assert_eq!(
        count(
            &txn,
            "SELECT count(*) FROM connvault_stale_runs(now() + interval '1 day', 10)"
        )
        .await,
        0
    );
    txn.rollback().await.unwrap();

    // A claim token finds its own run, and nothing else does.
    let (w, _) = worker(&t, "w").await;
    let claimed = operations::claim(&t.db, &w, &[SYNC.to_owned()], 1, &public_url())
        .await
        .unwrap();
    record_tokens(&claimed);
    let token = claimed.runs[0].claim_token.expose_secret();
    let hash: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let find =
        |hash: String| format!("SELECT count(*) FROM connvault_find_claim('\\x{hash}'::bytea)");
    assert_eq!(count(&t.db, &find(hash.clone())).await, 1);
    assert_eq!(count(&t.db, &find("00".repeat(32))).await, 0);
    assert_eq!(
        count(
            &t.db,
            &format!(
                "SELECT count(*) FROM operation_runs WHERE claim_token_hash = '\\x{hash}'::bytea"
            )
        )
        .await,
        0,
        "without the function the run stays hidden"
    );
}
