//! The tenant view: the integrations grid (every catalog provider with the tenant's
//! connections), a connection's page with make default, test and disconnect, connect
//! links, and the activity log with filters and paging. Masks only: no page reads a
//! secret.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::ConsoleUser;
use crate::http::AppState;
use crate::http::auth::Need;
use crate::models::activity::Action;
use crate::models::connection;
use crate::models::{ConnectionId, ProviderSlug, TenantId};
use crate::repositories::activity::Filter;
use crate::repositories::connections::ConnectionFilter;
use crate::repositories::{self, Page};
use crate::services::connect::{self, NewSession};
use crate::services::connections as conn_service;
use crate::services::credentials;
use crate::web::page::{PageError, PageResult, see_other};

pub fn routes() -> Router<AppState> {
    let t = "/console/tenants/{tenant}";
    let c = "/console/tenants/{tenant}/connections/{connection}";
    Router::new()
        .route(t, get(integrations))
        .route(c, get(connection_page))
        .route(&format!("{c}/default"), post(make_default))
        .route(&format!("{c}/test"), post(test))
        .route(&format!("{c}/disconnect"), post(disconnect))
        .route(&format!("{t}/connect-links"), post(create_link))
        .route(&format!("{t}/activity"), get(activity))
}

pub(super) fn tenant_path(tenant: TenantId) -> String {
    format!("/console/tenants/{tenant}")
}

pub(super) fn connection_path(tenant: TenantId, id: Uuid) -> String {
    format!("/console/tenants/{tenant}/connections/{id}")
}

/// A health or status in words.
fn health_words(c: &connection::Model) -> String {
    let health = serde_json::to_value(c.health_status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let status = serde_json::to_value(c.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{status}, {health}")
}

fn last_error(c: &connection::Model) -> Option<String> {
    c.last_error_message.clone().or_else(|| {
        c.last_error_reason_code
            .as_deref()
            .map(|r| r.replace('_', " "))
    })
}

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

/// `GET /console/tenants/{tenant}`: the integrations grid.
async fn integrations(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(tenant): Path<Uuid>,
    Query(notice): Query<Notice>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal.authorize(&state, tenant, Need::Read).await?;
    let name = repositories::tenants::get(&state.db, tenant)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    let providers = repositories::providers::list_all(&state.db).await?;
    let connections = repositories::connections::list(
        &state.db,
        tenant,
        &ConnectionFilter::default(),
        Page::first(Page::MAX_LIMIT),
    )
    .await?
    .items;
    let mut by_provider: HashMap<&str, Vec<&connection::Model>> = HashMap::new();
    for c in &connections {
        by_provider.entry(&c.provider_slug).or_default().push(c);
    }
    let body = html! {
        h1 { "Integrations of " (name) }
        @if let Some(n) = &notice.notice { p.success role="status" { (n) } }
        div.grid {
            @for p in &providers {
                section.card aria-labelledby=(format!("p-{}", p.slug)) {
                    h2 #(format!("p-{}", p.slug)) { span.logo aria-hidden="true" { (p.display_name.chars().next().unwrap_or('?')) } (p.display_name) }
                    @match by_provider.get(p.slug.as_str()) {
                        None => p.muted { "Not connected" },
                        Some(list) => ul {
                            @for c in list {
                                li {
                                    a href=(connection_path(tenant, c.id)) { (c.display_name.as_deref().unwrap_or(&c.external_id)) }
                                    @if c.is_default { " " span.badge { "default" } }
                                    br; span.muted { (health_words(c)) }
                                    @if let Some(e) = last_error(c) { br; span.error { (e) } }
                                }
                            }
                        }
                    }
                    @if user.can_change() {
                        form method="post" action=(format!("{}/connect-links", tenant_path(tenant))) {
                            (user.csrf_field())
                            input type="hidden" name="provider" value=(p.slug);
                            label for=(format!("r-{}", p.slug)) { "Return URL" }
                            input #(format!("r-{}", p.slug)) type="url" name="return_url" required placeholder="https://app.example.com/connected";
                            button.secondary type="submit" { "Create connect link" }
                        }
                    }
                }
            }
        }
        p {
            a href=(format!("{}/activity", tenant_path(tenant))) { "Activity log" }
            " · "
            a href=(format!("{}/webhook-events", tenant_path(tenant))) { "Inbound webhook events" }
            " · "
            a href=(format!("{}/deliveries", tenant_path(tenant))) { "Outbound event deliveries" }
            " · "
            a href=(format!("{}/operations", tenant_path(tenant))) { "Blocked operations" }
        }
    };
    Ok(user.page("Integrations", body))
}

async fn load(state: &AppState, tenant: TenantId, id: Uuid) -> PageResult<connection::Model> {
    repositories::connections::get_by_id(&state.db, tenant, ConnectionId::from_uuid(id))
        .await?
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "No such connection."))
}

pub(super) fn dt(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// `GET /console/tenants/{tenant}/connections/{connection}`.
async fn connection_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
    Query(notice): Query<Notice>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal.authorize(&state, tenant, Need::Read).await?;
    let c = load(&state, tenant, id).await?;
    let summary = credentials::summary(&state.db, tenant, c.connection_id()).await?;
    let base = connection_path(tenant, c.id);
    let live = c.status != connection::ConnectionStatus::Revoked;
    let body = html! {
        p { a href=(tenant_path(tenant)) { "← Integrations" } }
        h1 { (c.display_name.as_deref().unwrap_or(&c.external_id)) " · " (c.provider_slug) }
        @if let Some(n) = &notice.notice { p.success #notice role="status" { (n) } }
        dl {
            dt { "Status and health" } dd #health { (health_words(&c)) }
            dt { "Default" } dd { (if c.is_default { "yes" } else { "no" }) }
            dt { "External account" } dd.mono { (c.external_id) }
            dt { "Scopes" } dd { (c.scopes_granted.0.join(", ")) }
            dt { "Token expiry" } dd { (dt(c.token_expires_at)) }
            dt { "Last check" } dd { (dt(c.last_health_check_at)) }
            dt { "Last error" } dd { (last_error(&c).unwrap_or_else(|| "—".into())) }
            @if let Some(s) = &summary {
                dt { "Credential" } dd {
                    (s.kind.as_str())
                    @for (field, mask) in &s.masks { br; (field) ": " span.mono { (mask) } }
                }
            }
        }
        @if user.can_change() && live {
            div {
                @if !c.is_default {
                    form.inline method="post" action=(format!("{base}/default")) { (user.csrf_field()) button type="submit" { "Make default" } }
                }
                form.inline method="post" action=(format!("{base}/test")) { (user.csrf_field()) button.secondary type="submit" { "Test" } }
                form.inline method="post" action=(format!("{base}/disconnect")) { (user.csrf_field()) button.danger type="submit" { "Disconnect" } }
            }
        }
        p { a href=(format!("{}/activity?connection={}", tenant_path(tenant), c.id)) { "This connection's activity" } }
    };
    Ok(user.page("Connection", body))
}

pub(super) fn back_with(path: &str, notice: &str) -> Response {
    let encoded: String = url::form_urlencoded::byte_serialize(notice.as_bytes()).collect();
    see_other(&format!("{path}?notice={encoded}"))
}

/// `POST …/default`.
async fn make_default(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = user
        .principal
        .authorize(&state, tenant, Need::Admin)
        .await?;
    conn_service::make_default(&state.db, tenant, &actor, ConnectionId::from_uuid(id)).await?;
    Ok(back_with(
        &connection_path(tenant, id),
        "It is now the default.",
    ))
}

/// `POST …/test`.
async fn test(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = user.principal.authorize(&state, tenant, Need::Test).await?;
    let report = state
        .health
        .test_connection(tenant, ConnectionId::from_uuid(id), &actor)
        .await?;
    let words = if report.verdict.is_healthy() {
        "Test passed: the provider accepted the credential.".to_owned()
    } else {
        format!(
            "Test failed: {}.",
            report
                .verdict
                .message
                .as_deref()
                .unwrap_or("the provider did not accept the credential")
        )
    };
    Ok(back_with(&connection_path(tenant, id), &words))
}

/// `POST …/disconnect`.
async fn disconnect(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = user
        .principal
        .authorize(&state, tenant, Need::Admin)
        .await?;
    conn_service::disconnect(&state.db, tenant, &actor, ConnectionId::from_uuid(id)).await?;
    Ok(back_with(&connection_path(tenant, id), "Disconnected."))
}

#[derive(Deserialize)]
pub struct NewLink {
    provider: String,
    return_url: String,
}

/// `POST /console/tenants/{tenant}/connect-links`: a connect link, shown once.
async fn create_link(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(tenant): Path<Uuid>,
    Form(form): Form<NewLink>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = user
        .principal
        .authorize(&state, tenant, Need::Admin)
        .await?;
    let created = connect::create_session(
        &state.db,
        tenant,
        &actor,
        NewSession {
            provider: Some(ProviderSlug::parse(&form.provider)?),
            allowed_providers: None,
            return_url: form.return_url,
            scopes: None,
            end_user_label: None,
            ttl: None,
        },
    )
    .await?;
    let url = connect::connect_url(&state.public_url, &created.token);
    let body = html! {
        p { a href=(tenant_path(tenant)) { "← Integrations" } }
        h1 { "Connect link for " (created.session.provider_slug) }
        p { "Send this link to the person who connects the account. It works once and expires at " (dt(Some(created.session.expires_at))) ". It is shown only now." }
        p.card.mono #connect-link { (url) }
    };
    Ok(user.page("Connect link", body))
}

fn action_name(a: Action) -> String {
    sea_orm::ActiveEnum::to_value(&a)
}

#[derive(Deserialize)]
pub struct ActivityQuery {
    connection: Option<Uuid>,
    action: Option<String>,
    after: Option<String>,
}

fn activity_rows(items: &[crate::models::activity::Model]) -> Markup {
    html! {
        div.scroll {
            table {
                caption.muted { "Newest first" }
                thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Provider" } th scope="col" { "By" } } }
                tbody {
                    @for a in items {
                        tr {
                            td { (dt(Some(a.created_at))) }
                            td { (action_name(a.action).replace('_', " ")) }
                            td { (a.provider_slug.as_deref().unwrap_or("—")) }
                            td { (a.actor_name) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/tenants/{tenant}/activity`.
async fn activity(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(tenant): Path<Uuid>,
    Query(q): Query<ActivityQuery>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal.authorize(&state, tenant, Need::Read).await?;
    let action = match q.action.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(
            Action::parse(a)
                .ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "Unknown action."))?,
        ),
        None => None,
    };
    let filter = Filter {
        connection_id: q.connection,
        action,
    };
    let page = match q.after.clone() {
        Some(after) => Page::after(25, after),
        None => Page::first(25),
    };
    let result = repositories::activity::list(&state.db, tenant, filter, page).await?;
    let chosen = q.action.clone().unwrap_or_default();
    let next = result.next_cursor.as_ref().map(|cursor| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(c) = q.connection {
            s.append_pair("connection", &c.to_string());
        }
        if !chosen.is_empty() {
            s.append_pair("action", &chosen);
        }
        s.append_pair("after", cursor);
        format!("{}/activity?{}", tenant_path(tenant), s.finish())
    });
    let body = html! {
        p { a href=(tenant_path(tenant)) { "← Integrations" } }
        h1 { "Activity" }
        form method="get" action=(format!("{}/activity", tenant_path(tenant))) {
            @if let Some(c) = q.connection { input type="hidden" name="connection" value=(c); }
            label for="action" { "Action" }
            select #action name="action" {
                option value="" { "All" }
                @for a in <Action as sea_orm::Iterable>::iter() {
                    @let name = action_name(a);
                    option value=(name) selected[chosen == name] { (name.replace('_', " ")) }
                }
            }
            button.secondary type="submit" { "Filter" }
        }
        (activity_rows(&result.items))
        @if result.items.is_empty() { p.muted { "Nothing yet." } }
        @if let Some(next) = next { p { a href=(next) rel="next" { "Older entries" } } }
    };
    Ok(user.page("Activity", body))
}
