//! Every refusal is an RFC 9457 problem with a stable code, leaves nothing
//! half-written, and never echoes a secret sent in the wrong shape.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::support::TestDb;
use crate::support::api::TestApp;

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
    assert_eq!(app.t.count("activity_log").await, 0);
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
        app.t.count("activity_log").await,
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

/// Asserts that a problem names `field` (when given) and holds none of `values`, and
/// stays small whatever was sent.
fn names_field_not_value(r: &crate::support::api::Response, field: Option<&str>, values: &[&str]) {
    let text = r.json.to_string();
    assert!(text.len() < 600, "a small problem: {} bytes", text.len());
    if let Some(field) = field {
        assert_eq!(r.json["field"], field, "{text}");
    }
    for value in values {
        assert!(!text.contains(value), "{value:?} echoed: {text}");
    }
}

async fn a_problem_names_the_field_never_the_value(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let base = format!("/v1/tenants/{tenant}");
    let long = "z".repeat(20_000);

    // Path parameters.
    let get = |path: String, field, value| (Method::GET, path, admin.as_str(), field, value);
    for (method, path, key, field, value) in [
        get(
            format!("{base}/connections/not-a-uuid"),
            "connection_id",
            "not-a-uuid",
        ),
        get(format!("{base}/connections/{long}"), "connection_id", &long),
        get(format!("/v1/tenants/{long}"), "tenant_id", &long),
        get(
            format!("{base}/connect-sessions/x-y-z"),
            "session_id",
            "x-y-z",
        ),
        (
            Method::DELETE,
            "/v1/api-keys/not-a-key".to_owned(),
            &app.operator,
            "key_id",
            "not-a-key",
        ),
    ] {
        let r = app.call(method, &path, Some(key), None).await;
        r.problem(StatusCode::BAD_REQUEST, "invalid_id");
        names_field_not_value(&r, Some(field), &[value]);
    }

    // Slugs.
    let r = app
        .post(
            &format!("{base}/connections"),
            &admin,
            json!({"provider": "../../etc/passwd", "external_id": "x"}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_slug");
    names_field_not_value(&r, Some("provider"), &["etc/passwd"]);
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/providers/{long}"),
            Some(&app.operator),
            Some(json!({"display_name": "X", "auth_modes": ["api_key"]})),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_slug");
    names_field_not_value(&r, None, &[&long]);
    let r = app
        .get(
            &format!("{base}/connections?provider=Bad%20Slug%21"),
            &admin,
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_slug");
    names_field_not_value(&r, None, &["Bad Slug"]);

    // Query parameters: named when plain, never their values.
    for (query, field, value) in [
        ("status=zombie", Some("status"), "zombie"),
        (
            "health=sick-as-a-parrot",
            Some("health"),
            "sick-as-a-parrot",
        ),
        ("limit=many-please", Some("limit"), "many-please"),
        ("colour=red", Some("colour"), "red"),
    ] {
        let r = app
            .get(&format!("{base}/connections?{query}"), &admin)
            .await;
        r.problem(StatusCode::BAD_REQUEST, "invalid_query");
        names_field_not_value(&r, field, &[value]);
    }
    for query in [
        format!("limit={long}"),
        format!("{long}=1"),
        "we%20ird=1".to_owned(),
    ] {
        let r = app
            .get(&format!("{base}/connections?{query}"), &admin)
            .await;
        r.problem(StatusCode::BAD_REQUEST, "invalid_query");
        names_field_not_value(&r, None, &[&long, "we ird"]);
    }
    let r = app
        .get(&format!("{base}/activity?action=rm%20-rf"), &admin)
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    names_field_not_value(&r, Some("action"), &["rm -rf"]);

    // Body fields: unknown names shown only when plain; values never.
    let path = format!("{base}/connections");
    let r = app
        .post(
            &path,
            &admin,
            json!({"provider": "slack", "external_id": "T1", "colour": "red"}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_field");
    names_field_not_value(&r, Some("colour"), &["red"]);
    let mut odd = json!({"provider": "slack", "external_id": "T1"});
    odd[long.as_str()] = json!(1);
    odd["we ird"] = json!(1);
    let r = app.post(&path, &admin, odd).await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_field");
    names_field_not_value(&r, None, &[&long, "we ird"]);
    let r = app
        .post(
            &path,
            &admin,
            json!({"provider": "slack", "external_id": "T1", "scopes_granted": ["repo", "two words"]}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    names_field_not_value(&r, Some("scopes_granted"), &["two words"]);
    let r = app
        .call(
            Method::PUT,
            "/v1/providers/acme-crm",
            Some(&app.operator),
            Some(
                json!({"display_name": "X", "auth_modes": ["api_key"], "default_scopes": ["a b"]}),
            ),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    names_field_not_value(&r, Some("default_scopes"), &["a b"]);
    let r = app
        .call(
            Method::PUT,
            "/v1/providers/acme-crm",
            Some(&app.operator),
            Some(json!({"display_name": "X", "auth_modes": ["api_key"], long.as_str(): 1})),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_field");
    names_field_not_value(&r, None, &[&long]);
    assert_eq!(app.t.count("connections").await, 0);
}

crate::on_both_backends!(
    every_error_is_a_problem_with_a_stable_code,
    a_secret_sent_in_the_wrong_shape_is_not_echoed,
    a_problem_names_the_field_never_the_value,
);
