//! Response headers: the request id a response and its log lines carry is bounded and
//! plain, whatever the client sent.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
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

crate::on_both_backends!(a_client_request_id_is_kept_only_when_short_and_plain);
