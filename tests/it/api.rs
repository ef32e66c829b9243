//! The HTTP API through the real router: the whole connection lifecycle, the role ×
//! endpoint matrix, cross-tenant access, every problem code, the activity log's
//! transactional behaviour, and a scan of every response for secrets.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::support::api::TestApp;

const API_KEY_SECRET: &str = "sk_live_api_flow_4eC39HqLyjWDarjtT1zdp7dc";
const NEW_SECRET: &str = "sk_live_api_flow_replaced_9f8e7d6c5b4a";

fn stripe(external_id: &str, secret: &str) -> Value {
    json!({
        "provider": "stripe",
        "external_id": external_id,
        "display_name": "Stripe (EU)",
        "metadata": { "region": "eu" },
        "credential": { "kind": "api_key", "api_key": secret }
    })
}

async fn the_connection_lifecycle_works_end_to_end(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let viewer = app.key(&tenant, "viewer").await;
    let base = format!("/v1/tenants/{tenant}");

    // Create with a credential: active, default, masked.
    let r = app
        .post(
            &format!("{base}/connections"),
            &admin,
            stripe("acct_1", API_KEY_SECRET),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["is_default"], true);
    assert_eq!(r.json["credential"]["kind"], "api_key");
    assert_eq!(r.json["credential"]["masks"]["api_key"], "****p7dc");
    assert!(
        r.json["created_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC"
    );
    let conn = format!("{base}/connections/{id}");

    // Read it, list it, filter it.
    let r = app.get(&conn, &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["display_name"], "Stripe (EU)");
    let second = app
        .post(
            &format!("{base}/connections"),
            &admin,
            json!({"provider": "slack", "external_id": "T1"}),
        )
        .await;
    assert_eq!(second.json["status"], "pending");
    assert!(second.json["credential"].is_null());
    let r = app
        .get(&format!("{base}/connections?provider=stripe"), &viewer)
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = app
        .get(&format!("{base}/connections?status=pending"), &viewer)
        .await;
    assert_eq!(r.json["items"][0]["provider"], "slack");
    let r = app
        .get(&format!("{base}/connections?health=healthy"), &viewer)
        .await;
    assert!(r.json["items"].as_array().unwrap().is_empty());
    let r = app
        .get(&format!("{base}/connections?limit=1"), &viewer)
        .await;
    let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(
            &format!("{base}/connections?limit=1&cursor={cursor}"),
            &viewer,
        )
        .await;
    assert_eq!(r.json["items"][0]["provider"], "slack");
    assert!(r.json["next_cursor"].is_null());

    // The credential read: service only, the one response with the secret.
    let r = app.get(&format!("{conn}/credentials"), &service).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["kind"], "api_key");
    assert_eq!(r.json["fields"]["api_key"], API_KEY_SECRET);

    // Update, replace the credential, make default, integrations.
    let r = app
        .call(
            Method::PATCH,
            &conn,
            Some(&admin),
            Some(json!({"display_name": null, "status": "error"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json["display_name"].is_null());
    assert_eq!(r.json["status"], "error");
    let r = app
        .call(
            Method::PUT,
            &format!("{conn}/credentials"),
            Some(&admin),
            Some(json!({"kind": "api_key", "api_key": NEW_SECRET})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "active");
    let other = app
        .post(
            &format!("{base}/connections"),
            &admin,
            stripe("acct_2", "sk_live_other_account_000000"),
        )
        .await;
    let other_id = other.json["id"].as_str().unwrap().to_owned();
    assert_eq!(other.json["is_default"], false);
    let r = app
        .post(
            &format!("{base}/connections/{other_id}/default"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["is_default"], true);
    let r = app.get(&format!("{base}/integrations"), &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), connvault::catalog::KNOWN_PROVIDERS.len());
    let stripe_row = items.iter().find(|i| i["provider"] == "stripe").unwrap();
    assert_eq!(stripe_row["connected"], true);
    assert_eq!(stripe_row["connection_count"], 2);
    assert_eq!(stripe_row["default_connection"]["id"], other_id.as_str());
    assert_eq!(
        stripe_row["default_connection"]["credential"]["masks"]["api_key"],
        "****0000"
    );
    let github_row = items.iter().find(|i| i["provider"] == "github").unwrap();
    assert_eq!(github_row["connected"], false);
    assert!(github_row["default_connection"].is_null());

    // Disconnect: credential destroyed, revoked, row kept.
    let r = app
        .post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "revoked");
    let r = app.get(&format!("{conn}/credentials"), &service).await;
    r.problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get(&conn, &viewer).await.json["status"], "revoked");

    // Delete: gone, but its activity stays.
    let r = app.call(Method::DELETE, &conn, Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.get(&conn, &viewer)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .get(&format!("{base}/activity?connection_id={id}"), &viewer)
        .await;
    let actions: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "deleted",
            "disconnected",
            "credentials_updated",
            "status_changed",
            "connected"
        ],
        "newest first"
    );
    let r = app
        .get(&format!("{base}/activity?action=default_changed"), &viewer)
        .await;
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["actor_name"], "admin key");
    assert!(items[0]["actor_key_id"].is_string());
    let r = app.get(&format!("{base}/activity?limit=2"), &viewer).await;
    let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
    let r2 = app
        .get(&format!("{base}/activity?limit=2&cursor={cursor}"), &viewer)
        .await;
    assert_ne!(r.json["items"][0]["id"], r2.json["items"][0]["id"]);

    assert_no_secret_outside_credential_reads(
        &app,
        &[API_KEY_SECRET, NEW_SECRET, "sk_live_other_account_000000"],
    );
}

/// Every response body except the credential reads is free of the secrets written.
fn assert_no_secret_outside_credential_reads(app: &TestApp, secrets: &[&str]) {
    let bodies = app.bodies.lock().unwrap();
    assert!(bodies.len() > 10);
    for (label, body) in bodies.iter() {
        if label.starts_with("GET ") && label.ends_with("/credentials") {
            continue;
        }
        for secret in secrets {
            assert!(!body.contains(secret), "{label} returned a secret");
        }
        assert!(!body.contains("ciphertext"), "{label} mentions ciphertext");
    }
}

async fn api_keys_are_shown_once_stored_hashed_and_revocable(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/api-keys"),
            &app.operator,
            json!({"name": "ci", "role": "service"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    let key_id = r.json["id"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("cv_") && secret.len() >= 3 + 43,
        "256 bits, base64url"
    );
    assert!(secret.starts_with(r.json["prefix"].as_str().unwrap()));
    let list = app
        .get(&format!("/v1/tenants/{tenant}/api-keys"), &app.operator)
        .await;
    assert_eq!(list.json["items"][0]["id"], key_id.as_str());
    assert!(
        !list.json.to_string().contains(&secret),
        "listing never shows the secret"
    );
    assert_eq!(
        app.get(&format!("/v1/tenants/{tenant}"), &secret)
            .await
            .status,
        StatusCode::OK
    );
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/api-keys/{key_id}"),
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/tenants/{tenant}"), &secret)
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/api-keys/{key_id}"),
            Some(&app.operator),
            None,
        )
        .await;
    r.problem(StatusCode::NOT_FOUND, "not_found");

    // Operator keys.
    let r = app
        .post(
            "/v1/api-keys",
            &app.operator,
            json!({"name": "second operator"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let op2 = r.json["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/tenants", &op2).await.status, StatusCode::OK);
    let r = app.get("/v1/api-keys", &op2).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
}

/// Who may call what: every endpoint against every kind of caller.
async fn the_role_matrix_holds_for_every_endpoint(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let other_tenant = app.tenant("Globex").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let viewer = app.key(&tenant, "viewer").await;
    let foreign_admin = app.key(&other_tenant, "admin").await;
    let base = format!("/v1/tenants/{tenant}");

    // Callers, in column order: operator, admin, service, viewer, other tenant's admin, no key.
    let callers: Vec<Option<&str>> = vec![
        Some(&app.operator),
        Some(&admin),
        Some(&service),
        Some(&viewer),
        Some(&foreign_admin),
        None,
    ];
    // A fresh connection per row, so destructive calls do not disturb later rows.
    let mut rows: Vec<(Method, &str, Option<Value>, [u16; 6])> = vec![
        (Method::GET, "{base}", None, [200, 200, 200, 200, 404, 401]),
        (
            Method::GET,
            "/v1/tenants",
            None,
            [200, 403, 403, 403, 403, 401],
        ),
        (
            Method::POST,
            "/v1/tenants",
            Some(json!({"name": "x"})),
            [201, 403, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/v1/providers",
            None,
            [200, 200, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/v1/providers/github",
            None,
            [200, 200, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "{base}/api-keys",
            None,
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::POST,
            "{base}/api-keys",
            Some(json!({"name": "k", "role": "viewer"})),
            [201, 201, 403, 403, 404, 401],
        ),
        (
            Method::GET,
            "/v1/api-keys",
            None,
            [200, 403, 403, 403, 403, 401],
        ),
        (
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": "op"})),
            [201, 403, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "{base}/connections",
            None,
            [200, 200, 200, 200, 404, 401],
        ),
        (
            Method::POST,
            "{base}/connections",
            Some(json!({"provider": "slack", "external_id": "NEW"})),
            [201, 201, 403, 403, 404, 401],
        ),
        (Method::GET, "{conn}", None, [200, 200, 200, 200, 404, 401]),
        (
            Method::PATCH,
            "{conn}",
            Some(json!({"display_name": "x"})),
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::GET,
            "{conn}/credentials",
            None,
            [403, 403, 200, 403, 404, 401],
        ),
        (
            Method::PUT,
            "{conn}/credentials",
            Some(json!({"kind": "api_key", "api_key": "sk_live_matrix_000000000"})),
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::POST,
            "{conn}/default",
            Some(json!({})),
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::POST,
            "{conn}/disconnect",
            Some(json!({})),
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::DELETE,
            "{conn}",
            None,
            [204, 204, 403, 403, 404, 401],
        ),
        (
            Method::GET,
            "{base}/integrations",
            None,
            [200, 200, 200, 200, 404, 401],
        ),
        (
            Method::GET,
            "{base}/activity",
            None,
            [200, 200, 200, 200, 404, 401],
        ),
    ];
    let upsert = json!({"display_name": "Acme CRM", "auth_modes": ["api_key"]});
    rows.push((
        Method::PUT,
        "/v1/providers/acme-crm",
        Some(upsert),
        [200, 403, 403, 403, 403, 401],
    ));
    rows.push((
        Method::DELETE,
        "{base}/api-keys/{key}",
        None,
        [204, 204, 403, 403, 404, 401],
    ));
    rows.push((
        Method::DELETE,
        "/v1/api-keys/{opkey}",
        None,
        [204, 403, 403, 403, 403, 401],
    ));
    let mut n = 0;
    let mut failures = Vec::new();
    for (method, template, body, expected) in rows {
        for (caller, want) in callers.iter().zip(expected) {
            n += 1;
            let created = app
                .post(&format!("{base}/connections"), &admin, json!({
                    "provider": "stripe", "external_id": format!("acct_{n}"),
                    "credential": {"kind": "api_key", "api_key": format!("sk_live_matrix_{n:012}")}
                }))
                .await;
            let conn = format!(
                "{base}/connections/{}",
                created.json["id"].as_str().unwrap()
            );
            // A fresh tenant key and operator key for the revocation rows.
            let key = app
                .post(
                    &format!("{base}/api-keys"),
                    &app.operator,
                    json!({"name": format!("k{n}"), "role": "viewer"}),
                )
                .await
                .json["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let opkey = app
                .post(
                    "/v1/api-keys",
                    &app.operator,
                    json!({"name": format!("op{n}")}),
                )
                .await
                .json["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let path = template
                .replace("{conn}", &conn)
                .replace("{base}", &base)
                .replace("{key}", &key)
                .replace("{opkey}", &opkey);
            let body = body.clone().map(|b| {
                let text = b.to_string().replace("NEW", &format!("NEW{n}"));
                serde_json::from_str::<Value>(&text).unwrap()
            });
            let r = app.call(method.clone(), &path, *caller, body).await;
            if r.status.as_u16() != want {
                failures.push(format!(
                    "{method} {template} caller#{}: want {want}, got {} {}",
                    callers.iter().position(|c| c == caller).unwrap(),
                    r.status,
                    r.json
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn another_tenant_sees_nothing_by_id_filter_or_cursor(t: TestDb) {
    let app = TestApp::new(t).await;
    let a = app.tenant("A").await;
    let b = app.tenant("B").await;
    let a_admin = app.key(&a, "admin").await;
    let b_admin = app.key(&b, "admin").await;
    let b_service = app.key(&b, "service").await;
    let mut a_ids = Vec::new();
    for i in 0..3 {
        let r = app
            .post(
                &format!("/v1/tenants/{a}/connections"),
                &a_admin,
                stripe(&format!("a{i}"), &format!("sk_live_tenant_a_{i}_00000000")),
            )
            .await;
        a_ids.push(r.json["id"].as_str().unwrap().to_owned());
    }
    app.post(
        &format!("/v1/tenants/{b}/connections"),
        &b_admin,
        stripe("b0", "sk_live_tenant_b_0_00000000"),
    )
    .await;

    // By id, under B's path and under A's path with B's key: 404 either way.
    for id in &a_ids {
        app.get(&format!("/v1/tenants/{b}/connections/{id}"), &b_admin)
            .await
            .problem(StatusCode::NOT_FOUND, "not_found");
        app.get(
            &format!("/v1/tenants/{b}/connections/{id}/credentials"),
            &b_service,
        )
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
        app.get(&format!("/v1/tenants/{a}/connections/{id}"), &b_admin)
            .await
            .problem(StatusCode::NOT_FOUND, "not_found");
        let r = app
            .call(
                Method::DELETE,
                &format!("/v1/tenants/{b}/connections/{id}"),
                Some(&b_admin),
                None,
            )
            .await;
        r.problem(StatusCode::NOT_FOUND, "not_found");
    }
    // A missing tenant looks the same as a foreign one.
    let ghost = uuid::Uuid::new_v4();
    let foreign = app
        .get(&format!("/v1/tenants/{a}/connections"), &b_admin)
        .await;
    let missing = app
        .get(&format!("/v1/tenants/{ghost}/connections"), &b_admin)
        .await;
    assert_eq!(foreign.json, missing.json);
    // By list filter and by cursor: B's list holds only B's rows.
    let r = app
        .get(&format!("/v1/tenants/{a}/connections?limit=1"), &a_admin)
        .await;
    let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
    for path in [
        format!("/v1/tenants/{b}/connections?provider=stripe"),
        format!("/v1/tenants/{b}/connections?cursor={cursor}"),
        format!("/v1/tenants/{b}/activity"),
    ] {
        let r = app.get(&path, &b_admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        for item in r.json["items"].as_array().unwrap() {
            assert_eq!(item["tenant_id"], b.as_str(), "{path}");
        }
    }
    // A conflict names only the caller's own tuple: B can hold A's external account.
    let r = app
        .post(
            &format!("/v1/tenants/{b}/connections"),
            &b_admin,
            stripe("a0", "sk_live_tenant_b_dup_0000000"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let r = app
        .post(
            &format!("/v1/tenants/{b}/connections"),
            &b_admin,
            stripe("a0", "sk_live_tenant_b_dup_0000000"),
        )
        .await;
    r.problem(StatusCode::CONFLICT, "duplicate_connection");
    assert!(r.json["detail"].as_str().unwrap().contains("\"a0\""));
}

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

async fn an_activity_entry_commits_or_rolls_back_with_its_change(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &admin,
            stripe("acct", API_KEY_SECRET),
        )
        .await;
    let conn = format!(
        "/v1/tenants/{tenant}/connections/{}",
        r.json["id"].as_str().unwrap()
    );
    assert_eq!(app.t.count("activity_log").await, 1);

    // Make every activity insert fail: the change it would record must not happen.
    app.t
        .exec("ALTER TABLE activity_log RENAME TO activity_log_away")
        .await
        .unwrap();
    let r = app
        .post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;
    r.problem(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    assert!(
        !r.json.to_string().contains("activity_log"),
        "a 500 says nothing internal"
    );
    // Every other recorded change fails the same way and leaves nothing behind.
    let before = app.get(&conn, &admin).await.json;
    let attempts = [
        (
            Method::POST,
            format!("/v1/tenants/{tenant}/connections"),
            Some(stripe("acct_new", NEW_SECRET)),
        ),
        (
            Method::PATCH,
            conn.clone(),
            Some(json!({"status": "error", "display_name": "renamed"})),
        ),
        (
            Method::PUT,
            format!("{conn}/credentials"),
            Some(json!({"kind": "api_key", "api_key": NEW_SECRET})),
        ),
        (Method::DELETE, conn.clone(), None),
    ];
    for (method, path, body) in attempts {
        let r = app.call(method.clone(), &path, Some(&admin), body).await;
        r.problem(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    }
    app.t
        .exec("ALTER TABLE activity_log_away RENAME TO activity_log")
        .await
        .unwrap();
    let r = app.get(&conn, &admin).await;
    assert_eq!(
        r.json, before,
        "no change landed without its activity entry"
    );
    assert_eq!(
        app.t.count("connections").await,
        1,
        "the create rolled back too"
    );
    let r = app
        .get(
            &format!("{conn}/credentials"),
            &app.key(&tenant, "service").await,
        )
        .await;
    assert_eq!(
        r.json["fields"]["api_key"], API_KEY_SECRET,
        "the credential was not replaced"
    );
    let r = app.get(&conn, &admin).await;
    assert_eq!(r.json["status"], "active", "the disconnect rolled back");
    assert_eq!(
        r.json["credential"]["kind"], "api_key",
        "the credential is still there"
    );
    assert_eq!(app.t.count("activity_log").await, 1);

    // And with the log in place both land together.
    app.post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;
    assert_eq!(app.t.count("activity_log").await, 2);
}

crate::on_both_backends!(
    the_connection_lifecycle_works_end_to_end,
    api_keys_are_shown_once_stored_hashed_and_revocable,
    the_role_matrix_holds_for_every_endpoint,
    another_tenant_sees_nothing_by_id_filter_or_cursor,
    every_error_is_a_problem_with_a_stable_code,
    an_activity_entry_commits_or_rolls_back_with_its_change,
    metrics_count_requests_by_route_template_and_status,
    the_openapi_document_validates_and_covers_every_route,
    the_credential_read_performs_no_database_write,
    a_secret_sent_in_the_wrong_shape_is_not_echoed,
    status_changes_follow_the_lifecycle_rules,
);

/// Captures every log event of a whole API session (request spans included) and
/// checks that none holds a secret the session wrote or read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_an_api_session_hold_no_secret() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "connvault=trace,tower_http=trace,sea_orm=debug,info",
        ))
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("request_id"),
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

async fn metrics_count_requests_by_route_template_and_status(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let viewer = app.key(&tenant, "viewer").await;
    for _ in 0..3 {
        app.get(&format!("/v1/tenants/{tenant}"), &viewer).await;
    }
    app.get(&format!("/v1/tenants/{}", uuid::Uuid::new_v4()), &viewer)
        .await;
    let response = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.content_type.starts_with("text/plain"));
    let bodies = app.bodies.lock().unwrap();
    let text = &bodies.last().unwrap().1;
    assert!(
        text.contains("connvault_http_requests_total{method=\"GET\",route=\"/v1/tenants/{tenant_id}\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("route=\"/v1/tenants/{tenant_id}\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains("connvault_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/tenants/{tenant_id}\",status=\"200\"} 3"));
    assert!(text.contains("le=\"+Inf\"} 3"));
    assert!(
        !text.contains(&tenant),
        "labels hold route templates, not ids"
    );
    assert!(text.contains("connvault_db_pool_connections "));
}

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

/// The credential read works on a database connection that cannot write at all.
async fn the_credential_read_performs_no_database_write(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &admin,
            stripe("acct", API_KEY_SECRET),
        )
        .await;
    let path = format!(
        "/v1/tenants/{tenant}/connections/{}/credentials",
        r.json["id"].as_str().unwrap()
    );

    let read_only_url = match app.t.backend {
        crate::support::Backend::Sqlite => app.t.url.replace("mode=rwc", "mode=ro"),
        crate::support::Backend::Postgres => format!(
            "{}?options=-c%20default_transaction_read_only%3Don",
            app.t.service_url
        ),
    };
    let read_only = connvault::db::connect(&read_only_url, 2).await.unwrap();
    assert!(
        read_only
            .execute_unprepared("DELETE FROM activity_log")
            .await
            .is_err(),
        "the connection really is read-only"
    );
    let reader = connvault::http::router(connvault::http::AppState::new(
        read_only,
        app.t.keyring().await,
    ));
    let request = Request::get(&path)
        .header(header::AUTHORIZATION, format!("Bearer {service}"))
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(reader, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn a_secret_sent_in_the_wrong_shape_is_not_echoed(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let path = format!("/v1/tenants/{tenant}/connections");
    let secret = "sk_live_wrong_shape_0123456789";
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

async fn status_changes_follow_the_lifecycle_rules(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let base = format!("/v1/tenants/{tenant}");
    // No credential: cannot be made active.
    let r = app
        .post(
            &format!("{base}/connections"),
            &admin,
            json!({"provider": "slack", "external_id": "T1"}),
        )
        .await;
    let bare = format!("{base}/connections/{}", r.json["id"].as_str().unwrap());
    let r = app
        .call(
            Method::PATCH,
            &bare,
            Some(&admin),
            Some(json!({"status": "active"})),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.json["field"], "status");
    // Disconnected: the status stays revoked, a second disconnect is refused, and the
    // integrations view no longer counts it.
    let r = app
        .post(
            &format!("{base}/connections"),
            &admin,
            stripe("acct", API_KEY_SECRET),
        )
        .await;
    let conn = format!("{base}/connections/{}", r.json["id"].as_str().unwrap());
    app.post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;
    for status in ["active", "error"] {
        let r = app
            .call(
                Method::PATCH,
                &conn,
                Some(&admin),
                Some(json!({"status": status})),
            )
            .await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    app.post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = app.get(&format!("{base}/integrations"), &admin).await;
    let stripe_row = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["provider"] == "stripe")
        .unwrap()
        .clone();
    assert_eq!(stripe_row["connected"], false, "{stripe_row}");
    assert_eq!(stripe_row["connection_count"], 0);
    // Replacing the credential brings it back.
    let r = app
        .call(
            Method::PUT,
            &format!("{conn}/credentials"),
            Some(&admin),
            Some(json!({"kind": "api_key", "api_key": NEW_SECRET})),
        )
        .await;
    assert_eq!(r.json["status"], "active", "{}", r.json);
    // The bearer scheme is case-insensitive.
    let request = Request::get(&conn)
        .header(header::AUTHORIZATION, format!("bearer {admin}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(request, "lowercase bearer").await.status,
        StatusCode::OK
    );
}
