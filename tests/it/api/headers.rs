//! Response headers: the request id a response and its log lines carry is bounded and
//! plain, whatever the client sent; every response that carries a secret is
//! `Cache-Control: no-store`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use tracing::Instrument;

use crate::support::TestDb;
use crate::support::api::{Response, TestApp};
use crate::support::logs::Capture;

/// `GET /v1/tenants` with these `x-request-id` headers, its log events captured.
async fn with_request_ids(app: &TestApp, ids: &[&str]) -> (Response, String) {
    let capture = Capture::start();
    let mut request = Request::get("/v1/tenants")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.operator));
    for id in ids {
        request = request.header("x-request-id", *id);
    }
    let r = app
        .send(request.body(Body::empty()).unwrap(), "GET /v1/tenants")
        .instrument(capture.span())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    (r, capture.own_text())
}

fn response_id(r: &Response) -> String {
    let ids: Vec<_> = r.headers.get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "one request id: {ids:?}");
    ids[0].to_str().unwrap().to_owned()
}

async fn a_client_request_id_is_kept_only_when_short_and_plain(t: TestDb) {
    let app = TestApp::new(t).await;

    let plain = "client-req.42_abc";
    let (r, logs) = with_request_ids(&app, &[plain]).await;
    assert_eq!(response_id(&r), plain);
    assert!(
        logs.contains(&format!("\"request_id\":\"{plain}\"")),
        "the log carries it: {logs}"
    );

    let long = format!("r{}", "x".repeat(3_000));
    let refused: [&[&str]; 5] = [
        &[&long],
        &[&long[..65]],
        &["has spaces; and <markup>"],
        &["../../etc/passwd"],
        &["first-ok", "second-ok"],
    ];
    for sent in refused {
        let (r, logs) = with_request_ids(&app, sent).await;
        let id = response_id(&r);
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "a generated id replaces the one sent ({} bytes): {id}",
            sent[0].len()
        );
        assert!(
            logs.contains(&format!("\"request_id\":\"{id}\"")),
            "the log carries the generated id: {logs}"
        );
        for value in sent {
            assert!(!logs.contains(value), "the log holds what was sent");
        }
    }
}

fn no_store(r: &Response, what: &str) {
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{what}: {}",
        r.json
    );
    assert_eq!(
        r.headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{what}"
    );
}

async fn every_response_that_carries_a_secret_is_not_stored(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/api-keys"),
            &app.operator,
            json!({"name": "admin", "role": "admin"}),
        )
        .await;
    no_store(&r, "tenant key creation");
    let admin = r.json["secret"].as_str().unwrap().to_owned();
    let r = app
        .post("/v1/api-keys", &app.operator, json!({"name": "ops"}))
        .await;
    no_store(&r, "operator key creation");
    let service = app.key(&tenant, "service").await;

    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &admin,
            json!({"provider": "stripe", "external_id": "acct", "credential": {"kind": "api_key", "api_key": "sk_live_no_store_0123456789"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let credentials = format!(
        "/v1/tenants/{tenant}/connections/{}/credentials",
        r.json["id"].as_str().unwrap()
    );
    no_store(&app.get(&credentials, &service).await, "credential read");

    let return_url = "https://app.example/done";
    let r = app
        .call(
            Method::PUT,
            "/v1/oauth-apps/slack",
            Some(&app.operator),
            Some(json!({"client_id": "slack-client", "client_secret": "client-secret-no-store-0123", "allowed_return_urls": [return_url]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connect-sessions"),
            &admin,
            json!({"provider": "slack", "return_url": return_url}),
        )
        .await;
    no_store(&r, "connect session creation");
    let link = r.json["connect_url"].as_str().unwrap();
    let path = &link[link.find("/connect/").unwrap()..];
    no_store(
        &app.call(Method::GET, path, None, None).await,
        "connect page",
    );
}

crate::on_both_backends!(
    a_client_request_id_is_kept_only_when_short_and_plain,
    every_response_that_carries_a_secret_is_not_stored,
);
