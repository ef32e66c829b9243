//! The logs of a whole API session hold no secret.

use axum::http::Method;
use serde_json::json;
use tracing::Instrument;

use super::{API_KEY_SECRET, NEW_SECRET, stripe};
use crate::support::TestDb;
use crate::support::api::TestApp;

/// Captures every log event of a whole API session (request spans included) and
/// checks that none holds a secret the session wrote or read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_an_api_session_hold_no_secret() {
    let capture = crate::support::logs::Capture::start();

    let app = TestApp::new(TestDb::sqlite().await).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let base = format!("/v1/tenants/{tenant}");
    let r = app
        .post(
            &format!("{base}/connections"),
            &admin,
            stripe("acct", API_KEY_SECRET),
        )
        .instrument(capture.span())
        .await;
    let conn = format!("{base}/connections/{}", r.json["id"].as_str().unwrap());
    let r = app.get(&format!("{conn}/credentials"), &service).await;
    assert_eq!(r.json["fields"]["api_key"], API_KEY_SECRET);
    app.call(
        Method::PUT,
        &format!("{conn}/credentials"),
        Some(&admin),
        Some(json!({"kind": "basic", "username": "u", "password": NEW_SECRET})),
    )
    .await;
    app.post(&format!("{base}/connections"), &admin, json!({"provider": "stripe", "external_id": "bad", "credential": {"kind": "api_key", "api_key": "", "extra": NEW_SECRET}})).await;
    app.post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;

    let logs = capture.text();
    assert!(
        capture.own_text().contains("request_id"),
        "request spans carry request ids: {logs}"
    );
    for secret in [
        API_KEY_SECRET,
        NEW_SECRET,
        admin.as_str(),
        service.as_str(),
        app.operator.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
