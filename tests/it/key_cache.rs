//! The in-process API-key cache: it keeps only live keys, never more than its capacity,
//! serves nothing unless watched, and forgets a key revoked anywhere within a second
//! (PostgreSQL: the revoking transaction's notification; both backends: the periodic
//! check of the key-change counter). Across two `serve` processes: revoked through one,
//! refused by the other within a second and on every attempt after.

use std::time::{Duration, Instant};

use connvault::models::TenantId;
use connvault::models::api_key::Role;
use connvault::repositories::api_keys;
use connvault::services::key_cache::{CHECK_EVERY, KeyCache, TRUST_FOR};
use sea_orm::ConnectionTrait;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::availability::call;
use crate::support::serve::spawn_serve;
use crate::support::{TestDb, secrets, tenant};

/// How long a revocation may take to reach a process.
const REACH: Duration = Duration::from_secs(1);

async fn key(t: &TestDb, tenant: Option<TenantId>, role: Role) -> (Uuid, String) {
    let key = api_keys::create(&t.db, tenant, role, "cached")
        .await
        .unwrap();
    let secret = key.secret.expose_secret().to_owned();
    secrets::record(&secret);
    (key.key.id, secret)
}

/// A cache watched against the test's database, once its first check has passed.
async fn watched(
    t: &TestDb,
    capacity: usize,
) -> (KeyCache, connvault::services::key_cache::Watching) {
    let cache = KeyCache::new(capacity);
    let watching = cache.watch(t.db.clone());
    crate::support::until_trusted(|| cache.trusted()).await;
    (cache, watching)
}

async fn live(cache: &KeyCache, t: &TestDb, secret: &str) -> bool {
    cache.authenticate(&t.db, secret).await.unwrap().is_some()
}

/// Asks until the key is refused; returns how long that took, then checks that it
/// stays refused.
async fn refused_within(cache: &KeyCache, t: &TestDb, secret: &str, since: Instant) -> Duration {
    while live(cache, t, secret).await {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the revocation arrives"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = since.elapsed();
    for _ in 0..20 {
        assert!(
            !live(cache, t, secret).await,
            "refused on every attempt after"
        );
    }
    took
}

async fn a_key_revoked_by_another_process_is_refused_within_a_second(t: TestDb) {
    let tenant = tenant(&t).await;
    let (id, secret) = key(&t, Some(tenant), Role::Service).await;
    let (_, operator) = key(&t, None, Role::Operator).await;
    let (cache, watching) = watched(&t, 100).await;
    assert!(live(&cache, &t, &secret).await && live(&cache, &t, &operator).await);
    assert_eq!(cache.len(), 2, "both live keys are cached");
    // Revoked through another pool, as another replica or the CLI does: this process
    // is not told directly.
    api_keys::revoke(&t.owner, Some(tenant), id).await.unwrap();
    let took = refused_within(&cache, &t, &secret, Instant::now()).await;
    assert!(took < REACH, "refused after {took:?}");
    assert!(
        live(&cache, &t, &operator).await,
        "the other key still works"
    );
    watching.stop().await;
}

async fn unknown_and_revoked_keys_are_never_cached(t: TestDb) {
    let tenant = tenant(&t).await;
    let (id, secret) = key(&t, Some(tenant), Role::Viewer).await;
    let (cache, watching) = watched(&t, 100).await;
    for _ in 0..500 {
        let random = format!("cv_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        assert!(!live(&cache, &t, &random).await);
    }
    assert!(!live(&cache, &t, "not-a-key").await);
    assert_eq!(cache.len(), 0, "random keys do not grow the cache");
    api_keys::revoke(&t.db, Some(tenant), id).await.unwrap();
    cache.forget(id);
    assert!(!live(&cache, &t, &secret).await);
    assert_eq!(cache.len(), 0, "a revoked key is not cached");
    watching.stop().await;
}

async fn the_cache_holds_at_most_its_capacity(t: TestDb) {
    let tenant = tenant(&t).await;
    let mut secrets = Vec::new();
    for _ in 0..5 {
        secrets.push(key(&t, Some(tenant), Role::Viewer).await.1);
    }
    let (cache, watching) = watched(&t, 3).await;
    for secret in secrets.iter().chain(secrets.iter()) {
        assert!(
            live(&cache, &t, secret).await,
            "every live key authenticates"
        );
        assert!(cache.len() <= 3);
    }
    assert_eq!(cache.len(), 3);
    watching.stop().await;
}

async fn an_unwatched_cache_serves_nothing(t: TestDb) {
    let tenant = tenant(&t).await;
    let (id, secret) = key(&t, Some(tenant), Role::Viewer).await;
    let (cache, watching) = watched(&t, 10).await;
    assert!(live(&cache, &t, &secret).await);
    assert_eq!(cache.len(), 1);
    watching.stop().await;
    assert!(!cache.trusted(), "stopped watching: not trusted");
    // Revoked where this process cannot hear it; unwatched, the cache asks the
    // database every time.
    api_keys::revoke(&t.owner, Some(tenant), id).await.unwrap();
    assert!(!live(&cache, &t, &secret).await);

    let fresh = KeyCache::new(10);
    let (_, other) = key(&t, Some(tenant), Role::Viewer).await;
    assert!(live(&fresh, &t, &other).await);
    assert_eq!(fresh.len(), 0, "never watched: nothing is kept");
}

crate::on_both_backends!(
    a_key_revoked_by_another_process_is_refused_within_a_second,
    unknown_and_revoked_keys_are_never_cached,
    the_cache_holds_at_most_its_capacity,
    an_unwatched_cache_serves_nothing,
);

/// A dropped listening connection may have lost notifications: the whole cache goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_forgets_every_key() {
    let t = TestDb::postgres().await;
    let tenant = tenant(&t).await;
    let (_, secret) = key(&t, Some(tenant), Role::Viewer).await;
    let (cache, watching) = watched(&t, 10).await;
    // The listener is in place once a notification arrives.
    let (probe, probe_secret) = key(&t, Some(tenant), Role::Viewer).await;
    assert!(live(&cache, &t, &probe_secret).await);
    api_keys::revoke(&t.db, Some(tenant), probe).await.unwrap();
    let since = Instant::now();
    while !cache.is_empty() {
        assert!(since.elapsed() < TRUST_FOR * 10, "the notification arrives");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the periodic check see that revocation too, so that only the listener's loss
    // can clear what is cached next.
    tokio::time::sleep(CHECK_EVERY * 3).await;
    assert!(live(&cache, &t, &secret).await);
    tokio::time::sleep(CHECK_EVERY * 2).await;
    assert_eq!(cache.len(), 1, "kept while nothing changes");
    let killed = t
        .owner
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        ))
        .await
        .unwrap();
    assert_eq!(killed.len(), 1, "one listening connection");
    let since = Instant::now();
    while !cache.is_empty() {
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "the cache is cleared when its listener drops"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // And it listens again: a later revocation is still seen.
    assert!(live(&cache, &t, &secret).await);
    watching.stop().await;
}

/// Two `serve` processes on one PostgreSQL database: a key revoked through one is
/// refused by the other within a second, and on every attempt after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_replica_is_refused_by_the_other_within_a_second() {
    let t = TestDb::postgres().await;
    let tenant = tenant(&t).await;
    let (id, secret) = key(&t, Some(tenant), Role::Service).await;
    let (_, admin) = key(&t, Some(tenant), Role::Admin).await;
    // One directory: both replicas use the same local master key file.
    let dir = tempfile::tempdir().unwrap();
    let env = [("DATABASE_URL", t.url.as_str())];
    let a = spawn_serve(dir.path(), &env).await;
    let b = spawn_serve(dir.path(), &env).await;
    let path = format!("/v1/tenants/{tenant}/connections");
    // B has served the key (and cached it) before the revocation.
    for _ in 0..5 {
        let answer = call(&b.addr, "GET", &path, Some(&secret), None).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
    }
    let revoke = call(
        &a.addr,
        "DELETE",
        &format!("/v1/tenants/{tenant}/api-keys/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(revoke.status, 204, "{}", revoke.json);
    let since = Instant::now();
    loop {
        let answer = call(&b.addr, "GET", &path, Some(&secret), None).await;
        if answer.status == 401 {
            break;
        }
        assert_eq!(answer.status, 200, "{}", answer.json);
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "B refuses it at last"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = since.elapsed();
    assert!(took < REACH, "B refused the revoked key after {took:?}");
    for server in [&b, &a, &b] {
        for _ in 0..10 {
            let answer = call(&server.addr, "GET", &path, Some(&secret), None).await;
            assert_eq!(answer.status, 401, "refused on every attempt after");
            assert_eq!(answer.json["code"], "unauthenticated");
        }
    }
    let admin_still = call(&b.addr, "GET", &path, Some(&admin), None).await;
    assert_eq!(admin_still.status, 200, "other keys keep working");
    a.interrupt().await;
    b.interrupt().await;
}
