//! Every refusal is an RFC 9457 problem with a stable code, leaves nothing
//! half-written, and never echoes a secret sent in the wrong shape.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::support::TestDb;
use crate::support::api::TestApp;

use crate::support::CONNECTION_ACTIVITY;

async fn every_error_is_a_problem_with_a_stable_code(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let viewer = app.key(&tenant, "viewer").await;
    let base = format!("/v1/tenants/{tenant}");
    let raw = |method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {admin}"));
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).unwrap()
    };
    let path = format!("{base}/connections");
    app.send(
        raw(
            "POST",
            &path,
            Some("application/json"),
            b"{\"provider\": ".to_vec(),
        ),
        "malformed",
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "malformed_json");
    app.send(
        raw("POST", &path, Some("text/plain"), b"{}".to_vec()),
        "415",
    )
    .await
    .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let huge = format!(
        "{{\"provider\":\"slack\",\"external_id\":\"{}\"}}",
        "x".repeat(connvault::http::BODY_LIMIT)
    );
    app.send(
        raw("POST", &path, Some("application/json"), huge.into_bytes()),
        "413",
    )
    .await
    .problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // (body, status, code, field named)
    let refused = [
        (
            json!({"provider": "slack", "external_id": "T1", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("colour"),
        ),
        (
            json!({"provider": "slack", "external_id": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("external_id"),
        ),
        (
            json!({"provider": "Not A Slug", "external_id": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_slug",
            Some("provider"),
        ),
        (
            json!({"provider": "myspace", "external_id": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_provider",
            Some("provider"),
        ),
        (
            json!({"provider": "stripe", "external_id": "x", "credential": {"kind": "api_key", "api_key": ""}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("api_key"),
        ),
    ];
    for (body, status, code, field) in refused {
        let r = app.post(&path, &admin, body).await;
        r.problem(status, code);
        if let Some(field) = field {
            assert_eq!(r.json["field"], field, "{}", r.json);
        }
    }
    assert_eq!(app.t.count("connections").await, 0, "nothing half-written");
    assert_eq!(app.t.count(CONNECTION_ACTIVITY).await, 0);
    let r = app
        .post(
            &path,
            &admin,
            json!({"provider": "stripe", "external_id": "x", "credential": {"kind": "password"}}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get(&format!("{base}/connections/not-a-uuid"), &viewer)
        .await
        .problem(StatusCode::BAD_REQUEST, "invalid_id");
    app.get("/v1/tenants/123", &viewer)
        .await
        .problem(StatusCode::BAD_REQUEST, "invalid_id");
    app.get(
        &format!("{base}/connections/{}", uuid::Uuid::new_v4()),
        &viewer,
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("{base}/connections?cursor=garbage!"), &viewer)
        .await
        .problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    app.get(&format!("{base}/connections?status=zombie"), &viewer)
        .await
        .problem(StatusCode::BAD_REQUEST, "invalid_query");
    app.get(&format!("{base}/activity?action=exploded"), &viewer)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get("/v1/nothing-here", &viewer)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    app.call(Method::GET, &path, None, None)
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.call(Method::GET, &path, Some("cv_not_a_real_key"), None)
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.call(Method::PUT, "/v1/tenants", Some(&viewer), None)
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let r = app
        .post(
            &path,
            &viewer,
            json!({"provider": "slack", "external_id": "T1"}),
        )
        .await;
    r.problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        &path,
        &admin,
        json!({"provider": "slack", "external_id": "T1"}),
    )
    .await;
    let r = app
        .post(
            &path,
            &admin,
            json!({"provider": "slack", "external_id": "T1"}),
        )
        .await;
    r.problem(StatusCode::CONFLICT, "duplicate_connection");
    assert!(r.json["detail"].as_str().unwrap().contains("slack"));
    assert_eq!(app.t.count("connections").await, 1);
    assert_eq!(
        app.t.count(CONNECTION_ACTIVITY).await,
        1,
        "the refused duplicate left no activity"
    );
}

async fn a_secret_sent_in_the_wrong_shape_is_not_echoed(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let path = format!("/v1/tenants/{tenant}/connections");
    let secret = "sk_live_wrong_shape_0123456789";
    crate::support::secrets::record(secret);
    let bodies = [
        json!({"provider": "stripe", "external_id": "x", "credential": secret}),
        json!({"provider": "stripe", "external_id": "x", "credential": {"kind": secret, "api_key": "a"}}),
        json!({"provider": "stripe", "external_id": "x", "credential": {"kind": "api_key", "api_key": [secret]}}),
        json!({"provider": "stripe", "external_id": "x", "token_expires_at": secret}),
    ];
    for body in bodies {
        let r = app.post(&path, &admin, body).await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(!r.json.to_string().contains("wrong_shape"), "{}", r.json);
        let field = r.json["field"].as_str().unwrap();
        assert!(
            field == "credential"
                || field.starts_with("credential.")
                || field == "token_expires_at",
            "{}",
            r.json
        );
    }
    let r = app
        .post(
            &path,
            &admin,
            json!({"provider": "stripe", "external_id": "x", "credential": {"kind": "api_key"}}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `api_key`"),
        "{}",
        r.json
    );
}

async fn a_duplicate_names_the_callers_existing_connection(t: TestDb) {
    let app = TestApp::new(t).await;
    let body = json!({"provider": "slack", "external_id": "T1"});
    let mut ids = Vec::new();
    for name in ["Acme", "Globex"] {
        let tenant = app.tenant(name).await;
        let admin = app.key(&tenant, "admin").await;
        let path = format!("/v1/tenants/{tenant}/connections");
        let r = app.post(&path, &admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let id = r.json["id"].as_str().unwrap().to_owned();
        let r = app.post(&path, &admin, body.clone()).await;
        r.problem(StatusCode::CONFLICT, "duplicate_connection");
        assert_eq!(r.json["existing_connection_id"], id.as_str(), "{}", r.json);
        ids.push(id);
    }
    assert_ne!(
        ids[0], ids[1],
        "each tenant is told of its own connection only"
    );
    assert_eq!(app.t.count("connections").await, 2);
    assert_eq!(app.t.count(CONNECTION_ACTIVITY).await, 2);
}

crate::on_both_backends!(
    every_error_is_a_problem_with_a_stable_code,
    a_secret_sent_in_the_wrong_shape_is_not_echoed,
    a_duplicate_names_the_callers_existing_connection,
);
