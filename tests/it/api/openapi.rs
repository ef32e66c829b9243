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
    (
        "post",
        "/v1/tenants/{tenant_id}/connections/{connection_id}/test",
    ),
    ("get", "/v1/tenants/{tenant_id}/integrations"),
    ("get", "/v1/tenants/{tenant_id}/activity"),
    ("get", "/v1/oauth-apps"),
    ("get", "/v1/oauth-apps/{provider}"),
    ("put", "/v1/oauth-apps/{provider}"),
    ("delete", "/v1/oauth-apps/{provider}"),
    ("get", "/v1/operation-types"),
    ("get", "/v1/operation-types/{type}"),
    ("put", "/v1/operation-types/{type}"),
    ("delete", "/v1/operation-types/{type}"),
    ("post", "/v1/tenants/{tenant_id}/operations"),
    ("get", "/v1/tenants/{tenant_id}/operations"),
    ("get", "/v1/tenants/{tenant_id}/operations/{run_id}"),
    ("post", "/v1/tenants/{tenant_id}/operations/{run_id}/cancel"),
    ("post", "/v1/tenants/{tenant_id}/connect-sessions"),
    (
        "get",
        "/v1/tenants/{tenant_id}/connect-sessions/{session_id}",
    ),
    ("get", "/oauth/callback/{provider}"),
    ("post", "/v1/operations/claim"),
    ("post", "/v1/operations/{run_id}/heartbeat"),
    ("post", "/v1/operations/{run_id}/complete"),
    ("get", "/v1/operations/{run_id}/credentials"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("put", "/v1/tenants/{tenant_id}/repositories"),
    ("get", "/v1/tenants/{tenant_id}/repositories"),
    ("get", "/v1/tenants/{tenant_id}/webhook-events"),
    ("post", "/webhooks/{connection_id}"),
    ("post", "/v1/tenants/{tenant_id}/event-endpoints"),
    ("get", "/v1/tenants/{tenant_id}/event-endpoints"),
    (
        "get",
        "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}",
    ),
    (
        "patch",
        "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}",
    ),
    (
        "delete",
        "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}",
    ),
    (
        "post",
        "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}/rotate-secret",
    ),
    (
        "get",
        "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}/deliveries",
    ),
    (
        "post",
        "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
    ),
    ("post", "/v1/event-endpoints"),
    ("get", "/v1/event-endpoints"),
    ("get", "/v1/event-endpoints/{endpoint_id}"),
    ("patch", "/v1/event-endpoints/{endpoint_id}"),
    ("delete", "/v1/event-endpoints/{endpoint_id}"),
    ("post", "/v1/event-endpoints/{endpoint_id}/rotate-secret"),
    ("get", "/v1/event-endpoints/{endpoint_id}/deliveries"),
    (
        "post",
        "/v1/event-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
    ),
];

/// Deliveries of Git services: the signature is the credential, so no API key (an
/// unsigned request is a 401 all the same).
const SIGNED: [&str; 1] = ["/webhooks/{connection_id}"];

/// Operations open to anyone (probes and scraping).
const UNAUTHENTICATED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The end user's side of a connect flow: the link token or the state is the
/// credential, so no API key.
const END_USER: [&str; 1] = ["/oauth/callback/{provider}"];

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
            if SIGNED.contains(&path.as_str()) {
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
                assert!(op["security"].is_null(), "{method} {path}: no API key");
            } else if !UNAUTHENTICATED.contains(&path.as_str())
                && !END_USER.contains(&path.as_str())
            {
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

/// What every operation must carry: a summary, a description, an example of its
/// request body, and an example of every response that has a body.
async fn every_operation_has_a_summary_a_description_and_examples(t: TestDb) {
    let app = TestApp::new(t).await;
    let doc = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .json;
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let summary = op["summary"].as_str().unwrap_or_default();
            let description = op["description"].as_str().unwrap_or_default();
            assert!(!summary.is_empty(), "{method} {path}: summary");
            assert!(
                description.len() > 20 && description != summary,
                "{method} {path}: a description of its own"
            );
            assert!(!op["tags"][0].as_str().unwrap_or_default().is_empty());
            if let Some(content) = op.get("requestBody").map(|b| &b["content"]) {
                let json = &content["application/json"];
                assert!(
                    json["example"].is_object(),
                    "{method} {path}: request example"
                );
            }
            let mut examples = 0;
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    !response["description"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty(),
                    "{method} {path} {status}: description"
                );
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    assert!(
                        !content["example"].is_null(),
                        "{method} {path} {status} {media}: example"
                    );
                    examples += 1;
                    if media == "application/problem+json" {
                        let example = &content["example"];
                        assert_eq!(example["status"], status.parse::<u16>().unwrap());
                        assert!(example["code"].is_string());
                    }
                }
            }
            assert!(examples > 0, "{method} {path}: at least one example");
            for param in op["parameters"].as_array().into_iter().flatten() {
                assert!(
                    param["schema"].is_object(),
                    "{method} {path}: typed parameters"
                );
            }
        }
    }
    assert_eq!(count, OPERATIONS.len());
}

/// The request schemas state the lengths, patterns and ranges the server enforces.
async fn the_request_schemas_state_what_the_server_enforces(t: TestDb) {
    let app = TestApp::new(t).await;
    let doc = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .json;
    let schemas = &doc["components"]["schemas"];
    let constraint = |name: &str, key: &str| schemas[name][key].clone();
    assert_eq!(constraint("Slug", "pattern"), "^[a-z0-9][a-z0-9-]*$");
    assert_eq!(constraint("Slug", "maxLength"), 64);
    assert_eq!(constraint("ExternalIdText", "maxLength"), 255);
    assert_eq!(constraint("DisplayName", "maxLength"), 200);
    assert_eq!(constraint("Name", "maxLength"), 200);
    assert_eq!(constraint("Scope", "maxLength"), 512);
    assert_eq!(constraint("HttpsUrl", "maxLength"), 2048);
    assert_eq!(constraint("ReturnUrls", "maxItems"), 50);
    assert_eq!(constraint("SessionScopes", "maxItems"), 100);
    let refs = |schema: &str, field: &str| schemas[schema]["properties"][field].to_string();
    assert!(refs("CreateConnection", "provider").contains("/Slug"));
    assert!(refs("CreateConnection", "external_id").contains("/ExternalIdText"));
    assert!(refs("CreateConnection", "display_name").contains("/DisplayName"));
    assert!(refs("CreateConnection", "scopes_granted").contains("/Scope"));
    assert!(refs("UpdateConnection", "status").contains("/SettableStatus"));
    assert!(
        !schemas["SettableStatus"]["enum"]
            .to_string()
            .contains("revoked")
    );
    assert_eq!(
        schemas["TenantKeyRole"]["enum"],
        json!(["admin", "service", "viewer"])
    );
    assert_eq!(
        schemas["OperatorKeyRole"]["enum"],
        json!(["operator", "worker"])
    );
    assert!(refs("CreateTenant", "name").contains("/Name"));
    assert!(refs("CreateTenantKey", "role").contains("/TenantKeyRole"));
    assert!(refs("CreateOperatorKey", "role").contains("/OperatorKeyRole"));
    let session = &schemas["CreateConnectSession"]["properties"];
    assert_eq!(session["expires_in_seconds"]["minimum"], 1);
    assert_eq!(session["expires_in_seconds"]["maximum"], 1800);
    assert!(session["return_url"].to_string().contains("/HttpsUrl"));
    assert!(session["scopes"].to_string().contains("/SessionScopes"));
    assert_eq!(
        schemas["SetOAuthApp"]["properties"]["client_id"]["maxLength"],
        512
    );
    assert_eq!(
        schemas["SetOAuthApp"]["properties"]["client_secret"]["maxLength"],
        4096
    );
    // Every secret of every credential kind.
    let kinds = schemas["Credential"]["oneOf"].as_array().unwrap();
    assert_eq!(kinds.len(), 5);
    for kind in kinds {
        for (field, schema) in kind["properties"].as_object().unwrap() {
            if field != "kind" {
                assert_eq!(schema["maxLength"], 16 * 1024, "{field}");
                assert_eq!(schema["minLength"], 1, "{field}");
                assert!(schema["pattern"].is_string(), "{field}");
            }
        }
    }
    let health = &schemas["HealthCheck"]["properties"];
    assert_eq!(health["expect_status"]["minimum"], 100);
    assert_eq!(health["expect_status"]["maximum"], 599);
    assert_eq!(
        schemas["ProviderUpsertBody"]["properties"]["auth_modes"]["minItems"],
        1
    );
    // Every list's limit is 1 to 200.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let is_page = op["responses"]["200"]["content"]["application/json"]["schema"]
                .to_string()
                .contains("Page_");
            let limit = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == "limit");
            assert_eq!(
                is_page,
                limit.is_some(),
                "{method} {path}: a list takes limit"
            );
            if let Some(limit) = limit {
                assert_eq!(limit["schema"]["minimum"], 1, "{method} {path}");
                assert_eq!(limit["schema"]["maximum"], 200, "{method} {path}");
                let cursor = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "cursor");
                assert!(cursor, "{method} {path}: cursor");
            }
        }
    }
    // Every code the server can answer is named, connection_unusable among them.
    let codes = schemas["Problem"]["properties"]["code"]["description"]
        .as_str()
        .unwrap();
    for code in [
        "connection_unusable",
        "connection_needs_reauth",
        "provider_unavailable",
        "invalid_query",
        "invalid_cursor",
        "unsupported_media_type",
        "payload_too_large",
    ] {
        assert!(codes.contains(code), "{code}");
    }
    assert!(
        constraint("HttpsUrl", "pattern")
            .as_str()
            .unwrap()
            .starts_with("^(https://")
    );
}

crate::on_both_backends!(
    the_openapi_document_validates_and_covers_every_route,
    every_operation_has_a_summary_a_description_and_examples,
    the_request_schemas_state_what_the_server_enforces,
);
