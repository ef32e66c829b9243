//! The OpenAPI 3.1 document, generated from the handlers' annotations, and a
//! self-contained docs page that renders it.

use axum::Json;
use axum::response::Html;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{activity, connections, health, metrics, oauth, providers, tenants, views};
use crate::models::activity::Action;
use crate::models::api_key::Role;
use crate::models::connection::{ConnectionStatus, HealthStatus};
use crate::models::json::{AuthMode, HealthCheck};
use crate::services::credentials::{Credential, CredentialKind};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "connvault",
        description = "Tenant-scoped connections to external providers, with their credentials encrypted at rest. Authenticate with `Authorization: Bearer <API key>`; errors are RFC 9457 problem details."
    ),
    paths(
        tenants::create, tenants::list, tenants::get,
        tenants::create_tenant_key, tenants::list_tenant_keys, tenants::revoke_tenant_key,
        tenants::create_operator_key, tenants::list_operator_keys, tenants::revoke_operator_key,
        providers::list, providers::get, providers::upsert,
        connections::create, connections::list, connections::get, connections::update,
        connections::replace_credentials, connections::make_default, connections::disconnect,
        connections::delete, connections::read_credentials,
        activity::list, activity::integrations,
        oauth::set_app, oauth::list_apps, oauth::get_app, oauth::delete_app,
        oauth::create_session, oauth::get_session, oauth::open_link, oauth::callback,
        health::healthz, health::readyz, metrics::render,
    ),
    components(schemas(
        views::TenantView, views::ApiKeyView, views::CreatedApiKeyView, views::ProviderView,
        views::ConnectionView, views::CredentialView, views::LastErrorView,
        views::CredentialSecretView, views::ActivityView, views::IntegrationView, views::Problem,
        views::ProviderUpsertBody, views::Page<views::TenantView>, views::Page<views::ApiKeyView>, views::Page<views::ProviderView>,
        views::Page<views::ConnectionView>, views::Page<views::ActivityView>, views::Page<views::IntegrationView>, views::Page<oauth::OAuthAppView>,
        tenants::CreateTenant, tenants::CreateKey, connections::CreateConnection,
        connections::UpdateConnection, Credential, CredentialKind, ConnectionStatus,
        crate::models::connect_session::SessionStatus,
        HealthStatus, Role, Action, AuthMode, HealthCheck,
        oauth::SetOAuthApp, oauth::OAuthAppView, oauth::CreateConnectSession,
        oauth::ConnectSessionView, oauth::CreatedConnectSessionView,
        crate::repositories::oauth_apps::OAuthAppSummary,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /docs`: lists every operation of `/openapi.json`, with no external assets.
pub async fn docs() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>connvault API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:0 .2rem}h2{margin-top:2rem}.m{display:inline-block;width:4.5rem;font-weight:600}</style>
</head><body><h1>connvault API</h1>
<p>The machine-readable document is <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI 3.1).
Send <code>Authorization: Bearer &lt;API key&gt;</code>; errors are <code>application/problem+json</code>.</p>
<div id="ops">Loading…</div>
<script>
fetch('/openapi.json').then(r => r.json()).then(doc => {
  const out = document.getElementById('ops'); out.textContent = '';
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ['other'])[0];
      (byTag[tag] = byTag[tag] || []).push([method, path, op]);
    }
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; out.appendChild(h);
    for (const [method, path, op] of ops) {
      const p = document.createElement('p');
      const m = document.createElement('span'); m.className = 'm'; m.textContent = method.toUpperCase();
      const c = document.createElement('code'); c.textContent = path;
      p.append(m, c, ' ', op.summary || op.description || '');
      out.appendChild(p);
    }
  }
});
</script></body></html>"#;
