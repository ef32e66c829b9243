//! The library API (`services::operations`), without HTTP: what an embedding backend
//! calls.

use connvault::models::TenantId;
use connvault::models::operation_run::{RunOutcome, RunStatus};
use connvault::repositories::activity::Actor;
use connvault::services::connections;
use connvault::services::credentials::Credential;
use connvault::services::operations::types::{self, OperationTypeSpec};
use connvault::services::operations::{self, StartRequest};
use secrecy::SecretString;
use serde_json::json;
use url::Url;

use crate::support::{self, TestDb, secrets};

pub fn spec(provider: &str, scopes: &[&str], dedupe: bool) -> OperationTypeSpec {
    OperationTypeSpec {
        provider: provider.to_owned(),
        required_scopes: scopes.iter().map(|s| s.to_string()).collect(),
        module: "inventory".to_owned(),
        max_attempts: 3,
        heartbeat_timeout_seconds: 60,
        dedupe,
    }
}

/// An active Stripe connection with an API key.
pub async fn stripe(t: &TestDb, tenant: TenantId, external_id: &str) -> uuid::Uuid {
    let secret = format!("sk_live_ops_{external_id}_4eC39HqLyjWDarjt");
    secrets::record(&secret);
    let keyring = t.keyring().await;
    let (conn, _) = connections::connect(
        &t.db,
        &keyring,
        tenant,
        &Actor::system("test"),
        support::new_connection("stripe", external_id),
        Some(&Credential::ApiKey {
            api_key: SecretString::from(secret),
        }),
    )
    .await
    .expect("connect");
    conn.id
}

fn request(scope: serde_json::Value) -> StartRequest {
    StartRequest {
        operation_type: "billing.sync".to_owned(),
        connection_id: None,
        target_scope: Some(scope),
        params: Some(json!({"full": true})),
    }
}

async fn a_start_is_blocked_without_a_connection_and_queued_with_one(t: TestDb) {
    let url = Url::parse("https://connvault.example.com").unwrap();
    let actor = Actor::system("backend");
    types::put(&t.db, "billing.sync", spec("stripe", &[], true))
        .await
        .unwrap();
    let tenant = support::tenant(&t).await;

    let blocked = operations::start(&t.db, &url, tenant, &actor, request(json!({})))
        .await
        .unwrap();
    assert!(blocked.created);
    assert_eq!(blocked.run.status, RunStatus::Completed);
    assert_eq!(blocked.run.outcome, RunOutcome::Blocked);
    assert_eq!(blocked.run.reason_code.as_deref(), Some("no_connection"));
    assert!(blocked.run.completed_at.is_some());

    let conn = stripe(&t, tenant, "acct_lib").await;
    let first = operations::start(
        &t.db,
        &url,
        tenant,
        &actor,
        request(json!({"a": 1, "b": 2})),
    )
    .await
    .unwrap();
    assert!(first.created);
    assert_eq!(first.run.status, RunStatus::Queued);
    assert_eq!(first.run.outcome, RunOutcome::Pending);
    assert_eq!(first.run.connection_id, Some(conn));
    assert_eq!(first.run.context["params"], json!({"full": true}));

    // The same scope written in another order is the same run.
    let again = operations::start(
        &t.db,
        &url,
        tenant,
        &actor,
        request(json!({"b": 2, "a": 1})),
    )
    .await
    .unwrap();
    assert!(!again.created);
    assert_eq!(again.run.id, first.run.id);

    let other = operations::start(&t.db, &url, tenant, &actor, request(json!({"a": 2})))
        .await
        .unwrap();
    assert!(other.created);
    assert_ne!(other.run.id, first.run.id);
}

crate::on_both_backends!(a_start_is_blocked_without_a_connection_and_queued_with_one,);
