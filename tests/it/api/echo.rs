//! A problem names the field that failed, never the value: whatever was sent in a
//! path, a query or a body (a 20,000-character id, a path-traversal slug, an odd
//! field name), the answer stays small and does not echo it.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::TestDb;
use crate::support::api::{Response, TestApp};

/// Asserts that a problem names `field` (when given) and holds none of `values`, and
/// stays small whatever was sent.
fn names_field_not_value(r: &Response, field: Option<&str>, values: &[&str]) {
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

crate::on_both_backends!(a_problem_names_the_field_never_the_value);
