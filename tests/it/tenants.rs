//! The tenant repository.

use connvault::Error;
use connvault::models::TenantId;
use connvault::repositories::tenants;

use crate::support::TestDb;

async fn create_get_and_list_tenants(t: TestDb) {
    let a = tenants::create(&t.db, "  Acme  ").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let b = tenants::create(&t.db, "Globex").await.unwrap();
    assert_eq!(a.name, "Acme", "names are trimmed");
    let got = tenants::get(&t.db, a.tenant_id()).await.unwrap().unwrap();
    assert_eq!(got, a);
    assert!(
        tenants::get(&t.db, TenantId::new_v4())
            .await
            .unwrap()
            .is_none()
    );
    let ids: Vec<_> = tenants::list(&t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, vec![a.id, b.id]);
}

async fn a_bad_tenant_name_is_refused_and_nothing_is_written(t: TestDb) {
    for bad in ["", "   ", &"x".repeat(201), "a\u{0}b"] {
        match tenants::create(&t.db, bad).await {
            Err(Error::Invalid { field: "name", .. }) => {}
            other => panic!("expected invalid name for {bad:?}, got {other:?}"),
        }
    }
    assert_eq!(t.count("tenants").await, 0);
}

crate::on_both_backends!(
    create_get_and_list_tenants,
    a_bad_tenant_name_is_refused_and_nothing_is_written,
);
