//! The examples of the OpenAPI document. Response examples are built from the response
//! types themselves, so they have exactly the shape the server sends; request examples
//! are accepted by a fresh service in the order of a first session (a test sends them).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::{Uuid, uuid};

use super::views::{
    ActivityView, ApiKeyView, ConnectionView, CreatedApiKeyView, CredentialSecretView,
    CredentialView, IntegrationView, Page, ProviderView, TenantView,
};
use crate::models::activity::Action;
use crate::models::api_key::Role;
use crate::models::connection::{ConnectionStatus, HealthStatus};
use crate::models::json::{AuthMode, HealthCheck};
use crate::services::credentials::CredentialKind;

pub const TENANT: Uuid = uuid!("0b6f2c3e-8d1a-4f5b-9c7e-2a4d6f8b0c1e");
pub const CONNECTION: Uuid = uuid!("5f1e9a7c-3b2d-4e6f-8a0c-1d3e5f7a9b2c");
pub const KEY: Uuid = uuid!("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d");
pub const SESSION: Uuid = uuid!("2c4e6a8b-0d1f-4b3d-9e5f-7a9c1e3b5d7f");
const ACTIVITY: Uuid = uuid!("7d5b3f1e-9c8a-4e6d-b4f2-0a1c3e5d7f9b");

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn value(body: impl Serialize) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}

fn page(item: Value, next_cursor: Option<&str>) -> Value {
    value(Page {
        items: vec![item],
        next_cursor: next_cursor.map(str::to_owned),
    })
}

/// A `next_cursor` as the server makes them.
const CURSOR: &str = "eyJ0IjoiMjAyNS0xMi0wMVQwOTozMDowMFoiLCJpIjoiNWYxZTlhN2MtM2IyZC00ZTZmLThhMGMtMWQzZTVmN2E5YjJjIn0";

// Requests.

pub fn create_tenant() -> Value {
    json!({ "name": "Acme Corp" })
}

pub fn create_tenant_key() -> Value {
    json!({ "name": "billing backend", "role": "service" })
}

pub fn create_operator_key() -> Value {
    json!({ "name": "deploy bot" })
}

pub fn upsert_provider() -> Value {
    json!({
        "display_name": "Acme CRM",
        "auth_modes": ["oauth2_authorization_code"],
        "authorization_url": "https://crm.acme.example/oauth/authorize",
        "token_url": "https://crm.acme.example/oauth/token",
        "default_scopes": ["contacts.read"],
        "health_check": { "method": "GET", "url": "https://crm.acme.example/api/me" },
        "docs_url": "https://crm.acme.example/docs/api",
        "metadata": { "identity": { "token_field": "account_id" } }
    })
}

pub fn create_connection() -> Value {
    json!({
        "provider": "stripe",
        "external_id": "acct_1Nv0FGQ9RKHgCVdK",
        "display_name": "Stripe (EU)",
        "metadata": { "region": "eu" },
        "credential": { "kind": "api_key", "api_key": "rk_example_51Nv0FGQ9RKHgCVdK0a1b2c3d" }
    })
}

pub fn update_connection() -> Value {
    json!({ "display_name": "Stripe (EU, live)", "metadata": { "region": "eu", "team": "billing" } })
}

pub fn credential() -> Value {
    json!({ "kind": "api_key", "api_key": "rk_example_51Nv0FGQ9RKHgCVdK9z8y7x6w" })
}

pub fn set_oauth_app() -> Value {
    json!({
        "client_id": "Iv1.8a61f9b3a7aba766",
        "client_secret": "example-oauth-app-secret-3f9a1c7e5b",
        "allowed_return_urls": ["https://app.example.com/connected"]
    })
}

pub fn create_connect_session() -> Value {
    json!({
        "provider": "github",
        "return_url": "https://app.example.com/connected",
        "scopes": ["repo", "read:org"],
        "end_user_label": "Jane at Acme",
        "expires_in_seconds": 900
    })
}

// Responses.

fn tenant_view() -> TenantView {
    TenantView {
        id: TENANT,
        name: "Acme Corp".into(),
        created_at: at("2025-12-01T09:00:00Z"),
    }
}

pub fn tenant() -> Value {
    value(tenant_view())
}

pub fn tenants() -> Value {
    page(tenant(), Some(CURSOR))
}

fn key_view(tenant: Option<Uuid>, role: Role, name: &str) -> ApiKeyView {
    ApiKeyView {
        id: KEY,
        tenant_id: tenant,
        role,
        name: name.into(),
        prefix: "cv_Xk3mP9".into(),
        created_at: at("2025-12-01T09:05:00Z"),
        revoked_at: None,
    }
}

pub fn created_tenant_key() -> Value {
    value(CreatedApiKeyView {
        key: key_view(Some(TENANT), Role::Service, "billing backend"),
        secret: "cv_Xk3mP9example0example0example0example0exam".into(),
    })
}

pub fn tenant_keys() -> Value {
    page(
        value(key_view(Some(TENANT), Role::Service, "billing backend")),
        None,
    )
}

pub fn created_operator_key() -> Value {
    value(CreatedApiKeyView {
        key: key_view(None, Role::Operator, "deploy bot"),
        secret: "cv_Xk3mP9example0example0example0example0exam".into(),
    })
}

pub fn operator_keys() -> Value {
    page(value(key_view(None, Role::Operator, "deploy bot")), None)
}

fn provider_view() -> ProviderView {
    ProviderView {
        slug: "github".into(),
        display_name: "GitHub".into(),
        auth_modes: vec![AuthMode::Oauth2AuthorizationCode, AuthMode::RepositoryToken],
        authorization_url: Some("https://github.com/login/oauth/authorize".into()),
        token_url: Some("https://github.com/login/oauth/access_token".into()),
        default_scopes: vec!["repo".into(), "read:org".into()],
        health_check: Some(HealthCheck {
            method: "GET".into(),
            url: "https://api.github.com/user".into(),
            expect_status: None,
            body: None,
            ok_field: None,
            error_field: None,
            rejected_errors: Vec::new(),
        }),
        docs_url: Some("https://docs.github.com/en/apps/oauth-apps".into()),
        metadata: json!({}),
        managed_by: crate::models::provider::ManagedBy::Catalog,
        created_at: at("2025-12-01T08:00:00Z"),
        updated_at: at("2025-12-01T08:00:00Z"),
    }
}

pub fn provider() -> Value {
    value(provider_view())
}

pub fn providers() -> Value {
    page(provider(), Some("eyJrIjoiZ2l0aHViIn0"))
}

fn connection_view() -> ConnectionView {
    ConnectionView {
        id: CONNECTION,
        tenant_id: TENANT,
        provider: "stripe".into(),
        external_id: "acct_1Nv0FGQ9RKHgCVdK".into(),
        display_name: Some("Stripe (EU)".into()),
        status: ConnectionStatus::Active,
        health_status: HealthStatus::Unknown,
        is_default: true,
        scopes_granted: vec![],
        token_expires_at: None,
        last_health_check_at: None,
        last_error: None,
        metadata: json!({ "region": "eu" }),
        credential: Some(CredentialView {
            kind: CredentialKind::ApiKey,
            masks: BTreeMap::from([("api_key".to_owned(), "****2c3d".to_owned())]),
            updated_at: at("2025-12-01T09:30:00Z"),
        }),
        created_at: at("2025-12-01T09:30:00Z"),
        updated_at: at("2025-12-01T09:30:00Z"),
    }
}

pub fn connection() -> Value {
    value(connection_view())
}

/// A test whose provider refused the key: the connection is now `error`.
pub fn connection_test() -> Value {
    let checked_at = at("2025-12-02T08:00:00Z");
    let mut connection = connection_view();
    connection.status = ConnectionStatus::Error;
    connection.health_status = HealthStatus::Unhealthy;
    connection.last_health_check_at = Some(checked_at);
    connection.last_error = Some(super::views::LastErrorView {
        reason_code: "credential_rejected".into(),
        message: Some("the provider answered 401 Unauthorized".into()),
    });
    connection.updated_at = checked_at;
    value(super::connection_tests::ConnectionTestView {
        healthy: false,
        health_status: HealthStatus::Unhealthy,
        reason_code: Some("credential_rejected".into()),
        message: Some("the provider answered 401 Unauthorized".into()),
        http_status: Some(401),
        checked_at,
        connection,
    })
}

pub fn connections() -> Value {
    page(connection(), Some(CURSOR))
}

pub fn disconnected() -> Value {
    let mut view = connection_view();
    view.status = ConnectionStatus::Revoked;
    view.is_default = false;
    view.credential = None;
    value(view)
}

pub fn credential_secret() -> Value {
    value(CredentialSecretView {
        connection_id: CONNECTION,
        kind: CredentialKind::Oauth2,
        fields: BTreeMap::from([(
            "access_token",
            "gh-example-access-token-0a1b2c3d".to_owned(),
        )]),
        token_expires_at: Some(at("2025-12-01T10:30:00Z")),
    })
}

pub fn activity() -> Value {
    page(
        value(ActivityView {
            id: ACTIVITY,
            tenant_id: TENANT,
            connection_id: Some(CONNECTION),
            provider: Some("stripe".into()),
            action: Action::Connected,
            actor_key_id: Some(KEY),
            actor_name: "admin key".into(),
            details: json!({ "credential_kind": "api_key" }),
            created_at: at("2025-12-01T09:30:00Z"),
        }),
        Some(CURSOR),
    )
}

pub fn integrations() -> Value {
    page(
        value(IntegrationView {
            provider: "stripe".into(),
            display_name: "Stripe".into(),
            auth_modes: vec![AuthMode::ApiKey],
            docs_url: Some("https://docs.stripe.com/keys".into()),
            connected: true,
            connection_count: 1,
            default_connection: Some(connection_view()),
        }),
        Some("eyJrIjoic3RyaXBlIn0"),
    )
}

pub fn healthz() -> Value {
    json!({ "status": "ok" })
}

pub fn ready() -> Value {
    json!({
        "status": "ready",
        "checks": { "database": "ok", "schema": "ok", "keyring": "ok" }
    })
}

pub fn not_ready() -> Value {
    json!({
        "status": "unavailable",
        "code": "database_unavailable",
        "failed": "schema",
        "reason": "not migrated: m2025_12_01_090000_refresh_margins is not applied",
        "checks": { "database": "ok", "schema": "failed" }
    })
}

pub fn metrics() -> Value {
    Value::String(
        "# TYPE connvault_http_requests_total counter\n\
         connvault_http_requests_total{method=\"GET\",route=\"/v1/tenants\",status=\"200\"} 3\n\
         # TYPE connvault_connections_by_health gauge\n\
         connvault_connections_by_health{health=\"healthy\"} 12\n"
            .into(),
    )
}
