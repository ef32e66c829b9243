//! Events in the console: inbound webhook deliveries (type, delivery id, connection,
//! time; never a payload or header), and outbound event deliveries per endpoint (the
//! tenant's endpoints; each delivery's status, attempts, last answer and next try),
//! with a retry button for those who may change the tenant (a viewer sees none, and
//! its forged POST is refused by the role check).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::ConsoleUser;
use super::tenant::{back_with, connection_path, dt, tenant_path};
use crate::http::AppState;
use crate::http::auth::Need;
use crate::models::event_delivery;
use crate::models::{TenantId, event_endpoint};
use crate::repositories::events::Owner;
use crate::repositories::{self, Page};
use crate::services::events::endpoints;
use crate::web::page::PageResult;

pub fn routes() -> Router<AppState> {
    let t = "/console/tenants/{tenant}";
    Router::new()
        .route(&format!("{t}/webhook-events"), get(webhook_events))
        .route(&format!("{t}/deliveries"), get(endpoints_page))
        .route(&format!("{t}/deliveries/{{endpoint}}"), get(deliveries))
        .route(
            &format!("{t}/deliveries/{{endpoint}}/{{delivery}}/retry"),
            post(retry),
        )
}

#[derive(Deserialize)]
pub struct After {
    after: Option<String>,
    notice: Option<String>,
}

fn page_of(after: Option<String>) -> Page {
    match after {
        Some(after) => Page::after(25, after),
        None => Page::first(25),
    }
}

/// `GET /console/tenants/{tenant}/webhook-events`: inbound deliveries, newest first.
async fn webhook_events(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(tenant): Path<Uuid>,
    Query(q): Query<After>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal.authorize(&state, tenant, Need::Read).await?;
    let result = repositories::webhook_events::list(
        &state.db,
        tenant,
        &Default::default(),
        page_of(q.after),
    )
    .await?;
    let body = html! {
        p { a href=(tenant_path(tenant)) { "← Integrations" } }
        h1 { "Inbound webhook events" }
        div.scroll {
            table {
                thead { tr { th scope="col" { "Received" } th scope="col" { "Event" } th scope="col" { "Delivery" } th scope="col" { "Connection" } } }
                tbody {
                    @for e in &result.items {
                        tr {
                            td { (dt(Some(e.received_at))) }
                            td { (e.event_type) }
                            td.mono { (e.delivery_id) }
                            td { a href=(connection_path(tenant, e.connection_id)) { "connection" } }
                        }
                    }
                }
            }
        }
        @if result.items.is_empty() { p.muted { "No deliveries yet." } }
        @if let Some(next) = &result.next_cursor {
            p { a href=(format!("{}/webhook-events?after={next}", tenant_path(tenant))) rel="next" { "Older events" } }
        }
    };
    Ok(user.page("Webhook events", body))
}

/// An endpoint's URL without query or credentials: scheme, host, port and path.
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}{}",
            u.origin().ascii_serialization(),
            u.path().trim_end_matches('/')
        ),
        Err(_) => "(unreadable URL)".to_owned(),
    }
}

fn endpoint_path(tenant: TenantId, endpoint: Uuid) -> String {
    format!("{}/deliveries/{endpoint}", tenant_path(tenant))
}

fn endpoint_state(e: &event_endpoint::Model) -> String {
    if e.enabled {
        "enabled".to_owned()
    } else {
        match &e.disabled_reason {
            Some(r) => format!("disabled ({})", r.replace('_', " ")),
            None => "disabled".to_owned(),
        }
    }
}

/// `GET /console/tenants/{tenant}/deliveries`: the tenant's event endpoints.
async fn endpoints_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(tenant): Path<Uuid>,
    Query(q): Query<After>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal.authorize(&state, tenant, Need::Read).await?;
    let result = endpoints::list(&state.db, Owner::Tenant(tenant), page_of(q.after)).await?;
    let body = html! {
        p { a href=(tenant_path(tenant)) { "← Integrations" } }
        h1 { "Outbound event deliveries" }
        p.muted { "The endpoints this tenant's events are sent to. Open one to see its deliveries." }
        div.scroll {
            table {
                thead { tr { th scope="col" { "Endpoint" } th scope="col" { "State" } th scope="col" { "Events" } } }
                tbody {
                    @for e in &result.items {
                        tr {
                            td { a.mono href=(endpoint_path(tenant, e.id)) { (shown_url(&e.url)) } }
                            td { (endpoint_state(e)) }
                            td { @if e.event_types.0.is_empty() { "all" } @else { (e.event_types.0.join(", ")) } }
                        }
                    }
                }
            }
        }
        @if result.items.is_empty() { p.muted { "No endpoints yet." } }
        @if let Some(next) = &result.next_cursor {
            p { a href=(format!("{}/deliveries?after={next}", tenant_path(tenant))) rel="next" { "More endpoints" } }
        }
    };
    Ok(user.page("Event deliveries", body))
}

fn status_words(d: &event_delivery::Model) -> String {
    serde_json::to_value(d.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A delivery's last answer in words: the HTTP status, or why there was none.
fn answer_words(d: &event_delivery::Model) -> String {
    let class = d.last_error.as_deref();
    match (d.last_status_code, class) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some("connect")) => "could not connect".to_owned(),
        (None, Some("timeout")) => "no answer in time".to_owned(),
        (None, Some("refused_address")) => "address not allowed".to_owned(),
        (None, Some(other)) => other.replace('_', " "),
        (None, None) => "—".to_owned(),
    }
}

fn delivery_row(user: &ConsoleUser, tenant: TenantId, d: &event_delivery::Model) -> Markup {
    let retry = format!("{}/{}/retry", endpoint_path(tenant, d.endpoint_id), d.id);
    html! {
        tr {
            td { (dt(Some(d.created_at))) }
            td { code { (d.event_type) } }
            td.status { (status_words(d)) }
            td { (d.attempts) }
            td { (answer_words(d)) }
            td { (dt(d.next_attempt_at)) }
            @if user.can_change() {
                td {
                    form.inline method="post" action=(retry) {
                        (user.csrf_field())
                        button.secondary type="submit" aria-label=(format!("Retry delivery {}", d.id)) { "Retry" }
                    }
                }
            }
        }
    }
}

/// `GET /console/tenants/{tenant}/deliveries/{endpoint}`: its deliveries, newest first.
async fn deliveries(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((tenant, endpoint)): Path<(Uuid, Uuid)>,
    Query(q): Query<After>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal.authorize(&state, tenant, Need::Read).await?;
    let owner = Owner::Tenant(tenant);
    let e = endpoints::get(&state.db, owner, endpoint).await?;
    let result =
        endpoints::deliveries(&state.db, owner, endpoint, page_of(q.after.clone())).await?;
    let body = html! {
        p { a href=(format!("{}/deliveries", tenant_path(tenant))) { "← Endpoints" } }
        h1 { "Deliveries to " span.mono { (shown_url(&e.url)) } }
        @if let Some(n) = &q.notice { p.success #notice role="status" { (n) } }
        p { "State: " (endpoint_state(&e)) }
        div.scroll {
            table {
                caption.muted { "Newest first" }
                thead {
                    tr {
                        th scope="col" { "Created" } th scope="col" { "Event" } th scope="col" { "Status" }
                        th scope="col" { "Attempts" } th scope="col" { "Last answer" } th scope="col" { "Next try" }
                        @if user.can_change() { th scope="col" { "Action" } }
                    }
                }
                tbody {
                    @for (d, _) in &result.items { (delivery_row(&user, tenant, d)) }
                }
            }
        }
        @if result.items.is_empty() { p.muted { "No deliveries yet." } }
        @if let Some(next) = &result.next_cursor {
            p { a href=(format!("{}?after={next}", endpoint_path(tenant, endpoint))) rel="next" { "Older deliveries" } }
        }
    };
    Ok(user.page("Deliveries", body))
}

/// `POST …/deliveries/{endpoint}/{delivery}/retry`: admins and operators only.
async fn retry(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((tenant, endpoint, delivery)): Path<(Uuid, Uuid, Uuid)>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal
        .authorize(&state, tenant, Need::Admin)
        .await?;
    endpoints::retry(&state.db, Owner::Tenant(tenant), endpoint, delivery).await?;
    Ok(back_with(
        &endpoint_path(tenant, endpoint),
        "The delivery will be sent again shortly.",
    ))
}
