//! Event endpoints over the API: the secret shown once (creation, rotation) and never
//! again, the URL rules (SSRF refusals in production), the event-type filter, who may
//! do what, tenants apart, and deployment-wide endpoints for operators.

use axum::http::{Method, StatusCode};
use connvault::config::Profile;
use connvault::services::events::EventOptions;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::api::TestApp;

fn endpoints(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/event-endpoints")
}

async fn endpoints_are_managed_by_admins_and_show_their_secret_once(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let viewer = app.key(&tenant, "viewer").await;
    let body = json!({
        "url": "http://127.0.0.1:9/hooks/acme",
        "description": "Acme backend",
        "event_types": ["connection.status_changed", "token.refresh_failed", "connection.status_changed"],
    });
    // A viewer may read but not register.
    app.post(&endpoints(&tenant), &viewer, body.clone())
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    let r = app.post(&endpoints(&tenant), &admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.headers["cache-control"], "no-store");
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "a Standard Webhooks secret");
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    assert_eq!(key.len(), 32);
    let endpoint = r.json["endpoint"].clone();
    let id = endpoint["id"].as_str().unwrap().to_owned();
    assert_eq!(endpoint["tenant_id"], tenant.as_str());
    assert_eq!(
        endpoint["event_types"],
        json!(["connection.status_changed", "token.refresh_failed"]),
        "types deduplicated"
    );
    assert_eq!(endpoint["enabled"], true);
    // Stored encrypted: the secret is nowhere in the row.
    let row: Vec<u8> = {
        use sea_orm::EntityTrait;
        connvault::models::event_endpoint::Entity::find_by_id(uuid::Uuid::parse_str(&id).unwrap())
            .one(&app.t.owner)
            .await
            .unwrap()
            .unwrap()
            .secret_ciphertext
    };
    assert!(!String::from_utf8_lossy(&row).contains(&secret[6..]));

    // Read back: never the secret.
    let one = app
        .get(&format!("{}/{id}", endpoints(&tenant)), &viewer)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.json.get("secret").is_none());
    let list = app.get(&endpoints(&tenant), &viewer).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);

    // Change: types, description, disable.
    let r = app
        .call(
            Method::PATCH,
            &format!("{}/{id}", endpoints(&tenant)),
            Some(&admin),
            Some(json!({"event_types": [], "description": "", "enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["event_types"], json!([]));
    assert!(r.json["description"].is_null());
    assert_eq!(r.json["enabled"], false);
    assert_eq!(r.json["disabled_reason"], "manual");

    // Rotation: a new secret, once; the old one signs until the overlap ends.
    let r = app
        .post(
            &format!("{}/{id}/rotate-secret", endpoints(&tenant)),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let rotated = r.json["secret"].as_str().unwrap();
    assert_ne!(rotated, secret);
    assert!(!r.json["endpoint"]["previous_secret_expires_at"].is_null());

    // Another tenant's admin sees nothing of it.
    let other = app.tenant("Other").await;
    let other_admin = app.key(&other, "admin").await;
    app.get(&format!("{}/{id}", endpoints(&tenant)), &other_admin)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("{}/{id}", endpoints(&other)), &other_admin)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .call(
            Method::DELETE,
            &format!("{}/{id}", endpoints(&other)),
            Some(&other_admin),
            None,
        )
        .await;
    r.problem(StatusCode::NOT_FOUND, "not_found");

    // Delete.
    let r = app
        .call(
            Method::DELETE,
            &format!("{}/{id}", endpoints(&tenant)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.get(&format!("{}/{id}", endpoints(&tenant)), &admin)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
}

async fn bad_input_is_refused_and_stores_nothing(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    for (body, field) in [
        (json!({"url": "ftp://example.com/x"}), "url"),
        (json!({"url": "http://user:pw@example.com/x"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (
            json!({"url": "http://example.com/x", "event_types": ["connection.exploded"]}),
            "event_types",
        ),
        (
            json!({"url": "http://example.com/x", "description": "a\u{0007}b"}),
            "description",
        ),
    ] {
        let r = app.post(&endpoints(&tenant), &admin, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.json
        );
        let named = r.json["field"].as_str().unwrap_or_default();
        assert!(named.starts_with(field), "{body}: {}", r.json);
    }
    assert_eq!(app.t.count("event_endpoints").await, 0);
}

/// Production: https only, and no address inside the network, named in the 422.
async fn production_refuses_urls_that_reach_inside(t: TestDb) {
    let options = EventOptions {
        url_policy: EventOptions::url_policy_for(Profile::Production, false),
        ..EventOptions::default()
    };
    let app = TestApp::with_state(t, |s| s.with_events(options)).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    for (url, why) in [
        ("http://hooks.example.com/x", "https"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://localhost/x", "loopback"),
        ("https://10.0.0.8/x", "private"),
        ("https://172.16.3.4/x", "private"),
        ("https://192.168.1.1/x", "private"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://[::1]/x", "loopback"),
        ("https://[fe80::1]/x", "link-local"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
    ] {
        let r = app
            .post(&endpoints(&tenant), &admin, json!({ "url": url }))
            .await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let detail = r.json["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{url}: {detail}");
    }
    assert_eq!(app.t.count("event_endpoints").await, 0);
    // Allowed explicitly, a private address is taken.
    let open = EventOptions {
        url_policy: EventOptions::url_policy_for(Profile::Production, true),
        ..EventOptions::default()
    };
    let url = connvault::services::events::endpoints::check_url("https://10.0.0.8/x", &open)
        .await
        .unwrap();
    assert_eq!(url, "https://10.0.0.8/x");
}

async fn deployment_endpoints_are_for_operators_only(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let body = json!({ "url": "http://127.0.0.1:9/hooks/all" });
    app.post("/v1/event-endpoints", &admin, body.clone())
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    let r = app.post("/v1/event-endpoints", &app.operator, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert!(r.json["endpoint"]["tenant_id"].is_null());
    let id = r.json["endpoint"]["id"].as_str().unwrap().to_owned();
    let list = app.get("/v1/event-endpoints", &app.operator).await;
    let items: Vec<Value> = list.json["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    // Not a tenant's: a tenant's list and path do not show it.
    assert_eq!(
        app.get(&endpoints(&tenant), &admin).await.json["items"],
        json!([])
    );
    app.get(&format!("{}/{id}", endpoints(&tenant)), &app.operator)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .post(
            &format!("/v1/event-endpoints/{id}/rotate-secret"),
            &app.operator,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = app
        .get(
            &format!("/v1/event-endpoints/{id}/deliveries"),
            &app.operator,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/event-endpoints/{id}"),
            Some(&admin),
            None,
        )
        .await;
    r.problem(StatusCode::FORBIDDEN, "forbidden");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/event-endpoints/{id}"),
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

on_both_backends!(
    endpoints_are_managed_by_admins_and_show_their_secret_once,
    bad_input_is_refused_and_stores_nothing,
    production_refuses_urls_that_reach_inside,
    deployment_endpoints_are_for_operators_only,
);
