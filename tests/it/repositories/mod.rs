//! Repository connections and their inbound webhooks through the real router: the
//! upsert by canonical URL, secrets shown only once, deliveries signed by the services'
//! own signers (`tests/webhooks`) verified, deduplicated and stored, refusals alike,
//! webhook registration against a local server that plays the services' APIs, events
//! per tenant, retention.

mod deliveries;
mod registration;
mod upsert;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::support::api::{Response, TestApp};
use crate::support::secrets;
use crate::webhooks::Delivery;

/// A repository access token, recorded for the log scan.
pub fn token(label: &str) -> String {
    let token = format!("gho_repo_token_{label}_{}", uuid::Uuid::new_v4().simple());
    secrets::record(&token);
    token
}

pub fn repositories(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/repositories")
}

pub async fn upsert(app: &TestApp, tenant: &str, key: &str, body: Value) -> Response {
    app.call(Method::PUT, &repositories(tenant), Some(key), Some(body))
        .await
}

/// A tenant, its admin key, and a GitHub repository connection with `secret`; returns
/// (tenant, admin key, connection id).
pub async fn github_repo(app: &TestApp, secret: &str, name: &str) -> (String, String, String) {
    let tenant = app.tenant("Repos").await;
    let admin = app.key(&tenant, "admin").await;
    let r = upsert(
        app,
        &tenant,
        &admin,
        json!({
            "repository_url": format!("https://github.com/octo-org/{name}"),
            "access_token": token("gh"),
            "webhook_secret": secret,
        }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    (tenant, admin, id)
}

/// Sends `delivery` to `/webhooks/{id}` as the service would.
pub async fn deliver(app: &TestApp, id: &str, delivery: &Delivery) -> Response {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/webhooks/{id}"));
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let request = request.body(Body::from(delivery.body.clone())).unwrap();
    app.send(request, &format!("POST /webhooks/{id}")).await
}

/// The events of `tenant` as the API lists them (one page of up to 200).
pub async fn events(app: &TestApp, tenant: &str, query: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/tenants/{tenant}/webhook-events?limit=200{query}"),
            &app.operator,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}
