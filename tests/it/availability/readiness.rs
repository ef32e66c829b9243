//! `/readyz` through the router over a test database: each thing serving needs, broken
//! by hand, makes it answer 503 naming that check and why.

use axum::http::StatusCode;
use connvault::http::{AppState, router};
use serde_json::Value;

use crate::support::http::get_json;
use crate::support::{Backend, TestDb};

async fn readyz(t: &TestDb) -> (StatusCode, Value) {
    let app = router(AppState::new(t.db.clone(), t.keyring().await));
    get_json(&app, "/readyz").await
}

async fn ready_lists_every_check(t: TestDb) {
    let (status, body) = readyz(&t).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    for check in ["database", "schema", "keyring"] {
        assert_eq!(body["checks"][check], "ok", "{body}");
    }
}

async fn a_migration_not_applied_is_named(t: TestDb) {
    let keyring = t.keyring().await;
    let app = router(AppState::new(t.db.clone(), keyring));
    use migration::MigratorTrait;
    let migrations = migration::Migrator::migrations();
    let last = migrations.last().unwrap().name();
    assert_eq!(
        t.exec(&format!(
            "DELETE FROM seaql_migrations WHERE version = '{last}'"
        ))
        .await
        .unwrap(),
        1
    );
    let (status, body) = get_json(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "database_unavailable");
    assert_eq!(body["failed"], "schema");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains(last), "{reason}");
    assert!(reason.contains("1 of"), "{reason}");
    assert_eq!(body["checks"]["database"], "ok");
}

async fn a_data_key_of_another_master_key_fails_the_keyring_check(t: TestDb) {
    let keyring = t.keyring().await;
    let app = router(AppState::new(t.db.clone(), keyring));
    t.exec("UPDATE encryption_keys SET master_key_id = '00000000deadbeef'")
        .await
        .unwrap();
    let (status, body) = get_json(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failed"], "keyring", "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("another master key"),
        "{body}"
    );
    assert_eq!(body["checks"]["schema"], "ok");
}

async fn no_active_data_key_fails_the_keyring_check(t: TestDb) {
    let keyring = t.keyring().await;
    let app = router(AppState::new(t.db.clone(), keyring));
    t.exec("UPDATE encryption_keys SET state = 'decrypt_only'")
        .await
        .unwrap();
    let (status, body) = get_json(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failed"], "keyring", "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("no active data key"),
        "{body}"
    );
}

crate::on_both_backends!(
    ready_lists_every_check,
    a_migration_not_applied_is_named,
    a_data_key_of_another_master_key_fails_the_keyring_check,
    no_active_data_key_fails_the_keyring_check,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_postgres_function_is_named() {
    let t = TestDb::new(Backend::Postgres).await;
    let (status, _) = readyz(&t).await;
    assert_eq!(status, StatusCode::OK);
    t.exec("DROP FUNCTION connvault_key_usage()").await.unwrap();
    let (status, body) = readyz(&t).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failed"], "schema");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("connvault_key_usage"), "{reason}");
    assert!(!reason.contains("connvault_authenticate"), "{reason}");
}
