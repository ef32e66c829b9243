//! Delivery to a real receiver that verifies with the `standardwebhooks` library:
//! every delivery verifies, replays are refused by it, failures retried on a
//! compressed schedule with Retry-After honoured, exhausted deliveries fail and can be
//! sent again by hand, 410 and failing too long disable an endpoint and tell the
//! others, rotated secrets sign side by side during the overlap, old events purged.

use std::time::Duration;

use axum::http::StatusCode;
use connvault::models::event_endpoint;
use connvault::services::events::EventOptions;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::{
    Receiver, assert_all_verified, assert_no_secret_in_bodies, body, count, deliver_until,
    deliverer, fast_options,
};
use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::api::TestApp;

/// A tenant with an admin key, on an app whose events are managed by `options`.
struct Setup {
    app: TestApp,
    tenant: String,
    admin: String,
    receiver: Receiver,
    options: EventOptions,
}

impl Setup {
    async fn new(t: TestDb, options: EventOptions) -> Self {
        let app = TestApp::with_state(t, |s| s.with_events(options.clone())).await;
        let tenant = app.tenant("Acme").await;
        let admin = app.key(&tenant, "admin").await;
        Self {
            app,
            tenant,
            admin,
            receiver: Receiver::start().await,
            options,
        }
    }

    /// Registers hook `name` as an endpoint of the tenant (or, with `None`, of the
    /// deployment) for `types`, answering by `script`; returns (endpoint id, secret).
    async fn endpoint(
        &self,
        tenant: Option<&str>,
        name: &str,
        types: Value,
        script: Value,
    ) -> (String, String) {
        let url = format!("{}/hooks/{name}", self.receiver.base);
        let (path, key) = match tenant {
            Some(t) => (
                format!("/v1/tenants/{t}/event-endpoints"),
                self.app.operator.clone(),
            ),
            None => ("/v1/event-endpoints".to_owned(), self.app.operator.clone()),
        };
        let r = self
            .app
            .post(&path, &key, json!({ "url": url, "event_types": types }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let secret = r.json["secret"].as_str().unwrap().to_owned();
        self.receiver.hook(name, &[&secret], script).await;
        (
            r.json["endpoint"]["id"].as_str().unwrap().to_owned(),
            secret,
        )
    }

    /// A change: a new connection of the tenant (`connection.created`); its id.
    async fn change(&self, tenant: &str) -> String {
        let key = format!("sk_test_delivery_{}", uuid::Uuid::new_v4().simple());
        crate::support::secrets::record(&key);
        let r = self
            .app
            .post(
                &format!("/v1/tenants/{tenant}/connections"),
                &self.app.operator,
                json!({
                    "provider": "stripe",
                    "external_id": format!("acct_{}", uuid::Uuid::new_v4().simple()),
                    "credential": {"kind": "api_key", "api_key": key},
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json["id"].as_str().unwrap().to_owned()
    }

    async fn deliveries(&self, endpoint: &str) -> Vec<Value> {
        let r = self
            .app
            .get(
                &format!(
                    "/v1/tenants/{}/event-endpoints/{endpoint}/deliveries",
                    self.tenant
                ),
                &self.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json["items"].as_array().unwrap().clone()
    }

    async fn endpoint_row(&self, id: &str) -> event_endpoint::Model {
        event_endpoint::Entity::find_by_id(uuid::Uuid::parse_str(id).unwrap())
            .one(&self.app.t.owner)
            .await
            .unwrap()
            .unwrap()
    }

    async fn worker(&self) -> connvault::services::events::deliver::Deliverer {
        deliverer(
            &self.app.t,
            &self.app.t.keyring().await,
            self.options.clone(),
        )
    }
}

async fn every_delivery_verifies_and_replays_are_refused(t: TestDb) {
    let s = Setup::new(t, fast_options()).await;
    let other = s.app.tenant("Other").await;
    let (a, secret) = s
        .endpoint(Some(&s.tenant), "all", json!([]), json!([]))
        .await;
    s.endpoint(
        Some(&s.tenant),
        "deletions",
        json!(["connection.deleted"]),
        json!([]),
    )
    .await;
    s.endpoint(None, "deployment", json!(["connection.created"]), json!([]))
        .await;
    s.endpoint(Some(&other), "other", json!([]), json!([]))
        .await;
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(s.change(&s.tenant).await);
    }
    let worker = s.worker().await;
    let log = deliver_until(
        &worker,
        &s.receiver,
        "three events to two endpoints",
        |log| {
            log.iter().filter(|d| d["hook"] == "all").count() == 3
                && log.iter().filter(|d| d["hook"] == "deployment").count() == 3
        },
    )
    .await;
    worker.pass().await.unwrap();
    let log = {
        let again = s.receiver.log().await;
        assert_eq!(again.len(), log.len(), "nothing more after the last pass");
        again
    };
    assert_all_verified(&log);
    assert_no_secret_in_bodies(&log);
    assert!(
        log.iter()
            .all(|d| d["hook"] != "deletions" && d["hook"] != "other"),
        "filters and tenants"
    );
    let now = chrono::Utc::now().timestamp();
    let mut ids = Vec::new();
    for d in log.iter().filter(|d| d["hook"] == "all") {
        let b = body(d);
        assert_eq!(d["id"], b["id"], "webhook-id is the event id");
        assert_eq!(b["type"], "connection.created");
        assert_eq!(b["tenant_id"], s.tenant.as_str());
        let ts: i64 = d["timestamp"].as_str().unwrap().parse().unwrap();
        assert!((now - ts).abs() < 120, "the attempt's own time");
        assert_eq!(d["signature"].as_str().unwrap().split(' ').count(), 1);
        ids.push(b["data"]["connection_id"].as_str().unwrap().to_owned());
        // The same id reached the deployment endpoint too.
        assert_eq!(count(&log, "deployment", d["id"].as_str().unwrap()), 1);
    }
    ids.sort();
    created.sort();
    assert_eq!(ids, created);

    // A replay: the same delivery presented ten minutes later is refused by the
    // library; with its timestamp moved to match, the signature no longer holds.
    let first = log.iter().find(|d| d["hook"] == "all").unwrap();
    assert_eq!(
        s.receiver.verifies_later(&secret, first, 0).await["ok"],
        true
    );
    let late = s.receiver.verifies_later(&secret, first, 600).await;
    assert_eq!(late["ok"], false, "{late}");
    let mut moved = first.clone();
    moved["timestamp"] = json!((now + 600).to_string());
    assert_eq!(
        s.receiver.verifies_later(&secret, &moved, 600).await["ok"],
        false
    );
    let mut other_body = first.clone();
    other_body["body"] = json!(
        first["body"]
            .as_str()
            .unwrap()
            .replace("connection.created", "connection.deleted")
    );
    assert_eq!(
        s.receiver.verifies_later(&secret, &other_body, 0).await["ok"],
        false
    );

    // The ledger: three deliveries, each one attempt answered 200.
    let deliveries = s.deliveries(&a).await;
    assert_eq!(deliveries.len(), 3);
    for d in &deliveries {
        assert_eq!(d["status"], "succeeded");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["attempt_log"][0]["status_code"], 200);
        assert!(d["next_attempt_at"].is_null());
    }
}

async fn failures_are_retried_on_the_schedule_honouring_retry_after(t: TestDb) {
    let s = Setup::new(t, fast_options()).await;
    let (a, _) = s
        .endpoint(
            Some(&s.tenant),
            "flaky",
            json!([]),
            json!([{"status": 500}, {"status": 429, "retry_after": 2}, {"status": 200}]),
        )
        .await;
    s.endpoint(
        Some(&s.tenant),
        "busy",
        json!([]),
        json!([{"status": 503, "retry_after": 1}]),
    )
    .await;
    s.change(&s.tenant).await;
    let worker = s.worker().await;
    let log = deliver_until(&worker, &s.receiver, "the third attempt", |log| {
        log.iter().filter(|d| d["hook"] == "flaky").count() == 3
            && log.iter().filter(|d| d["hook"] == "busy").count() == 2
    })
    .await;
    assert_all_verified(&log);
    let flaky: Vec<&Value> = log.iter().filter(|d| d["hook"] == "flaky").collect();
    assert!(
        flaky.iter().all(|d| d["id"] == flaky[0]["id"]),
        "one webhook-id on every retry"
    );
    let at = |d: &Value| d["at_ms"].as_i64().unwrap();
    assert!(
        at(flaky[2]) - at(flaky[1]) >= 2000,
        "Retry-After: 2 on a 429"
    );
    let busy: Vec<&Value> = log.iter().filter(|d| d["hook"] == "busy").collect();
    assert!(at(busy[1]) - at(busy[0]) >= 1000, "Retry-After: 1 on a 503");
    let deliveries = s.deliveries(&a).await;
    assert_eq!(deliveries[0]["status"], "succeeded");
    assert_eq!(deliveries[0]["attempts"], 3);
    let codes: Vec<&Value> = deliveries[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(429), &json!(200)]);
    assert_eq!(
        deliveries[0]["attempt_log"][0]["error_class"],
        "http_status"
    );
}

async fn an_exhausted_delivery_fails_and_can_be_sent_again(t: TestDb) {
    let s = Setup::new(t, fast_options()).await;
    let fail = json!([{"status": 500}, {"status": 500}, {"status": 500}, {"status": 500}]);
    let (a, secret) = s.endpoint(Some(&s.tenant), "down", json!([]), fail).await;
    s.change(&s.tenant).await;
    let worker = s.worker().await;
    deliver_until(&worker, &s.receiver, "four attempts", |log| log.len() == 4).await;
    for _ in 0..50 {
        if s.deliveries(&a).await[0]["status"] == "failed" {
            break;
        }
        worker.pass().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = &s.deliveries(&a).await[0];
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(d["attempts"], 4, "the schedule has four attempts");
    worker.pass().await.unwrap();
    assert_eq!(s.receiver.log().await.len(), 4, "no fifth attempt");
    // Sent again by hand, with the same id; the receiver is back.
    s.receiver.hook("down", &[&secret], json!([])).await;
    let r = s
        .app
        .post(
            &format!(
                "/v1/tenants/{}/event-endpoints/{a}/deliveries/{}/retry",
                s.tenant,
                d["id"].as_str().unwrap()
            ),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(r.json["status"], "pending");
    let log = deliver_until(&worker, &s.receiver, "the retry", |log| log.len() == 5).await;
    assert_eq!(log[4]["answered"], 200);
    assert_eq!(log[4]["id"], log[0]["id"]);
    assert_eq!(s.deliveries(&a).await[0]["status"], "succeeded");
    // An unknown delivery, or one of another endpoint, is a 404.
    let r = s
        .app
        .post(
            &format!(
                "/v1/tenants/{}/event-endpoints/{a}/deliveries/{}/retry",
                s.tenant,
                uuid::Uuid::new_v4()
            ),
            &s.admin,
            json!({}),
        )
        .await;
    r.problem(StatusCode::NOT_FOUND, "not_found");
}

async fn a_410_disables_the_endpoint_and_the_others_hear_of_it(t: TestDb) {
    let s = Setup::new(t, fast_options()).await;
    let (gone, _) = s
        .endpoint(Some(&s.tenant), "gone", json!([]), json!([{"status": 410}]))
        .await;
    s.endpoint(Some(&s.tenant), "watcher", json!([]), json!([]))
        .await;
    s.change(&s.tenant).await;
    let worker = s.worker().await;
    let log = deliver_until(&worker, &s.receiver, "endpoint.disabled", |log| {
        log.iter()
            .any(|d| d["hook"] == "watcher" && body(d)["type"] == "endpoint.disabled")
    })
    .await;
    assert_all_verified(&log);
    let disabled = log
        .iter()
        .find(|d| d["hook"] == "watcher" && body(d)["type"] == "endpoint.disabled")
        .unwrap();
    let data = body(disabled)["data"].clone();
    assert_eq!(data["endpoint_id"], gone.as_str());
    assert_eq!(data["reason"], "gone");
    let row = s.endpoint_row(&gone).await;
    assert!(!row.enabled);
    assert_eq!(row.disabled_reason.as_deref(), Some("gone"));
    assert_eq!(
        s.app
            .t
            .count("activity_log WHERE action = 'event_endpoint_disabled'")
            .await,
        1
    );
    // Later events do not go to it.
    s.change(&s.tenant).await;
    deliver_until(&worker, &s.receiver, "the next event", |log| {
        log.iter().filter(|d| d["hook"] == "watcher").count() == 3
    })
    .await;
    assert_eq!(s.receiver.of("gone").await.len(), 1);
}

async fn an_endpoint_failing_too_long_is_disabled(t: TestDb) {
    let options = EventOptions {
        schedule: connvault::events::RetrySchedule::parse("0,400ms,400ms,400ms,400ms,400ms")
            .unwrap(),
        disable_after: Duration::from_secs(1),
        ..fast_options()
    };
    let s = Setup::new(t, options).await;
    let script: Vec<Value> = (0..10).map(|_| json!({"status": 500})).collect();
    let (bad, _) = s
        .endpoint(Some(&s.tenant), "failing", json!([]), json!(script))
        .await;
    s.endpoint(None, "operator", json!(["endpoint.disabled"]), json!([]))
        .await;
    s.change(&s.tenant).await;
    let worker = s.worker().await;
    let log = deliver_until(&worker, &s.receiver, "endpoint.disabled", |log| {
        log.iter().any(|d| d["hook"] == "operator")
    })
    .await;
    assert_all_verified(&log);
    let told = log.iter().find(|d| d["hook"] == "operator").unwrap();
    assert_eq!(body(told)["data"]["reason"], "failing");
    let row = s.endpoint_row(&bad).await;
    assert_eq!(row.disabled_reason.as_deref(), Some("failing"));
    let attempts = s.receiver.of("failing").await;
    let span = attempts.last().unwrap()["at_ms"].as_i64().unwrap()
        - attempts[0]["at_ms"].as_i64().unwrap();
    assert!(
        span >= 1000,
        "disabled only after failing for the configured time"
    );
    let d = &s.deliveries(&bad).await[0];
    assert_eq!(d["status"], "failed");
}

async fn a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends(t: TestDb) {
    let s = Setup::new(t, fast_options()).await;
    let (id, old) = s
        .endpoint(Some(&s.tenant), "rotating", json!([]), json!([]))
        .await;
    let r = s
        .app
        .post(
            &format!(
                "/v1/tenants/{}/event-endpoints/{id}/rotate-secret",
                s.tenant
            ),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let new = r.json["secret"].as_str().unwrap().to_owned();
    s.receiver.hook("rotating", &[&old, &new], json!([])).await;
    s.change(&s.tenant).await;
    let worker = s.worker().await;
    let log = deliver_until(&worker, &s.receiver, "a delivery", |log| log.len() == 1).await;
    assert_eq!(
        log[0]["verified_with"],
        json!([0, 1]),
        "both secrets verify"
    );
    assert_eq!(log[0]["signature"].as_str().unwrap().split(' ').count(), 2);
    // The overlap ends: only the new secret signs.
    event_endpoint::Entity::update_many()
        .col_expr(
            event_endpoint::Column::PreviousExpiresAt,
            Expr::value(Some(chrono::Utc::now() - chrono::Duration::seconds(1))),
        )
        .filter(event_endpoint::Column::Id.eq(uuid::Uuid::parse_str(&id).unwrap()))
        .exec(&s.app.t.owner)
        .await
        .unwrap();
    s.change(&s.tenant).await;
    let log = deliver_until(&worker, &s.receiver, "a second delivery", |log| {
        log.len() == 2
    })
    .await;
    assert_eq!(log[1]["verified_with"], json!([1]), "only the new secret");
    assert_eq!(log[1]["signature"].as_str().unwrap().split(' ').count(), 1);
    assert_no_secret_in_bodies(&log);
}

async fn events_past_their_retention_are_purged(t: TestDb) {
    let s = Setup::new(t, fast_options()).await;
    s.endpoint(Some(&s.tenant), "kept", json!([]), json!([]))
        .await;
    s.change(&s.tenant).await;
    let worker = s.worker().await;
    deliver_until(&worker, &s.receiver, "the event", |log| log.len() == 1).await;
    assert_eq!(
        worker.purge(chrono::Utc::now()).await.unwrap(),
        0,
        "30 days by default"
    );
    assert_eq!(s.app.t.count("event_deliveries").await, 1);
    let later = chrono::Utc::now() + chrono::Duration::days(31);
    assert_eq!(worker.purge(later).await.unwrap(), 1);
    assert_eq!(s.app.t.count("events").await, 0);
    assert_eq!(s.app.t.count("event_deliveries").await, 0);
    assert_eq!(s.app.t.count("event_attempts").await, 0);
}

/// Endpoint secrets are ciphertexts like any other: a key they use cannot be retired,
/// re-encryption moves them (the previous secret of a rotation too), and deliveries
/// still verify afterwards.
async fn endpoint_secrets_follow_key_rotation_and_reencryption(t: TestDb) {
    let s = Setup::new(t, fast_options()).await;
    let (id, old) = s
        .endpoint(Some(&s.tenant), "keys", json!([]), json!([]))
        .await;
    let r = s
        .app
        .post(
            &format!("/v1/event-endpoints/{}/rotate-secret", uuid::Uuid::new_v4()),
            &s.app.operator,
            json!({}),
        )
        .await;
    r.problem(StatusCode::NOT_FOUND, "not_found");
    let keyring = s.app.t.keyring().await;
    let first = keyring.active_key_id().unwrap();
    // A deployment endpoint too (its ciphertext bound to no tenant).
    s.endpoint(None, "keys-all", json!([]), json!([])).await;
    keyring.rotate().await.unwrap();
    // Rotated under the new key: the previous secret is sealed anew as well.
    let r = s
        .app
        .post(
            &format!(
                "/v1/tenants/{}/event-endpoints/{id}/rotate-secret",
                s.tenant
            ),
            &s.admin,
            json!({}),
        )
        .await;
    let new = r.json["secret"].as_str().unwrap().to_owned();
    s.receiver.hook("keys", &[&old, &new], json!([])).await;
    let err = keyring.retire(first).await.expect_err("in use");
    assert!(matches!(err, connvault::Error::KeyInUse { .. }), "{err}");
    let report = connvault::services::reencrypt::run(&s.app.t.db, &keyring, 100, None)
        .await
        .unwrap();
    assert_eq!(report.remaining, 0, "{report:?}");
    assert_eq!(report.unreadable, 0);
    keyring.retire(first).await.unwrap();
    // (The app's own keyring may still hold a block of the retired key for a second:
    // the event is written without it.)
    connvault::repositories::events::emit(
        &s.app.t.db,
        connvault::models::TenantId::parse(&s.tenant).unwrap(),
        connvault::events::EventType::ConnectionStatusChanged,
        json!({"connection_id": uuid::Uuid::new_v4(), "from": "active", "to": "error"}),
    )
    .await
    .unwrap();
    let worker = s.worker().await;
    let log = deliver_until(&worker, &s.receiver, "a delivery", |log| {
        log.iter().any(|d| d["hook"] == "keys") && log.iter().any(|d| d["hook"] == "keys-all")
    })
    .await;
    assert_all_verified(&log);
    let keys = log.iter().find(|d| d["hook"] == "keys").unwrap();
    assert_eq!(keys["verified_with"], json!([0, 1]));
}

on_both_backends!(
    every_delivery_verifies_and_replays_are_refused,
    failures_are_retried_on_the_schedule_honouring_retry_after,
    an_exhausted_delivery_fails_and_can_be_sent_again,
    a_410_disables_the_endpoint_and_the_others_hear_of_it,
    an_endpoint_failing_too_long_is_disabled,
    a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends,
    events_past_their_retention_are_purged,
    endpoint_secrets_follow_key_rotation_and_reencryption,
);
