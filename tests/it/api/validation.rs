//! Input the databases cannot store, or should not: NUL and control characters in every
//! string the API stores, and instants outside what RFC 3339 and both backends
//! represent, are refused at the edge with 422 `validation_failed` naming the field,
//! identically on SQLite and PostgreSQL, and write nothing.

use axum::http::{Method, StatusCode};
use connvault::error::Error;
use connvault::models::ConnectionId;
use connvault::repositories::connections::{self, TokenStatusPatch};
use serde_json::{Value, json};

use crate::support::CONNECTION_ACTIVITY;
use crate::support::TestDb;
use crate::support::api::TestApp;

const RETURN_URL: &str = "https://app.example/done";

fn provider_body() -> Value {
    json!({
        "display_name": "Acme CRM",
        "auth_modes": ["oauth2_authorization_code", "api_key"],
        "authorization_url": "https://crm.example/oauth/authorize",
        "token_url": "https://crm.example/oauth/token",
        "default_scopes": ["contacts.read"],
        "health_check": {"method": "GET", "url": "https://crm.example/api/me"},
        "docs_url": "https://crm.example/docs",
        "metadata": {"region": "eu"},
    })
}

/// `base` with `key` set to `value`.
fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut body = base.clone();
    body[key] = value;
    body
}

/// Row counts of every table a refused request could have written to.
async fn counts(t: &TestDb) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "tenants",
        "api_keys",
        "operator_keys",
        "providers",
        "connections",
        "credential_secrets",
        "activity_log",
        "connect_sessions",
        "oauth_apps",
    ] {
        out.push(t.count(table).await);
    }
    out
}

async fn nul_and_control_characters_are_refused_naming_the_field(t: TestDb) {
    let app = TestApp::new(t).await;
    let op = app.operator.clone();
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let provider_path = "/v1/providers/acme-crm";
    let r = app
        .call(Method::PUT, provider_path, Some(&op), Some(provider_body()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let app_body = json!({
        "client_id": "acme-client",
        "client_secret": "client-secret-validation-0123",
        "allowed_return_urls": [RETURN_URL],
    });
    let r = app
        .call(
            Method::PUT,
            "/v1/oauth-apps/acme-crm",
            Some(&op),
            Some(app_body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let connections = format!("/v1/tenants/{tenant}/connections");
    let create = json!({
        "provider": "acme-crm",
        "external_id": "acct-1",
        "display_name": "CRM",
        "scopes_granted": ["contacts.read"],
        "metadata": {"note": "two\nlines\tare fine"},
        "credential": {"kind": "api_key", "api_key": "sk_live_validation_0123456789"},
    });
    let r = app.post(&connections, &admin, create.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let connection = format!("{connections}/{}", r.json["id"].as_str().unwrap());
    let session = json!({"provider": "acme-crm", "return_url": RETURN_URL});
    // The good session is made and shows the label as given, trimmed.
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connect-sessions"),
            &admin,
            with(&session, "end_user_label", json!("  Jo  ")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["end_user_label"], "Jo");

    let before = counts(&app.t).await;
    let provider_before = app.get(provider_path, &op).await.json;
    let connection_before = app.get(&connection, &admin).await.json;
    let other = with(&create, "external_id", json!("acct-2"));
    let provider = provider_body();
    let sessions = format!("/v1/tenants/{tenant}/connect-sessions");
    // (method, path, key, body, field named)
    let refused: Vec<(Method, String, &str, Value, &str)> = vec![
        (
            Method::POST,
            connections.clone(),
            &admin,
            with(&other, "metadata", json!({"k": "v\u{0}"})),
            "metadata",
        ),
        (
            Method::POST,
            connections.clone(),
            &admin,
            with(&other, "metadata", json!({"k\u{0}": "v"})),
            "metadata",
        ),
        (
            Method::POST,
            connections.clone(),
            &admin,
            with(&other, "metadata", json!({"k": {"deep": ["\u{1b}[2J"]}})),
            "metadata",
        ),
        (
            Method::POST,
            connections.clone(),
            &admin,
            with(&other, "metadata", json!({"line\nbreak": 1})),
            "metadata",
        ),
        (
            Method::POST,
            connections.clone(),
            &admin,
            with(&other, "scopes_granted", json!(["contacts.read", "x\u{0}"])),
            "scopes_granted",
        ),
        (
            Method::POST,
            connections.clone(),
            &admin,
            with(&other, "display_name", json!("CRM\u{0}")),
            "display_name",
        ),
        (
            Method::POST,
            connections.clone(),
            &admin,
            with(&other, "external_id", json!("acct\u{0}")),
            "external_id",
        ),
        (
            Method::PATCH,
            connection.clone(),
            &admin,
            json!({"metadata": {"k": "v\u{0}"}}),
            "metadata",
        ),
        (
            Method::PATCH,
            connection.clone(),
            &admin,
            json!({"metadata": {"\u{7f}": "v"}}),
            "metadata",
        ),
        (
            Method::PATCH,
            connection.clone(),
            &admin,
            json!({"display_name": "x\u{0}"}),
            "display_name",
        ),
        (
            Method::POST,
            sessions.clone(),
            &admin,
            with(&session, "scopes", json!(["a\u{0}"])),
            "scopes",
        ),
        (
            Method::POST,
            sessions.clone(),
            &admin,
            with(&session, "end_user_label", json!("Jo\u{0}")),
            "end_user_label",
        ),
        (
            Method::POST,
            sessions.clone(),
            &admin,
            with(&session, "return_url", json!(format!("{RETURN_URL}\u{0}"))),
            "return_url",
        ),
        (
            Method::PUT,
            provider_path.into(),
            &op,
            with(&provider, "metadata", json!({"k": "v\u{0}"})),
            "metadata",
        ),
        (
            Method::PUT,
            provider_path.into(),
            &op,
            with(&provider, "default_scopes", json!(["a\u{0}"])),
            "default_scopes",
        ),
        (
            Method::PUT,
            provider_path.into(),
            &op,
            with(&provider, "docs_url", json!("https://crm.example/\u{0}")),
            "docs_url",
        ),
        (
            Method::PUT,
            provider_path.into(),
            &op,
            with(&provider, "token_url", json!("https://crm.example/\ntoken")),
            "token_url",
        ),
        (
            Method::PUT,
            provider_path.into(),
            &op,
            with(
                &provider,
                "health_check",
                json!({"method": "GET", "url": "https://crm.example/\u{0}"}),
            ),
            "health_check.url",
        ),
        (
            Method::PUT,
            provider_path.into(),
            &op,
            with(&provider, "display_name", json!("Acme\u{0}")),
            "display_name",
        ),
        (
            Method::PUT,
            "/v1/oauth-apps/acme-crm".into(),
            &op,
            with(&app_body, "client_id", json!("id\u{0}")),
            "client_id",
        ),
        (
            Method::PUT,
            "/v1/oauth-apps/acme-crm".into(),
            &op,
            with(
                &app_body,
                "allowed_return_urls",
                json!([format!("{RETURN_URL}/\u{0}")]),
            ),
            "allowed_return_urls",
        ),
        (
            Method::POST,
            "/v1/tenants".into(),
            &op,
            json!({"name": "Evil\u{0}Corp"}),
            "name",
        ),
        (
            Method::POST,
            format!("/v1/tenants/{tenant}/api-keys"),
            &admin,
            json!({"name": "k\u{0}", "role": "viewer"}),
            "name",
        ),
        (
            Method::POST,
            "/v1/api-keys".into(),
            &op,
            json!({"name": "\u{1b}]0;pwned\u{7}"}),
            "name",
        ),
    ];
    for (method, path, key, body, field) in refused {
        let label = format!("{method} {path} {field}");
        let r = app.call(method, &path, Some(key), Some(body)).await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.json["field"], field, "{label}: {}", r.json);
    }
    assert_eq!(counts(&app.t).await, before, "nothing was written");
    assert_eq!(app.get(provider_path, &op).await.json, provider_before);
    assert_eq!(app.get(&connection, &admin).await.json, connection_before);

    // A NUL in a path parameter that names a provider finds nothing.
    app.get("/v1/oauth-apps/acme%00crm", &op)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    app.call(Method::DELETE, "/v1/oauth-apps/%00", Some(&op), None)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(counts(&app.t).await, before);
}

async fn instants_outside_four_digit_years_are_refused(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let path = format!("/v1/tenants/{tenant}/connections");
    let body = |at: &str| json!({"provider": "slack", "external_id": format!("T-{at}"), "token_expires_at": at});
    for at in [
        "+99999-01-01T00:00:00Z",
        "+10000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "0000-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ] {
        let r = app.post(&path, &admin, body(at)).await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.json["field"], "token_expires_at", "{at}: {}", r.json);
    }
    assert_eq!(app.t.count("connections").await, 0, "nothing was written");
    assert_eq!(app.t.count(CONNECTION_ACTIVITY).await, 0);

    // The bounds themselves are stored and listed back as RFC 3339.
    for at in ["9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z"] {
        let r = app.post(&path, &admin, body(at)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    }
    let r = app.get(&path, &admin).await;
    let listed: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["token_expires_at"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z"]);
    for at in listed {
        chrono::DateTime::parse_from_rfc3339(at).expect("an RFC 3339 date-time");
    }

    // The library refuses them as well, changing nothing.
    let tenant = connvault::models::TenantId::parse(&tenant).unwrap();
    let id = ConnectionId::parse(r.json["items"][0]["id"].as_str().unwrap()).unwrap();
    let before = connections::get_by_id(&app.t.db, tenant, id).await.unwrap();
    let far = "+99999-01-01T00:00:00Z".parse().unwrap();
    for (patch, field) in [
        (
            TokenStatusPatch {
                token_expires_at: Some(Some(far)),
                ..Default::default()
            },
            "token_expires_at",
        ),
        (
            TokenStatusPatch {
                last_health_check_at: Some(Some(far)),
                ..Default::default()
            },
            "last_health_check_at",
        ),
    ] {
        let err = connections::update_tokens_status(&app.t.db, tenant, id, patch)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Invalid { field: f, .. } if f == field),
            "{err}"
        );
    }
    assert_eq!(
        connections::get_by_id(&app.t.db, tenant, id).await.unwrap(),
        before
    );
}

crate::on_both_backends!(
    nul_and_control_characters_are_refused_naming_the_field,
    instants_outside_four_digit_years_are_refused,
);
