//! Who may call the worker endpoints (worker keys only), and what a worker key may do
//! elsewhere (nothing).

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::api::{call, tenant_with_connection, worker_key};
use super::*;
use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::api::TestApp;

async fn only_worker_keys_may_call_the_worker_endpoints(t: TestDb) {
    let app = TestApp::new(t).await;
    register_type(&app.t, SYNC, "stripe", 3, 60).await;
    let (tenant, conn) = tenant_with_connection(&app, "sk_live_worker_roles_0a9b8c7d").await;
    let run = enqueue(&app.t, &conn, SYNC).await;
    let worker = worker_key(&app).await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let viewer = app.key(&tenant, "viewer").await;
    let claim = json!({"types": [SYNC], "limit": 1});
    let callers = [
        Some(app.operator.as_str()),
        Some(admin.as_str()),
        Some(service.as_str()),
        Some(viewer.as_str()),
        None,
    ];
    let expected = [403, 403, 403, 403, 401];
    let token = Some("cvr_not-yet-claimed");
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/operations/claim".to_owned(),
            Some(claim.clone()),
        ),
        (
            Method::POST,
            format!("/v1/operations/{run}/heartbeat"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/operations/{run}/complete"),
            Some(json!({"outcome": "succeeded"})),
        ),
        (
            Method::GET,
            format!("/v1/operations/{run}/credentials"),
            None,
        ),
    ] {
        for (caller, status) in callers.iter().zip(expected) {
            let r = call(&app, method.clone(), &path, *caller, token, body.clone()).await;
            assert_eq!(r.status.as_u16(), status, "{method} {path}: {}", r.json);
        }
    }
    assert_eq!(run_row(&app.t, run).await.attempt, 0, "nobody claimed it");

    // The worker: claims, and with the claim works the run.
    let r = call(
        &app,
        Method::POST,
        "/v1/operations/claim",
        Some(&worker),
        None,
        Some(claim),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let token = r.json["runs"][0]["claim_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/operations/{run}/heartbeat"),
        Some(&worker),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/operations/{run}/credentials"),
        Some(&worker),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // An operator with the token still may not.
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/operations/{run}/credentials"),
        Some(&app.operator),
        Some(&token),
        None,
    )
    .await;
    r.problem(StatusCode::FORBIDDEN, "forbidden");

    // A worker key may do nothing else: no tenant, no catalog, no keys, no credentials.
    let connection = format!("/v1/tenants/{tenant}/connections/{}", conn.id);
    for (method, path) in [
        (Method::GET, "/v1/tenants".to_owned()),
        (Method::GET, format!("/v1/tenants/{tenant}")),
        (Method::GET, "/v1/providers".to_owned()),
        (Method::GET, "/v1/api-keys".to_owned()),
        (Method::GET, format!("/v1/tenants/{tenant}/connections")),
        (Method::GET, connection.clone()),
        (Method::GET, format!("{connection}/credentials")),
        (Method::POST, format!("{connection}/disconnect")),
        (Method::GET, format!("/v1/tenants/{tenant}/activity")),
        (Method::GET, "/v1/operation-types".to_owned()),
        (Method::GET, format!("/v1/tenants/{tenant}/operations")),
        (
            Method::GET,
            format!("/v1/tenants/{tenant}/operations/{run}"),
        ),
        (
            Method::POST,
            format!("/v1/tenants/{tenant}/operations/{run}/cancel"),
        ),
    ] {
        let r = app.call(method.clone(), &path, Some(&worker), None).await;
        r.problem(StatusCode::FORBIDDEN, "forbidden");
    }
    // Tenant keys cannot be workers; operator keys are made as workers only here.
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/api-keys"),
            &app.operator,
            json!({"name": "w", "role": "worker"}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = app
        .post(
            "/v1/api-keys",
            &app.operator,
            json!({"name": "w", "role": "admin"}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = app
        .post(
            "/v1/api-keys",
            &worker,
            json!({"name": "w", "role": "worker"}),
        )
        .await;
    r.problem(StatusCode::FORBIDDEN, "forbidden");
}

on_both_backends!(only_worker_keys_may_call_the_worker_endpoints);
