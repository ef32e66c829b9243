//! The workers' side of operation runs: claims across tenants (concurrently, each run
//! once), heartbeats and completion under a claim token, the rescue of runs whose
//! worker went silent, credential access only while a claim holds, the gate checked
//! again at claim, and who may call the worker endpoints.

pub(crate) mod api;
mod claims;
mod cli;
mod concurrency;
mod credentials;
mod policies;
mod rescue;
mod roles;

use connvault::crypto::Keyring;
use connvault::models::api_key::Role;
use connvault::models::operation_run::{self, RunStatus};
use connvault::models::{ExternalId, ProviderSlug, TenantId, connection};
use connvault::repositories::activity::Actor;
use connvault::repositories::api_keys;
use connvault::repositories::connections::NewConnection;
use connvault::services::connections::connect;
use connvault::services::credentials::Credential;
use connvault::services::operations::types::{self, OperationTypeSpec};
use connvault::services::operations::{Claimed, StartRequest, Worker, start};
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use uuid::Uuid;

use crate::support::{TestDb, secrets};

/// The type most tests claim.
pub const SYNC: &str = "inventory.sync";

pub fn public_url() -> Url {
    Url::parse("https://connvault.example.com").unwrap()
}

/// Registers an operation type on `provider`, as an operator does.
pub async fn register_type(t: &TestDb, name: &str, provider: &str, attempts: i32, timeout: i32) {
    let spec = OperationTypeSpec {
        provider: provider.to_owned(),
        required_scopes: Vec::new(),
        module: "inventory".to_owned(),
        max_attempts: attempts,
        heartbeat_timeout_seconds: timeout,
        dedupe: false,
    };
    types::put(&t.db, name, spec)
        .await
        .expect("register the operation type");
}

/// An active Stripe connection of `tenant` holding the API key `secret`.
pub async fn stripe(
    t: &TestDb,
    keyring: &Keyring,
    tenant: TenantId,
    external_id: &str,
    secret: &str,
) -> connection::Model {
    secrets::record(secret);
    let input = NewConnection::new(
        ProviderSlug::parse("stripe").unwrap(),
        ExternalId::parse(external_id).unwrap(),
    );
    let credential = Credential::ApiKey {
        api_key: SecretString::from(secret.to_owned()),
    };
    let (conn, _) = connect(
        &t.db,
        keyring,
        tenant,
        &Actor::system("test"),
        input,
        Some(&credential),
    )
    .await
    .expect("connect");
    conn
}

/// A queued run of `type` on `conn`, as a start that passed the gate leaves it.
pub async fn enqueue(t: &TestDb, conn: &connection::Model, op_type: &str) -> Uuid {
    enqueue_many(t, conn, op_type, 1).await[0]
}

/// `n` queued runs of `type` on `conn`, oldest first, started as a product backend
/// starts them (`services::operations::start`).
pub async fn enqueue_many(
    t: &TestDb,
    conn: &connection::Model,
    op_type: &str,
    n: usize,
) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let request = StartRequest {
            operation_type: op_type.to_owned(),
            connection_id: Some(conn.id),
            target_scope: Some(serde_json::json!({"account": i})),
            params: None,
        };
        let started = start(
            &t.db,
            &public_url(),
            conn.tenant(),
            &Actor::system("backend"),
            request,
        )
        .await
        .expect("start");
        assert_eq!(
            started.run.status,
            RunStatus::Queued,
            "{:?}",
            started.run.reason_code
        );
        ids.push(started.run.id);
    }
    ids
}

/// A worker key: the library's `Worker` and its secret (recorded).
pub async fn worker(t: &TestDb, name: &str) -> (Worker, String) {
    let key = api_keys::create(&t.db, None, Role::Worker, name)
        .await
        .expect("worker key");
    let secret = key.secret.expose_secret().to_owned();
    secrets::record(&secret);
    (
        Worker {
            key_id: key.key.id,
            name: key.key.name,
        },
        secret,
    )
}

/// Records every claim token a claim handed out.
pub fn record_tokens(claimed: &Claimed) {
    for run in &claimed.runs {
        secrets::record(run.claim_token.expose_secret());
    }
}

/// A run as it is now (read as the owner, every tenant).
pub async fn run_row(t: &TestDb, id: Uuid) -> operation_run::Model {
    use sea_orm::EntityTrait;
    operation_run::Entity::find_by_id(id)
        .one(&t.owner)
        .await
        .unwrap()
        .expect("the run")
}

/// How many activity entries of `action` mention run `id`.
pub async fn entries(t: &TestDb, action: &str, id: Uuid) -> i64 {
    t.count(&format!(
        "activity_log WHERE action = '{action}' AND CAST(details AS TEXT) LIKE '%{id}%'"
    ))
    .await
}
