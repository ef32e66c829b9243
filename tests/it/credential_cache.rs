//! The in-process cache of credential rows behind the credential read: it serves only
//! while watched, only the tenant the rows belong to, never more than its capacity and
//! nothing empty; a write of this process is read at once, and a change made elsewhere
//! (another replica, the CLI, plain SQL) is not served after a second: a credential
//! replaced, deleted or re-encrypted, a connection disconnected. Across two `serve`
//! processes: replaced or disconnected through one, never served stale by the other
//! after a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use connvault::crypto::Keyring;
use connvault::models::connection::ConnectionStatus;
use connvault::models::{ConnectionId, TenantId};
use connvault::repositories::credential_secrets::SecretRow;
use connvault::services::credential_cache::CredentialCache;
use connvault::services::credentials::{self, Credential};
use connvault::services::key_cache::Watching;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::availability::call;
use crate::support::serve::spawn_serve;
use crate::support::{TestDb, connection, secrets, tenant};

/// How long a change may take to reach a process.
const REACH: Duration = Duration::from_secs(1);

fn api_key(secret: &str) -> Credential {
    secrets::record(secret);
    Credential::ApiKey {
        api_key: crate::credentials::s(secret),
    }
}

/// A Stripe connection of a new tenant with an API-key credential.
async fn stored(t: &TestDb, keyring: &Keyring, secret: &str) -> (TenantId, ConnectionId) {
    let tenant = tenant(t).await;
    let conn = connection(t, tenant, "stripe", "acct")
        .await
        .connection_id();
    credentials::store(&t.db, keyring, tenant, conn, &api_key(secret))
        .await
        .unwrap();
    (tenant, conn)
}

/// A cache watched against the test's database, once its first check has passed.
async fn watched(t: &TestDb, capacity: usize) -> (CredentialCache, Watching) {
    let cache = CredentialCache::new(capacity);
    let watching = cache.watch(t.db.clone());
    crate::support::until_trusted(|| cache.trusted()).await;
    (cache, watching)
}

async fn rows(
    cache: &CredentialCache,
    t: &TestDb,
    tenant: TenantId,
    conn: ConnectionId,
) -> Arc<[SecretRow]> {
    cache.rows(&t.db, tenant, conn).await.unwrap()
}

/// The API key the cached rows decrypt to, if any.
async fn secret_of(
    cache: &CredentialCache,
    t: &TestDb,
    keyring: &Keyring,
    tenant: TenantId,
    conn: ConnectionId,
) -> Option<String> {
    let rows = rows(cache, t, tenant, conn).await;
    let read = credentials::open(keyring, tenant, conn, &rows)
        .await
        .unwrap()?;
    match read.credential {
        Credential::ApiKey { api_key } => Some(api_key.expose_secret().to_owned()),
        _ => panic!("an API key"),
    }
}

/// Reads until `done` holds of the rows; returns how long that took, then checks that
/// it keeps holding.
async fn until(
    cache: &CredentialCache,
    t: &TestDb,
    tenant: TenantId,
    conn: ConnectionId,
    done: impl Fn(&[SecretRow]) -> bool,
) -> Duration {
    let since = Instant::now();
    while !done(&rows(cache, t, tenant, conn).await) {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the change arrives"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = since.elapsed();
    for _ in 0..20 {
        assert!(done(&rows(cache, t, tenant, conn).await), "and stays");
    }
    took
}

async fn a_read_is_served_from_the_cache_while_nothing_changes(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, conn) = stored(&t, &keyring, "sk_live_cache_hit_0123456789").await;
    let (cache, watching) = watched(&t, 100).await;
    let first = rows(&cache, &t, tenant, conn).await;
    assert_eq!(cache.len(), 1);
    let second = rows(&cache, &t, tenant, conn).await;
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second read is the cached one"
    );
    assert_eq!(
        secret_of(&cache, &t, &keyring, tenant, conn)
            .await
            .as_deref(),
        Some("sk_live_cache_hit_0123456789")
    );
    watching.stop().await;
}

async fn a_write_of_this_process_is_read_at_once(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, conn) = stored(&t, &keyring, "sk_live_cache_old_0123456789").await;
    let (cache, watching) = watched(&t, 100).await;
    assert!(
        secret_of(&cache, &t, &keyring, tenant, conn)
            .await
            .is_some()
    );
    for n in 0..5 {
        let secret = format!("sk_live_cache_new_{n}_0123456789");
        credentials::store(&t.db, &keyring, tenant, conn, &api_key(&secret))
            .await
            .unwrap();
        assert_eq!(
            secret_of(&cache, &t, &keyring, tenant, conn).await,
            Some(secret),
            "the very next read sees the new credential"
        );
    }
    connvault::repositories::connections::revoke(&t.db, tenant, conn)
        .await
        .unwrap();
    assert_eq!(
        rows(&cache, &t, tenant, conn).await[0].status,
        ConnectionStatus::Revoked
    );
    watching.stop().await;
}

async fn changes_made_elsewhere_are_not_served_after_a_second(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, conn) = stored(&t, &keyring, "sk_live_cache_far_0123456789").await;
    let (cache, watching) = watched(&t, 100).await;
    assert_eq!(
        rows(&cache, &t, tenant, conn).await[0].status,
        ConnectionStatus::Pending
    );

    // Plain SQL as the owner, as another process would commit it: this process is not
    // told directly. The test's database holds this one connection.
    assert_eq!(
        t.exec("UPDATE connections SET status = 'revoked'")
            .await
            .unwrap(),
        1
    );
    let took = until(&cache, &t, tenant, conn, |r| {
        r[0].status == ConnectionStatus::Revoked
    })
    .await;
    assert!(took < REACH, "disconnected: seen after {took:?}");

    assert_eq!(
        t.exec(
            "UPDATE connections SET status = 'active', \
             token_expires_at = '2031-01-01T00:00:00+00:00'"
        )
        .await
        .unwrap(),
        1
    );
    let took = until(&cache, &t, tenant, conn, |r| {
        r[0].token_expires_at.is_some()
    })
    .await;
    assert!(took < REACH, "expiry: seen after {took:?}");

    // Re-encrypted under a new data key by another keyring (the CLI's).
    let before = rows(&cache, &t, tenant, conn).await[0].ciphertext.clone();
    let other = t.keyring().await;
    other.rotate().await.unwrap();
    let report = connvault::services::reencrypt::run(&t.db, &other, 100, None)
        .await
        .unwrap();
    assert_eq!(report.reencrypted, 1);
    let took = until(&cache, &t, tenant, conn, |r| r[0].ciphertext != before).await;
    assert!(took < REACH, "re-encrypted: seen after {took:?}");
    assert_eq!(
        secret_of(&cache, &t, &keyring, tenant, conn)
            .await
            .as_deref(),
        Some("sk_live_cache_far_0123456789")
    );

    assert_eq!(t.exec("DELETE FROM credential_secrets").await.unwrap(), 1);
    let took = until(&cache, &t, tenant, conn, |r| r.is_empty()).await;
    assert!(took < REACH, "deleted: seen after {took:?}");
    assert_eq!(cache.len(), 0, "nothing empty is kept");
    watching.stop().await;
}

async fn another_tenant_never_gets_a_cached_credential(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, conn) = stored(&t, &keyring, "sk_live_cache_mine_0123456789").await;
    let other = crate::support::tenant(&t).await;
    let (cache, watching) = watched(&t, 100).await;
    assert_eq!(rows(&cache, &t, tenant, conn).await.len(), 1);
    assert_eq!(cache.len(), 1);
    for _ in 0..3 {
        assert!(
            rows(&cache, &t, other, conn).await.is_empty(),
            "another tenant's read of the same connection finds nothing"
        );
    }
    assert_eq!(
        rows(&cache, &t, tenant, conn).await.len(),
        1,
        "the owner still reads it"
    );
    watching.stop().await;
}

async fn the_cache_is_bounded_and_keeps_nothing_empty(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, conns) = crate::keys::populate(&t, &keyring, 5).await;
    let (cache, watching) = watched(&t, 3).await;
    for conn in conns.iter().chain(conns.iter()) {
        assert_eq!(rows(&cache, &t, tenant, *conn).await.len(), 1);
        assert!(cache.len() <= 3);
    }
    assert_eq!(cache.len(), 3);
    cache.invalidate_all();
    for _ in 0..200 {
        let unknown = ConnectionId::from_uuid(uuid::Uuid::new_v4());
        assert!(rows(&cache, &t, tenant, unknown).await.is_empty());
    }
    let bare = connection(&t, tenant, "stripe", "no_credential")
        .await
        .connection_id();
    assert!(rows(&cache, &t, tenant, bare).await.is_empty());
    assert_eq!(cache.len(), 0, "unknown ids and empty reads are not cached");
    watching.stop().await;
}

async fn an_unwatched_cache_serves_nothing(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, conn) = stored(&t, &keyring, "sk_live_cache_unwatched_0123456789").await;
    let (cache, watching) = watched(&t, 10).await;
    assert_eq!(
        rows(&cache, &t, tenant, conn).await[0].status,
        ConnectionStatus::Pending
    );
    watching.stop().await;
    assert!(!cache.trusted(), "stopped watching: not trusted");
    assert_eq!(
        t.exec("UPDATE connections SET status = 'revoked'")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        rows(&cache, &t, tenant, conn).await[0].status,
        ConnectionStatus::Revoked,
        "unwatched, every read asks the database"
    );
    let fresh = CredentialCache::new(10);
    assert_eq!(rows(&fresh, &t, tenant, conn).await.len(), 1);
    assert_eq!(fresh.len(), 0, "never watched: nothing is kept");
}

crate::on_both_backends!(
    a_read_is_served_from_the_cache_while_nothing_changes,
    a_write_of_this_process_is_read_at_once,
    changes_made_elsewhere_are_not_served_after_a_second,
    another_tenant_never_gets_a_cached_credential,
    the_cache_is_bounded_and_keeps_nothing_empty,
    an_unwatched_cache_serves_nothing,
);

/// Reads the credential through `server` until `done` holds of the answer; returns
/// how long that took, then checks it holds on every read after, on both servers.
async fn served_within(
    servers: [&crate::support::serve::Server; 2],
    path: &str,
    key: &str,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> Duration {
    let since = Instant::now();
    loop {
        let answer = call(&servers[0].addr, "GET", path, Some(key), None).await;
        if done(answer.status, &answer.json) {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the change arrives: {}",
            answer.json
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = since.elapsed();
    for server in [servers[0], servers[1], servers[0]] {
        for _ in 0..10 {
            let answer = call(&server.addr, "GET", path, Some(key), None).await;
            assert!(
                done(answer.status, &answer.json),
                "on every read after: {}",
                answer.json
            );
        }
    }
    took
}

/// Two `serve` processes on one PostgreSQL database: a credential replaced through
/// one is served new by the other within a second, and a connection disconnected
/// through one is refused by the other within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_changed_through_one_replica_is_never_served_stale_by_the_other() {
    let t = TestDb::postgres().await;
    let tenant = tenant(&t).await;
    let new_key = |role| {
        let db = t.db.clone();
        async move {
            let key =
                connvault::repositories::api_keys::create(&db, Some(tenant), role, "replicas")
                    .await
                    .unwrap();
            let secret = key.secret.expose_secret().to_owned();
            secrets::record(&secret);
            secret
        }
    };
    let admin = new_key(connvault::models::api_key::Role::Admin).await;
    let service = new_key(connvault::models::api_key::Role::Service).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", t.url.as_str()),
        ("CONNVAULT_HEALTH_CHECK_INTERVAL_SECS", "0"),
        ("CONNVAULT_REFRESH_INTERVAL_SECS", "0"),
    ];
    let a = spawn_serve(dir.path(), &env).await;
    let b = spawn_serve(dir.path(), &env).await;
    let first = "sk_live_replica_first_0123456789";
    let second = "sk_live_replica_second_0123456789";
    secrets::record(first);
    secrets::record(second);
    let body = json!({
        "provider": "stripe",
        "external_id": "acct_replicas",
        "credential": {"kind": "api_key", "api_key": first}
    })
    .to_string();
    let created = call(
        &a.addr,
        "POST",
        &format!("/v1/tenants/{tenant}/connections"),
        Some(&admin),
        Some(&body),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let conn = format!(
        "/v1/tenants/{tenant}/connections/{}",
        created.json["id"].as_str().unwrap()
    );
    let read = format!("{conn}/credentials");
    // B has served (and cached) the first credential.
    for _ in 0..5 {
        let answer = call(&b.addr, "GET", &read, Some(&service), None).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        assert_eq!(answer.json["fields"]["api_key"], first);
    }

    let replace = json!({"kind": "api_key", "api_key": second}).to_string();
    let put = call(&a.addr, "PUT", &read, Some(&admin), Some(&replace)).await;
    assert_eq!(put.status, 200, "{}", put.json);
    let took = served_within([&b, &a], &read, &service, |status, json| {
        status == 200 && json["fields"]["api_key"] == second
    })
    .await;
    assert!(
        took < REACH,
        "B served the replaced credential for {took:?}"
    );

    let off = call(
        &a.addr,
        "POST",
        &format!("{conn}/disconnect"),
        Some(&admin),
        Some("{}"),
    )
    .await;
    assert_eq!(off.status, 200, "{}", off.json);
    let took = served_within([&b, &a], &read, &service, |status, _| status != 200).await;
    assert!(
        took < REACH,
        "B served a disconnected connection's credential for {took:?}"
    );
    let refused = call(&b.addr, "GET", &read, Some(&service), None).await;
    assert!(
        matches!(refused.status, 404 | 409),
        "{} {}",
        refused.status,
        refused.json
    );
    a.interrupt().await;
    b.interrupt().await;
}

/// The change counter is raised at commit, after every other lock: a transaction that
/// changed one credential and waits on another's row never holds the counter against
/// the transaction it waits for (with the counter raised at each change, this
/// interleaving of a re-encryption batch and a credential replacement deadlocked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_changes_in_crossing_transactions_do_not_deadlock() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    let (_, conns) = crate::keys::populate(&t, &keyring, 2).await;
    let (a, b) = (conns[0].as_uuid(), conns[1].as_uuid());
    let sql = |s: String| Statement::from_string(DbBackend::Postgres, s);
    let touch = move |id: uuid::Uuid| {
        sql(format!(
            "UPDATE credential_secrets SET revision = revision + 1 WHERE connection_id = '{id}'"
        ))
    };
    let batch = t.owner.begin().await.unwrap();
    batch.execute_raw(touch(a)).await.unwrap();
    let replace = t.owner.begin().await.unwrap();
    let delete = replace.execute_raw(sql(format!(
        "DELETE FROM credential_secrets WHERE connection_id = '{b}'"
    )));
    tokio::time::timeout(Duration::from_secs(10), delete)
        .await
        .expect("the replacement does not wait for the batch's first change")
        .unwrap();
    // The batch now waits on the replacement's row…
    let waiting = tokio::spawn(async move {
        batch.execute_raw(touch(b)).await?;
        batch.commit().await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the batch waits for the replacement"
    );
    // …which commits, and then the batch does.
    tokio::time::timeout(Duration::from_secs(10), replace.commit())
        .await
        .expect("the replacement commits")
        .expect("without a deadlock");
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the batch ends")
        .unwrap()
        .expect("the batch commits too");
    assert_eq!(t.count("credential_secrets").await, 1);
}
