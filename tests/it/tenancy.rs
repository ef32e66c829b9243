//! A tenant scope ends the same way whatever it is given: a transaction it opened
//! commits exactly when its work succeeds, and inside a caller's transaction the
//! caller's commit decides. There is no handle to forget to finish.

use connvault::error::Error;
use connvault::models::TenantId;
use connvault::models::activity::Action;
use connvault::repositories::activity::{self, Actor, Entry};
use connvault::tenancy::{self, TenantTxn};

use crate::on_both_backends;
use crate::support::{self, TestDb};

fn entry() -> Entry<'static> {
    Entry {
        connection_id: None,
        provider_slug: None,
        action: Action::Connected,
        details: serde_json::json!({}),
    }
}

async fn entries(t: &TestDb, tenant: TenantId) -> usize {
    activity::list(&t.db, tenant, Default::default(), Default::default())
        .await
        .unwrap()
        .items
        .len()
}

async fn work_on_a_pool_commits_when_it_succeeds_and_rolls_back_when_it_fails(t: TestDb) {
    let tenant = support::tenant(&t).await;
    let actor = Actor::system("test");
    let done: Result<(), Error> = tenancy::write(&t.db, tenant, async |scope| {
        activity::record(scope, tenant, &actor, entry()).await?;
        Ok(())
    })
    .await;
    done.unwrap();
    assert_eq!(entries(&t, tenant).await, 1, "committed");

    let failed: Result<(), Error> = tenancy::write(&t.db, tenant, async |scope| {
        activity::record(scope, tenant, &actor, entry()).await?;
        Err(Error::NotFound("something after the write"))
    })
    .await;
    assert!(matches!(failed, Err(Error::NotFound(_))));
    assert_eq!(entries(&t, tenant).await, 1, "the failed work left nothing");
}

async fn inside_a_tenant_transaction_the_callers_commit_decides(t: TestDb) {
    let tenant = support::tenant(&t).await;
    let actor = Actor::system("test");
    let txn = TenantTxn::begin_write(&t.db, tenant).await.unwrap();
    activity::record(&txn, tenant, &actor, entry())
        .await
        .unwrap();
    drop(txn);
    assert_eq!(entries(&t, tenant).await, 0, "dropped: rolled back");

    let txn = TenantTxn::begin_write(&t.db, tenant).await.unwrap();
    activity::record(&txn, tenant, &actor, entry())
        .await
        .unwrap();
    activity::record(&txn, tenant, &actor, entry())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(entries(&t, tenant).await, 2, "committed with the caller");

    // A scope of another tenant is refused inside it, on both backends.
    let other = support::tenant(&t).await;
    let txn = TenantTxn::begin(&t.db, tenant).await.unwrap();
    let refused: Result<(), Error> = tenancy::read(&txn, other, async |_| Ok(())).await;
    assert!(refused.is_err());
}

on_both_backends!(
    work_on_a_pool_commits_when_it_succeeds_and_rolls_back_when_it_fails,
    inside_a_tenant_transaction_the_callers_commit_decides,
);
