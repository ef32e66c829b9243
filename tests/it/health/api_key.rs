//! On-demand tests of API-key connections against a local provider.

use axum::http::{Method, StatusCode};
use connvault::models::ProviderSlug;
use connvault::services::credentials::Credential;
use connvault::services::health::HealthChecker;
use connvault::services::refresh::{RefreshOptions, Refresher};
use secrecy::SecretString;
use serde_json::json;

use super::provider::Mode;
use super::{CHATTY, KEYED, UNCHECKED, api_key, options, setup};
use crate::support::TestDb;
use crate::support::logs::Capture;

/// Every answer of the provider, in turn, as the test records it; the key travels in
/// the provider's header and nowhere else.
async fn each_answer_of_an_api_key_provider_is_recorded(t: TestDb) {
    let capture = Capture::start();
    let s = setup(t).await;
    let key = api_key();
    let id = s.connect(KEYED, &key).await;

    let r = s.test(&id).await;
    assert_eq!(r["healthy"], true, "{r}");
    assert_eq!(r["health_status"], "healthy");
    assert_eq!(r["http_status"], 200);
    assert!(r["reason_code"].is_null());
    assert_eq!(r["connection"]["health_status"], "healthy");
    assert_eq!(r["connection"]["status"], "active");
    assert_eq!(r["connection"]["last_health_check_at"], r["checked_at"]);
    assert_eq!(s.provider.hits(&key), 1, "the key went in X-Api-Key");

    for (mode, health, reason, http) in [
        (
            Mode::Status(429),
            "degraded",
            "provider_rate_limited",
            json!(429),
        ),
        (
            Mode::Status(500),
            "degraded",
            "provider_unavailable",
            json!(500),
        ),
        (
            Mode::Status(503),
            "degraded",
            "provider_unavailable",
            json!(503),
        ),
        (Mode::Slow, "degraded", "provider_timeout", json!(null)),
    ] {
        s.provider.set(mode);
        let r = s.test(&id).await;
        assert_eq!(r["healthy"], false, "{mode:?}: {r}");
        assert_eq!(r["health_status"], health, "{mode:?}");
        assert_eq!(r["reason_code"], reason, "{mode:?}");
        assert_eq!(r["http_status"], http, "{mode:?}");
        let conn = &r["connection"];
        assert_eq!(
            conn["status"], "active",
            "{mode:?}: an outage is not the key's fault"
        );
        assert_eq!(conn["health_status"], health);
        assert_eq!(conn["last_error"]["reason_code"], reason);
    }

    s.provider.set(Mode::Status(401));
    let r = s.test(&id).await;
    assert_eq!(r["health_status"], "unhealthy");
    assert_eq!(r["reason_code"], "credential_rejected");
    assert_eq!(r["message"], "the provider answered 401 Unauthorized");
    assert_eq!(
        r["connection"]["status"], "error",
        "a static key must be replaced"
    );
    assert_eq!(
        r["connection"]["last_error"]["message"],
        "the provider answered 401 Unauthorized"
    );
    s.provider.set(Mode::Status(403));
    assert_eq!(s.test(&id).await["reason_code"], "credential_rejected");

    // The provider takes the key again: the rejection is undone.
    s.provider.set(Mode::Ok);
    let r = s.test(&id).await;
    assert_eq!(r["healthy"], true);
    assert_eq!(r["connection"]["status"], "active");
    assert!(r["connection"]["last_error"].is_null());

    assert_eq!(
        s.actions(&id).await,
        [
            "connected",
            "test_succeeded",
            "test_failed",
            "health_changed",
            "test_failed",
            "test_failed",
            "test_failed",
            "test_failed",
            "health_changed",
            "status_changed",
            "test_failed",
            "test_succeeded",
            "health_changed",
            "status_changed",
        ]
    );
    let bodies = s.app.bodies.lock().unwrap().clone();
    for (label, body) in bodies {
        assert!(!body.contains(&key), "{label} returned the key");
    }
    assert!(!capture.text().contains(&key), "the key is in the log");
}

/// Slack answers errors with 200: `ok: false` with a rejecting error is a rejected
/// credential, another error degrades, `ok: true` is healthy.
async fn a_slack_style_error_with_200_is_read_from_the_body(t: TestDb) {
    let s = setup(t).await;
    let key = api_key();
    let id = s.connect(CHATTY, &key).await;
    s.provider.set(Mode::SlackOk);
    assert_eq!(s.test(&id).await["health_status"], "healthy");
    assert_eq!(s.provider.hits(&format!("Bearer {key}")), 1);

    s.provider.set(Mode::SlackError("missing_scope"));
    let r = s.test(&id).await;
    assert_eq!(r["health_status"], "degraded");
    assert_eq!(r["reason_code"], "unexpected_response");
    assert_eq!(r["http_status"], 200);

    s.provider.set(Mode::SlackError("invalid_auth"));
    let r = s.test(&id).await;
    assert_eq!(r["health_status"], "unhealthy");
    assert_eq!(r["reason_code"], "credential_rejected");
    assert_eq!(r["message"], "the provider answered error invalid_auth");
    assert_eq!(r["connection"]["status"], "error");

    // A plain 200 without `ok` is not taken for health.
    s.provider.set(Mode::Ok);
    assert_eq!(s.test(&id).await["reason_code"], "unexpected_response");
}

/// A redirect is an answer, not a hop: the credential never reaches where it points.
async fn redirects_are_not_followed_with_the_credential(t: TestDb) {
    let s = setup(t).await;
    let id = s.connect(KEYED, &api_key()).await;
    s.provider.set(Mode::Redirect);
    let r = s.test(&id).await;
    assert_eq!(r["health_status"], "degraded");
    assert_eq!(r["reason_code"], "provider_redirected");
    assert_eq!(r["http_status"], 302);
    assert_eq!(s.provider.landing_hits(), 0, "the redirect was followed");
}

/// What cannot be tested is a 409 with the reason, and changes nothing.
async fn a_connection_that_cannot_be_tested_is_a_conflict(t: TestDb) {
    let s = setup(t).await;
    let unchecked = s.connect(UNCHECKED, &api_key()).await;
    let r = s.test_as(&unchecked, &s.admin).await;
    r.problem(StatusCode::CONFLICT, "connection_not_testable");
    assert_eq!(r.json["reason_code"], "no_health_check");

    let id = s.connect(KEYED, &api_key()).await;
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connections/{id}/disconnect", s.tenant),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = s.test_as(&id, &s.admin).await;
    r.problem(StatusCode::CONFLICT, "connection_not_testable");
    assert_eq!(r.json["reason_code"], "disconnected");

    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connections", s.tenant),
            &s.admin,
            json!({"provider": KEYED, "external_id": "no-key-yet"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let pending = r.json["id"].as_str().unwrap().to_owned();
    let r = s.test_as(&pending, &s.admin).await;
    r.problem(StatusCode::CONFLICT, "connection_not_testable");
    assert_eq!(r.json["reason_code"], "not_connected");

    assert_eq!(s.provider.total_hits(), 0, "nothing was sent");
    let conn = s.connection(&pending).await;
    assert_eq!(conn["health_status"], "unknown");
    assert!(conn["last_health_check_at"].is_null());
    assert_eq!(s.actions(&pending).await, ["connected"]);

    let unknown = uuid::Uuid::new_v4();
    s.test_as(&unknown.to_string(), &s.admin)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
}

/// Admins, service keys and operators test; viewers may not; another tenant's key
/// finds nothing; no key is a 401.
async fn who_may_test_a_connection(t: TestDb) {
    let s = setup(t).await;
    let id = s.connect(KEYED, &api_key()).await;
    for key in [&s.admin, &s.service, &s.app.operator] {
        assert_eq!(s.test_as(&id, key).await.status, StatusCode::OK);
    }
    s.test_as(&id, &s.viewer)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    let other = s.app.tenant("other").await;
    let other_admin = s.app.key(&other, "admin").await;
    s.test_as(&id, &other_admin)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    let r = s
        .app
        .call(
            Method::POST,
            &format!("/v1/tenants/{}/connections/{id}/test", s.tenant),
            None,
            None,
        )
        .await;
    r.problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        s.provider.total_hits(),
        3,
        "only allowed callers reached the provider"
    );
}

/// `/metrics` counts the connections of every tenant by health.
async fn metrics_count_connections_by_health(t: TestDb) {
    let s = setup(t).await;
    let healthy = s.connect(KEYED, &api_key()).await;
    let rejected_key = api_key();
    let unhealthy = s.connect(KEYED, &rejected_key).await;
    let other = s.app.tenant("other").await;
    let elsewhere = s.connect_in(&other, KEYED, &api_key()).await;
    let _never_tested = s.connect(KEYED, &api_key()).await;
    s.test(&healthy).await;
    let r = s
        .app
        .call(
            Method::POST,
            &format!("/v1/tenants/{other}/connections/{elsewhere}/test"),
            Some(&s.app.operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    s.provider.set(Mode::Status(401));
    s.test(&unhealthy).await;

    let r = s.app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = s.app.bodies.lock().unwrap().last().unwrap().1.clone();
    for line in [
        "# TYPE connvault_connections_by_health gauge",
        "connvault_connections_by_health{health=\"healthy\"} 2",
        "connvault_connections_by_health{health=\"unhealthy\"} 1",
        "connvault_connections_by_health{health=\"unknown\"} 1",
        "connvault_connections_by_health{health=\"degraded\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}

/// The library's test of a credential not yet saved: the provider's verdict, and
/// nothing written.
async fn a_credential_is_tested_without_storing_anything(t: TestDb) {
    let s = setup(t).await;
    let db = s.app.t.db.clone();
    let keyring = s.app.t.keyring().await;
    let refresher = Refresher::new(db.clone(), keyring.clone(), RefreshOptions::default());
    let checker = HealthChecker::new(db, keyring, refresher, options());
    let before = (
        s.app.t.count("connections").await,
        s.app.t.count("activity_log").await,
    );
    let key = api_key();
    let credential = Credential::ApiKey {
        api_key: SecretString::from(key.clone()),
    };
    let slug = ProviderSlug::parse(KEYED).unwrap();
    assert!(
        checker
            .test_credential(&slug, &credential)
            .await
            .unwrap()
            .is_healthy()
    );
    s.provider.set(Mode::Status(401));
    let verdict = checker.test_credential(&slug, &credential).await.unwrap();
    assert!(verdict.rejected());
    assert_eq!(s.provider.hits(&key), 2);
    let unchecked = ProviderSlug::parse(UNCHECKED).unwrap();
    let err = checker
        .test_credential(&unchecked, &credential)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            connvault::Error::ConnectionNotTestable("no_health_check")
        ),
        "{err}"
    );
    let after = (
        s.app.t.count("connections").await,
        s.app.t.count("activity_log").await,
    );
    assert_eq!(before, after, "nothing was stored");
}

crate::on_both_backends!(
    each_answer_of_an_api_key_provider_is_recorded,
    a_slack_style_error_with_200_is_read_from_the_body,
    redirects_are_not_followed_with_the_credential,
    a_connection_that_cannot_be_tested_is_a_conflict,
    who_may_test_a_connection,
    metrics_count_connections_by_health,
    a_credential_is_tested_without_storing_anything,
);
