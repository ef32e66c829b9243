//! Connection tests and scheduled health checks against real servers: a local HTTP
//! server playing an API-key provider (`provider`), and the test authorization server's
//! userinfo endpoint for OAuth connections (`oauth`).

mod api_key;
mod oauth;
pub mod provider;
mod scheduled;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use connvault::services::health::HealthOptions;
use serde_json::{Value, json};

use crate::support::api::{Response, TestApp};
use crate::support::{TestDb, secrets};
use provider::Provider;

/// The API-key provider: the key goes in `X-Api-Key`.
pub const KEYED: &str = "acmecrm";
/// The Slack-style provider: errors come with 200 and `ok: false`; the key as a bearer.
pub const CHATTY: &str = "chatty";
/// A provider without a health check.
pub const UNCHECKED: &str = "quietco";

/// Health checks give up quickly in tests.
pub fn options() -> HealthOptions {
    HealthOptions {
        timeout: Duration::from_millis(1500),
        ..HealthOptions::default()
    }
}

pub struct Setup {
    pub app: TestApp,
    pub provider: Provider,
    pub tenant: String,
    pub admin: String,
    pub service: String,
    pub viewer: String,
}

pub async fn setup(t: TestDb) -> Setup {
    let provider = Provider::start().await;
    let app = TestApp::with_state(t, |state| state.with_health(options())).await;
    let me = format!("{}/me", provider.base);
    for (slug, body) in [
        (
            KEYED,
            json!({
                "display_name": "Acme CRM",
                "auth_modes": ["api_key"],
                "health_check": {"method": "GET", "url": me},
                "metadata": {"api_key_header": "X-Api-Key"},
            }),
        ),
        (
            CHATTY,
            json!({
                "display_name": "Chatty",
                "auth_modes": ["api_key"],
                "health_check": {
                    "method": "POST", "url": me, "ok_field": "ok", "error_field": "error",
                    "rejected_errors": ["invalid_auth", "token_revoked"],
                },
            }),
        ),
        (
            UNCHECKED,
            json!({"display_name": "Quiet Co", "auth_modes": ["api_key"]}),
        ),
    ] {
        let r = app
            .call(
                Method::PUT,
                &format!("/v1/providers/{slug}"),
                Some(&app.operator),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
    let tenant = app.tenant("acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let viewer = app.key(&tenant, "viewer").await;
    Setup {
        app,
        provider,
        tenant,
        admin,
        service,
        viewer,
    }
}

/// A fresh API key that the secret scan looks for.
pub fn api_key() -> String {
    let key = format!("sk_live_{}", uuid::Uuid::new_v4().simple());
    secrets::record(&key);
    key
}

impl Setup {
    /// A connection of the tenant to `provider` with `key`; its id.
    pub async fn connect_in(&self, tenant: &str, provider: &str, key: &str) -> String {
        let r = self
            .app
            .post(
                &format!("/v1/tenants/{tenant}/connections"),
                &self.app.operator,
                json!({
                    "provider": provider,
                    "external_id": format!("acct-{}", uuid::Uuid::new_v4().simple()),
                    "credential": {"kind": "api_key", "api_key": key},
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json["id"].as_str().unwrap().to_owned()
    }

    pub async fn connect(&self, provider: &str, key: &str) -> String {
        self.connect_in(&self.tenant.clone(), provider, key).await
    }

    pub async fn test_as(&self, connection: &str, key: &str) -> Response {
        self.app
            .call(
                Method::POST,
                &format!("/v1/tenants/{}/connections/{connection}/test", self.tenant),
                Some(key),
                None,
            )
            .await
    }

    /// Tests `connection` as the tenant's admin; the answer must be 200.
    pub async fn test(&self, connection: &str) -> Value {
        let r = self.test_as(connection, &self.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json
    }

    pub async fn connection(&self, connection: &str) -> Value {
        let r = self
            .app
            .get(
                &format!("/v1/tenants/{}/connections/{connection}", self.tenant),
                &self.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json
    }

    /// The connection's activity entries, oldest first.
    pub async fn actions(&self, connection: &str) -> Vec<String> {
        let r = self
            .app
            .get(
                &format!("/v1/tenants/{}/activity?limit=200", self.tenant),
                &self.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        let mut actions: Vec<String> = r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["connection_id"] == connection)
            .map(|a| a["action"].as_str().unwrap().to_owned())
            .collect();
        actions.reverse();
        actions
    }
}
