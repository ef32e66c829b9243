//! The worker endpoints through the real router: a worker key made by an operator
//! claims, heartbeats, reads the credential and completes; every refusal has its
//! status and stable code, and no claim token or secret reaches a log.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use connvault::models::operation_run::{RunOutcome, RunStatus};
use connvault::models::{ConnectionId, TenantId, connection};
use connvault::repositories::connections;
use serde_json::{Value, json};

use super::*;
use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::api::{Response, TestApp};

/// Calls a worker endpoint with `key`, and `token` as `X-Claim-Token`; records the
/// claim tokens an answer hands out.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut builder = Request::builder().method(method.clone()).uri(path);
    if let Some(key) = key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(token) = token {
        secrets::record(token);
        builder = builder.header("X-Claim-Token", token);
    }
    let request = match body {
        Some(b) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap();
    let response = app.send(request, &format!("{method} {path}")).await;
    if let Some(runs) = response.json["runs"].as_array() {
        for run in runs {
            if let Some(token) = run["claim_token"].as_str() {
                secrets::record(token);
            }
        }
    }
    response
}

/// A worker key made through the API by the test's operator.
pub async fn worker_key(app: &TestApp) -> String {
    let r = app
        .post(
            "/v1/api-keys",
            &app.operator,
            json!({"name": "sync worker", "role": "worker"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["role"], "worker");
    assert_eq!(r.json["tenant_id"], Value::Null);
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    secrets::record(&secret);
    secret
}

/// A tenant with an active Stripe connection holding `secret`, made through the API.
pub async fn tenant_with_connection(app: &TestApp, secret: &str) -> (String, connection::Model) {
    secrets::record(secret);
    let tenant = app.tenant("Acme").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &app.operator,
            json!({
                "provider": "stripe",
                "external_id": "acct_worker_api",
                "credential": {"kind": "api_key", "api_key": secret}
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = ConnectionId::parse(r.json["id"].as_str().unwrap()).unwrap();
    let tenant_id = TenantId::parse(&tenant).unwrap();
    let conn = connections::get_by_id(&app.t.db, tenant_id, id)
        .await
        .unwrap()
        .unwrap();
    (tenant, conn)
}

async fn a_worker_claims_heartbeats_reads_and_completes_over_http(t: TestDb) {
    let app = TestApp::new(t).await;
    register_type(&app.t, SYNC, "stripe", 3, 60).await;
    let secret = "sk_live_worker_http_flow_1a2b3c4d";
    let (tenant, conn) = tenant_with_connection(&app, secret).await;
    let run = enqueue(&app.t, &conn, SYNC).await;
    let key = worker_key(&app).await;

    let claimed = call(
        &app,
        Method::POST,
        "/v1/operations/claim",
        Some(&key),
        None,
        Some(json!({"types": [SYNC], "limit": 5})),
    )
    .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.json);
    assert_eq!(claimed.headers["cache-control"], "no-store");
    let runs = claimed.json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], run.to_string());
    assert_eq!(runs[0]["tenant_id"], tenant);
    assert_eq!(runs[0]["attempt"], 1);
    assert_eq!(claimed.json["blocked_run_ids"], json!([]));
    let token = runs[0]["claim_token"].as_str().unwrap().to_owned();
    let path = |what: &str| format!("/v1/operations/{run}/{what}");

    let beat = call(
        &app,
        Method::POST,
        &path("heartbeat"),
        Some(&key),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.json);
    assert_eq!(beat.json["status"], "running");

    let cred = call(
        &app,
        Method::GET,
        &path("credentials"),
        Some(&key),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(cred.status, StatusCode::OK, "{}", cred.json);
    assert_eq!(cred.headers["cache-control"], "no-store");
    assert_eq!(cred.json["connection_id"], conn.id.to_string());
    assert_eq!(cred.json["fields"]["api_key"], secret);

    call(
        &app,
        Method::GET,
        &path("credentials"),
        Some(&key),
        None,
        None,
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "claim_token_missing");
    call(
        &app,
        Method::POST,
        &path("heartbeat"),
        Some(&key),
        Some("cvr_wrong"),
        None,
    )
    .await
    .problem(StatusCode::CONFLICT, "claim_lost");
    call(
        &app,
        Method::POST,
        "/v1/operations/not-a-uuid/heartbeat",
        Some(&key),
        Some(&token),
        None,
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "invalid_id");

    let body = json!({
        "outcome": "partially_succeeded",
        "summary_counts": {"items_synced": 120, "items_failed": 3},
        "failure_summary": {"reason_code": "provider_rejected_items", "message": "3 rejected; token=sk_live_worker_http_echo_99aa88bb"}
    });
    secrets::record("sk_live_worker_http_echo_99aa88bb");
    for (bad, status, code) in [
        (
            json!({"outcome": "cancelled"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"outcome": "succeeded", "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
        ),
        (
            json!({"outcome": "succeeded", "summary_counts": {"n": -1}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ] {
        call(
            &app,
            Method::POST,
            &path("complete"),
            Some(&key),
            Some(&token),
            Some(bad),
        )
        .await
        .problem(status, code);
    }
    assert_eq!(run_row(&app.t, run).await.status, RunStatus::Running);
    let done = call(
        &app,
        Method::POST,
        &path("complete"),
        Some(&key),
        Some(&token),
        Some(body.clone()),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.json);
    assert_eq!(done.json["status"], "completed");
    assert_eq!(done.json["outcome"], "partially_succeeded");
    assert_eq!(done.json["summary_counts"]["items_synced"], 120);
    let message = done.json["failure_summary"]["message"].as_str().unwrap();
    assert!(!message.contains("sk_live_"), "{message}");
    assert_eq!(
        run_row(&app.t, run).await.outcome,
        RunOutcome::PartiallySucceeded
    );

    for (method, what, body) in [
        (Method::POST, "complete", Some(body)),
        (Method::POST, "heartbeat", None),
        (Method::GET, "credentials", None),
    ] {
        call(&app, method, &path(what), Some(&key), Some(&token), body)
            .await
            .problem(StatusCode::CONFLICT, "claim_lost");
    }
    // The activity log of the tenant tells what happened.
    let activity = app
        .get(
            &format!("/v1/tenants/{tenant}/activity?action=operation_completed"),
            &app.operator,
        )
        .await;
    assert_eq!(
        activity.json["items"].as_array().unwrap().len(),
        1,
        "{}",
        activity.json
    );
    assert_eq!(
        activity.json["items"][0]["details"]["run_id"],
        run.to_string()
    );

    for bad in [
        json!({"types": [], "limit": 1}),
        json!({"types": [SYNC], "limit": 0}),
        json!({"types": [SYNC], "limit": 101}),
        json!({"types": ["Bad Type"]}),
    ] {
        call(
            &app,
            Method::POST,
            "/v1/operations/claim",
            Some(&key),
            None,
            Some(bad),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let empty = call(
        &app,
        Method::POST,
        "/v1/operations/claim",
        Some(&key),
        None,
        Some(json!({"types": [SYNC]})),
    )
    .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json["runs"], json!([]));
}

on_both_backends!(a_worker_claims_heartbeats_reads_and_completes_over_http);
