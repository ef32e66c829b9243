//! The OpenAPI document: valid, and exactly the router's operations.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::TestDb;
use crate::support::api::TestApp;

/// Every API operation the router serves, as the OpenAPI document must list it.
const OPERATIONS: &[(&str, &str)] = &[
    ("post", "/v1/tenants"),
    ("get", "/v1/tenants"),
    ("get", "/v1/tenants/{tenant_id}"),
    ("post", "/v1/tenants/{tenant_id}/api-keys"),
    ("get", "/v1/tenants/{tenant_id}/api-keys"),
    ("delete", "/v1/tenants/{tenant_id}/api-keys/{key_id}"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{key_id}"),
    ("get", "/v1/providers"),
    ("get", "/v1/providers/{slug}"),
    ("put", "/v1/providers/{slug}"),
    ("post", "/v1/tenants/{tenant_id}/connections"),
    ("get", "/v1/tenants/{tenant_id}/connections"),
    ("get", "/v1/tenants/{tenant_id}/connections/{connection_id}"),
    (
        "patch",
        "/v1/tenants/{tenant_id}/connections/{connection_id}",
    ),
    (
        "delete",
        "/v1/tenants/{tenant_id}/connections/{connection_id}",
    ),
    (
        "get",
        "/v1/tenants/{tenant_id}/connections/{connection_id}/credentials",
    ),
    (
        "put",
        "/v1/tenants/{tenant_id}/connections/{connection_id}/credentials",
    ),
    (
        "post",
        "/v1/tenants/{tenant_id}/connections/{connection_id}/default",
    ),
    (
        "post",
        "/v1/tenants/{tenant_id}/connections/{connection_id}/disconnect",
    ),
    ("get", "/v1/tenants/{tenant_id}/integrations"),
    ("get", "/v1/tenants/{tenant_id}/activity"),
    ("get", "/v1/oauth-apps"),
    ("get", "/v1/oauth-apps/{provider}"),
    ("put", "/v1/oauth-apps/{provider}"),
    ("delete", "/v1/oauth-apps/{provider}"),
    ("post", "/v1/tenants/{tenant_id}/connect-sessions"),
    (
        "get",
        "/v1/tenants/{tenant_id}/connect-sessions/{session_id}",
    ),
    ("get", "/connect/{token}"),
    ("get", "/oauth/callback/{provider}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// Operations open to anyone (probes and scraping).
const UNAUTHENTICATED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The end user's side of a connect flow: the link token or the state is the
/// credential, so no API key.
const END_USER: [&str; 2] = ["/connect/{token}", "/oauth/callback/{provider}"];

async fn the_openapi_document_validates_and_covers_every_route(t: TestDb) {
    let app = TestApp::new(t).await;
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = &r.json;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    // Exactly the router's operations, each with responses, a 401 and bearer security.
    let mut listed = Vec::new();
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            listed.push((method.clone(), path.clone()));
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(
                !id.is_empty() && operation_ids.insert(id),
                "{method} {path}: unique operationId"
            );
            if !UNAUTHENTICATED.contains(&path.as_str()) && !END_USER.contains(&path.as_str()) {
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
                assert_eq!(op["security"][0]["api_key"], json!([]), "{method} {path}");
            }
            for param in path
                .split('{')
                .skip(1)
                .map(|p| p.split('}').next().unwrap())
            {
                let declared = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == param && p["in"] == "path");
                assert!(declared, "{method} {path} declares {{{param}}}");
            }
        }
    }
    let mut expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    // Every documented operation is really routed (not the 404 fallback).
    for (method, path) in OPERATIONS {
        let concrete = path
            .replace("{tenant_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{connection_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{key_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{session_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{token}", "cvc_unknown")
            .replace("{provider}", "github")
            .replace("{slug}", "github");
        let r = app
            .call(
                method.to_uppercase().parse().unwrap(),
                &concrete,
                None,
                None,
            )
            .await;
        if END_USER.contains(path) {
            // Routed: a handler's answer about the link or state, not the fallback.
            assert!(
                r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST,
                "{method} {path}: {}",
                r.json
            );
            assert_ne!(r.json["detail"], "route not found", "{method} {path}");
            continue;
        }
        let want = if UNAUTHENTICATED.contains(path) {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(
            r.status, want,
            "{method} {path} is routed (and authenticated)"
        );
    }
    // Every reference resolves, and the security scheme exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    assert!(schemas["Problem"]["properties"]["code"].is_object());
    assert!(!text.contains("ciphertext"));

    let r = app.call(Method::GET, "/docs", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("text/html"));
    let bodies = app.bodies.lock().unwrap();
    assert!(bodies.last().unwrap().1.contains("/openapi.json"));
}

crate::on_both_backends!(the_openapi_document_validates_and_covers_every_route,);
