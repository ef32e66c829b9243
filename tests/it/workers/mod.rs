//! The workers' side of operation runs: claims across tenants (concurrently, each run
//! once), heartbeats and completion under a claim token, the rescue of runs whose
//! worker went silent, credential access only while a claim holds, the gate checked
//! again at claim, and who may call the worker endpoints.

mod api;
mod cli;
mod claims;
mod concurrency;
mod credentials;
mod rescue;
mod roles;

use connvault::crypto::Keyring;
use connvault::models::api_key::Role;
use connvault::models::operation_run::{self, RunOutcome, RunStatus};
use connvault::models::{ExternalId, ProviderSlug, TenantId, connection, operation_type};
use connvault::repositories::activity::Actor;
use connvault::repositories::api_keys;
use connvault::repositories::connections::NewConnection;
use connvault::services::connections::connect;
use connvault::services::credentials::Credential;
use connvault::services::operations::{Claimed, Worker};
use connvault::tenancy::TenantTxn;
use sea_orm::{ActiveModelTrait, Set};
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use uuid::Uuid;

use crate::support::{TestDb, secrets};

/// The type most tests claim.
pub const SYNC: &str = "inventory.sync";

pub fn public_url() -> Url {
    Url::parse("https://connvault.example.com").unwrap()
}

/// Registers an operation type on `provider` (an operator's doing).
pub async fn register_type(t: &TestDb, name: &str, provider: &str, attempts: i32, timeout: i32) {
    let now = chrono::Utc::now();
    operation_type::ActiveModel {
        operation_type: Set(name.to_owned()),
        provider_slug: Set(provider.to_owned()),
        required_scopes: Set(Default::default()),
        module: Set("inventory".to_owned()),
        max_attempts: Set(attempts),
        heartbeat_timeout_seconds: Set(timeout),
        dedupe: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&t.db)
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

/// `n` queued runs of `type` on `conn`, oldest first.
pub async fn enqueue_many(
    t: &TestDb,
    conn: &connection::Model,
    op_type: &str,
    n: usize,
) -> Vec<Uuid> {
    let tenant = conn.tenant();
    let row = connvault::repositories::operations::claims::operation_type(&t.db, op_type)
        .await
        .unwrap()
        .expect("a registered type");
    let txn = TenantTxn::begin_write(&t.db, tenant).await.unwrap();
    let mut ids = Vec::with_capacity(n);
    let start = chrono::Utc::now();
    for i in 0..n {
        let id = Uuid::new_v4();
        let at = start + chrono::TimeDelta::microseconds(i as i64);
        operation_run::ActiveModel {
            id: Set(id),
            tenant_id: Set(tenant.as_uuid()),
            operation_type: Set(op_type.to_owned()),
            connection_id: Set(Some(conn.id)),
            status: Set(RunStatus::Queued),
            outcome: Set(RunOutcome::Pending),
            context: Set(serde_json::json!({
                "provider": conn.provider_slug,
                "connection_id": conn.id,
                "target_scope": {"account": i},
                "module": "inventory",
                "params": {}
            })),
            dedupe_key: Set(None),
            summary_counts: Set(None),
            failure_summary: Set(None),
            reason_code: Set(None),
            next_steps: Set(None),
            attempt: Set(0),
            max_attempts: Set(row.max_attempts),
            heartbeat_timeout_seconds: Set(row.heartbeat_timeout_seconds),
            claim_token_hash: Set(None),
            claimed_by: Set(None),
            actor_key_id: Set(None),
            actor_name: Set("test".to_owned()),
            started_at: Set(None),
            completed_at: Set(None),
            heartbeat_at: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&txn)
        .await
        .expect("enqueue");
        ids.push(id);
    }
    txn.commit().await.unwrap();
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
