//! The operator view: tenants (and creating one), API keys (a new key's secret is shown
//! once, on the page that created it), the provider catalog, OAuth apps (client
//! secrets as masks) and the data keys' status. Operator keys only.

use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use maud::html;
use secrecy::ExposeSecret;
use serde::Deserialize;
use uuid::Uuid;

use super::ConsoleUser;
use crate::http::AppState;
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::repositories::{self, Page};
use crate::services::api_keys;
use crate::web::page::{PageError, PageResult, see_other};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/tenants", get(tenants).post(create_tenant))
        .route("/console/keys", get(keys).post(create_key))
        .route("/console/catalog", get(catalog))
        .route("/console/oauth-apps", get(oauth_apps))
        .route("/console/data-keys", get(data_keys))
}

fn operator(user: &ConsoleUser) -> PageResult<()> {
    if user.is_operator() {
        Ok(())
    } else {
        Err(PageError::forbidden())
    }
}

fn dt(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[derive(Deserialize)]
pub struct After {
    after: Option<String>,
}

/// `GET /console/tenants`.
async fn tenants(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<After>,
) -> PageResult<Response> {
    operator(&user)?;
    let page = match q.after {
        Some(a) => Page::after(50, a),
        None => Page::first(50),
    };
    let result = repositories::tenants::list_page(&state.db, page).await?;
    let body = html! {
        h1 { "Tenants" }
        table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Created" } } }
            tbody {
                @for t in &result.items {
                    tr { td { a href=(format!("/console/tenants/{}", t.id)) { (t.name) } } td.mono { (t.id) } td { (dt(t.created_at)) } }
                }
            }
        }
        @if let Some(next) = &result.next_cursor { p { a href=(format!("/console/tenants?after={next}")) rel="next" { "More tenants" } } }
        h2 { "New tenant" }
        form method="post" action="/console/tenants" {
            (user.csrf_field())
            label for="name" { "Name" }
            input #name type="text" name="name" required maxlength="200";
            button type="submit" { "Create tenant" }
        }
    };
    Ok(user.page("Tenants", body))
}

#[derive(Deserialize)]
pub struct NewTenant {
    name: String,
}

/// `POST /console/tenants`.
async fn create_tenant(
    State(state): State<AppState>,
    user: ConsoleUser,
    Form(form): Form<NewTenant>,
) -> PageResult<Response> {
    user.principal.require_operator()?;
    let tenant = repositories::tenants::create(&state.db, &form.name).await?;
    Ok(see_other(&format!("/console/tenants/{}", tenant.id)))
}

/// `GET /console/keys`: the operator keys.
async fn keys(State(state): State<AppState>, user: ConsoleUser) -> PageResult<Response> {
    operator(&user)?;
    let list = repositories::api_keys::list(&state.db, None, Page::first(Page::MAX_LIMIT)).await?;
    let body = html! {
        h1 { "API keys" }
        p.muted { "Deployment-wide keys. A tenant's keys are made here too, by naming the tenant." }
        div.scroll { table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Prefix" } th scope="col" { "Created" } th scope="col" { "Revoked" } } }
            tbody {
                @for k in &list.items {
                    tr { td { (k.name) } td { (k.role.as_str()) } td.mono { (k.prefix) "…" } td { (dt(k.created_at)) } td { (k.revoked_at.map(dt).unwrap_or_else(|| "—".into())) } }
                }
            }
        } }
        h2 { "New key" }
        form method="post" action="/console/keys" {
            (user.csrf_field())
            label for="key_name" { "Name" }
            input #key_name type="text" name="name" required maxlength="200";
            label for="role" { "Role" }
            select #role name="role" {
                option value="admin" { "admin (of a tenant)" }
                option value="viewer" { "viewer (of a tenant)" }
                option value="service" { "service (of a tenant)" }
                option value="operator" { "operator" }
                option value="worker" { "worker" }
            }
            label for="tenant" { "Tenant id (for admin, viewer and service keys)" }
            input #tenant type="text" name="tenant";
            button type="submit" { "Create key" }
        }
    };
    Ok(user.page("API keys", body))
}

#[derive(Deserialize)]
pub struct NewKey {
    name: String,
    role: String,
    tenant: Option<String>,
}

/// `POST /console/keys`: the new key's secret, shown on this page only.
async fn create_key(
    State(state): State<AppState>,
    user: ConsoleUser,
    Form(form): Form<NewKey>,
) -> PageResult<Response> {
    user.principal.require_operator()?;
    let role = Role::parse(&form.role)
        .ok_or_else(|| PageError::new(axum::http::StatusCode::BAD_REQUEST, "Unknown role."))?;
    let tenant = match form
        .tenant
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(t) => Some(TenantId::from_uuid(Uuid::parse_str(t).map_err(|_| {
            PageError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "The tenant id is not a UUID.",
            )
        })?)),
        None => None,
    };
    let deployment = matches!(role, Role::Operator | Role::Worker);
    if deployment == tenant.is_some() {
        return Err(PageError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "Operator and worker keys belong to no tenant; admin, viewer and service keys need one.",
        ));
    }
    let created =
        api_keys::create(&state.db, &user.principal.actor(), tenant, role, &form.name).await?;
    let body = html! {
        h1 { "Key created" }
        p.notice role="status" { "Copy the key now: it is shown only once and cannot be read again." }
        p { "Name: " (created.key.name) ", role: " (role.as_str()) }
        p.card.mono #new-key { (created.secret.expose_secret()) }
        p { a href="/console/keys" { "Back to the keys" } }
    };
    Ok(user.page("Key created", body))
}

/// `GET /console/catalog`.
async fn catalog(State(state): State<AppState>, user: ConsoleUser) -> PageResult<Response> {
    operator(&user)?;
    let providers = repositories::providers::list_all(&state.db).await?;
    let body = html! {
        h1 { "Provider catalog" }
        div.scroll { table {
            thead { tr { th scope="col" { "Provider" } th scope="col" { "Slug" } th scope="col" { "Auth modes" } th scope="col" { "Health check" } th scope="col" { "Docs" } } }
            tbody {
                @for p in &providers {
                    tr {
                        td { (p.display_name) }
                        td.mono { (p.slug) }
                        td { (p.auth_modes.0.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")) }
                        td { (if p.health_check.is_some() { "yes" } else { "no" }) }
                        td { @if let Some(d) = &p.docs_url { a href=(d) rel="noreferrer" { "docs" } } }
                    }
                }
            }
        } }
    };
    Ok(user.page("Catalog", body))
}

/// `GET /console/oauth-apps`.
async fn oauth_apps(State(state): State<AppState>, user: ConsoleUser) -> PageResult<Response> {
    operator(&user)?;
    let apps = repositories::oauth_apps::list(&state.db).await?;
    let body = html! {
        h1 { "OAuth apps" }
        div.scroll { table {
            thead { tr { th scope="col" { "Provider" } th scope="col" { "Client id" } th scope="col" { "Client secret" } th scope="col" { "Allowed return URLs" } } }
            tbody {
                @for a in &apps {
                    tr {
                        td.mono { (a.provider) }
                        td.mono { (a.client_id) }
                        td.mono { (a.client_secret_mask) }
                        td { @for u in &a.allowed_return_urls { span.mono { (u) } br; } }
                    }
                }
            }
        } }
        @if apps.is_empty() { p.muted { "None yet: set one with the API or `connvault oauth-app set`." } }
    };
    Ok(user.page("OAuth apps", body))
}

/// `GET /console/data-keys`.
async fn data_keys(State(state): State<AppState>, user: ConsoleUser) -> PageResult<Response> {
    operator(&user)?;
    let keys = state.keyring.status().await?;
    let body = html! {
        h1 { "Data keys" }
        p { "Master key fingerprint: " span.mono { (state.keyring.master_key_id()) } }
        table {
            thead { tr { th scope="col" { "Id" } th scope="col" { "State" } th scope="col" { "Encryptions" } th scope="col" { "Ciphertexts" } th scope="col" { "Created" } } }
            tbody {
                @for k in &keys {
                    tr { td { (k.id) } td { (format!("{:?}", k.state).to_lowercase()) } td { (k.encryptions) } td { (k.ciphertexts) } td { (dt(k.created_at)) } }
                }
            }
        }
    };
    Ok(user.page("Data keys", body))
}
