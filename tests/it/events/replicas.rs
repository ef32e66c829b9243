//! Several workers, several processes: two workers on their own pools deliver each
//! event to each endpoint once when nothing fails; a `connvault serve` killed while an
//! attempt is in flight loses nothing: after a restart the delivery is sent again.

use std::time::Duration;

use axum::http::StatusCode;
use connvault::services::events::deliver::Deliverer;
use serde_json::{Value, json};

use super::{Receiver, assert_all_verified, assert_no_secret_in_bodies, count, fast_options};
use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::api::TestApp;
use crate::support::serve::spawn_serve;

async fn endpoint(
    app: &TestApp,
    receiver: &Receiver,
    tenant: &str,
    name: &str,
    script: Value,
) -> String {
    let url = format!("{}/hooks/{name}", receiver.base);
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/event-endpoints"),
            &app.operator,
            json!({ "url": url }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    receiver.hook(name, &[&secret], script).await;
    r.json["endpoint"]["id"].as_str().unwrap().to_owned()
}

async fn change(app: &TestApp, tenant: &str, i: usize) {
    let key = format!("sk_test_replica_{i}_{}", uuid::Uuid::new_v4().simple());
    crate::support::secrets::record(&key);
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &app.operator,
            json!({
                "provider": "stripe",
                "external_id": format!("acct_{i}"),
                "credential": {"kind": "api_key", "api_key": key},
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
}

async fn two_workers_deliver_each_event_to_each_endpoint_once(t: TestDb) {
    let app = TestApp::new(t).await;
    let receiver = Receiver::start().await;
    let tenant = app.tenant("Acme").await;
    endpoint(&app, &receiver, &tenant, "one", json!([])).await;
    endpoint(&app, &receiver, &tenant, "two", json!([])).await;
    const EVENTS: usize = 20;
    for i in 0..EVENTS {
        change(&app, &tenant, i).await;
    }
    let keyring = app.t.keyring().await;
    let options = connvault::services::events::EventOptions {
        batch: 3,
        concurrency: 2,
        ..fast_options()
    };
    // Each worker on a pool of its own, as two replicas.
    let pool = |n| {
        let url = app.t.service_url.clone();
        async move { connvault::db::connect(&url, n).await.unwrap() }
    };
    let a = Deliverer::new(pool(4).await, keyring.clone(), options.clone());
    let b = Deliverer::new(pool(4).await, keyring, options);
    let run = |w: Deliverer| {
        tokio::spawn(async move {
            for _ in 0..40 {
                w.pass().await.expect("a pass");
            }
        })
    };
    let (ra, rb) = (run(a), run(b));
    let log = receiver
        .wait_for("every event at both endpoints", |log| {
            log.len() >= 2 * EVENTS
        })
        .await;
    ra.await.unwrap();
    rb.await.unwrap();
    let log = {
        let after = receiver.log().await;
        assert!(after.len() >= log.len());
        after
    };
    assert_eq!(log.len(), 2 * EVENTS, "no duplicate delivery");
    assert_all_verified(&log);
    for d in &log {
        let id = d["id"].as_str().unwrap();
        assert_eq!(count(&log, "one", id), 1);
        assert_eq!(count(&log, "two", id), 1);
    }
    assert_eq!(
        app.t
            .count("event_deliveries WHERE status = 'succeeded'")
            .await,
        2 * EVENTS as i64
    );
}

async fn a_process_killed_mid_delivery_delivers_after_restart(t: TestDb) {
    let app = TestApp::new(t).await;
    let receiver = Receiver::start().await;
    let tenant = app.tenant("Acme").await;
    // The first attempt hangs past the process's life; the rest are answered at once.
    endpoint(
        &app,
        &receiver,
        &tenant,
        "slow",
        json!([{"status": 200, "delay_ms": 8000}]),
    )
    .await;
    const EVENTS: usize = 4;
    for i in 0..EVENTS {
        change(&app, &tenant, i).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", app.t.url.as_str()),
        ("CONNVAULT_MASTER_KEY", app.t.master_key_b64.as_str()),
        ("CONNVAULT_REFRESH_INTERVAL_SECS", "0"),
        ("CONNVAULT_EVENT_POLL_MS", "100"),
        ("CONNVAULT_EVENT_TIMEOUT_MS", "4000"),
        ("CONNVAULT_EVENT_CONCURRENCY", "1"),
        ("CONNVAULT_EVENT_RETRY_SCHEDULE", "0,200ms,200ms,200ms"),
    ];
    let mut first = spawn_serve(dir.path(), &env).await;
    let seen = receiver
        .wait_for("the first attempt", |log| !log.is_empty())
        .await;
    let held = seen[0]["id"].as_str().unwrap().to_owned();
    // Killed while that attempt waits for its answer.
    first.child.kill().await.unwrap();
    let _second = spawn_serve(dir.path(), &env).await;
    let log = receiver
        .wait_for("every event, the held one again", |log| {
            let ids: std::collections::HashSet<&str> =
                log.iter().filter_map(|d| d["id"].as_str()).collect();
            ids.len() == EVENTS && count(log, "slow", &held) >= 2
        })
        .await;
    assert_all_verified(&log);
    assert_no_secret_in_bodies(&log);
    // Every delivery ends succeeded.
    for _ in 0..200 {
        if app
            .t
            .count("event_deliveries WHERE status = 'succeeded'")
            .await
            == EVENTS as i64
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not every delivery succeeded");
}

on_both_backends!(
    two_workers_deliver_each_event_to_each_endpoint_once,
    a_process_killed_mid_delivery_delivers_after_restart,
);
