//! The tenant's operation runs in the console, blocked ones first in mind: each with
//! its reason in words and the next-step links the gate gave it (connect the provider,
//! choose a default, open the connection), filtered by outcome and paged. The pages the
//! next steps name (`…/connect?provider=`, `…/integrations?provider=`) lead to the
//! provider's card on the integrations grid, where a connect link is made or the
//! default chosen.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::ConsoleUser;
use super::tenant::{connection_path, dt, tenant_path};
use crate::http::AppState;
use crate::http::auth::Need;
use crate::models::TenantId;
use crate::models::operation_run::{self, RunOutcome};
use crate::repositories::Page;
use crate::services::operations::runs::{self, RunFilter};
use crate::web::page::{PageError, PageResult, see_other};

pub fn routes() -> Router<AppState> {
    let t = "/console/tenants/{tenant}";
    Router::new()
        .route(&format!("{t}/operations"), get(operations))
        .route(&format!("{t}/connect"), get(provider_card))
        .route(&format!("{t}/integrations"), get(provider_card))
}

/// A block reason in words.
pub fn reason_words(code: &str) -> &'static str {
    match code {
        "no_connection" => "The tenant has no connection of this provider yet.",
        "no_default_connection" => {
            "There are several connections of this provider and none is the default."
        }
        "connection_needs_consent" => "The connection waits for the end user's consent.",
        "connection_needs_reauth" => {
            "The provider refused the connection's grant: the end user must connect again."
        }
        "connection_revoked" => "The connection was disconnected.",
        "credential_missing" => "The connection holds no credential.",
        "missing_scopes" => "The connection lacks permissions the operation needs.",
        "connection_unhealthy" => {
            "The provider rejected the credential, or its last health check failed."
        }
        _ => "The operation could not run.",
    }
}

/// A next step's URL as a link of this console: its path when it is on this
/// deployment's public URL (so it works on whatever address the console is reached).
fn local(state: &AppState, url: &str) -> String {
    let base = state.public_url.as_str().trim_end_matches('/');
    match url.strip_prefix(base) {
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => url.to_owned(),
    }
}

#[derive(Deserialize)]
pub struct RunsQuery {
    outcome: Option<String>,
    after: Option<String>,
}

const OUTCOMES: [RunOutcome; 6] = [
    RunOutcome::Blocked,
    RunOutcome::Failed,
    RunOutcome::Pending,
    RunOutcome::Succeeded,
    RunOutcome::PartiallySucceeded,
    RunOutcome::Cancelled,
];

fn outcome_of(name: &str) -> Option<RunOutcome> {
    OUTCOMES.into_iter().find(|o| o.as_str() == name)
}

/// `GET /console/tenants/{tenant}/operations[?outcome=…]`: blocked runs unless another
/// outcome (or `all`) is chosen.
async fn operations(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(tenant): Path<Uuid>,
    Query(q): Query<RunsQuery>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal.authorize(&state, tenant, Need::Read).await?;
    let chosen = q.outcome.clone().unwrap_or_else(|| "blocked".to_owned());
    let outcome = match chosen.as_str() {
        "all" => None,
        name => Some(
            outcome_of(name)
                .ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "Unknown outcome."))?,
        ),
    };
    let filter = RunFilter {
        outcome,
        ..Default::default()
    };
    let page = match q.after.clone() {
        Some(after) => Page::after(25, after),
        None => Page::first(25),
    };
    let result = runs::list(&state.db, tenant, filter, page).await?;
    let base = format!("{}/operations", tenant_path(tenant));
    let next = result.next_cursor.as_ref().map(|cursor| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("outcome", &chosen)
            .append_pair("after", cursor)
            .finish();
        format!("{base}?{query}")
    });
    let body = html! {
        p { a href=(tenant_path(tenant)) { "← Integrations" } }
        h1 { "Operations" }
        form method="get" action=(base) {
            label for="outcome" { "Outcome" }
            select #outcome name="outcome" {
                option value="all" selected[chosen == "all"] { "All" }
                @for o in OUTCOMES {
                    option value=(o.as_str()) selected[chosen == o.as_str()] { (o.as_str().replace('_', " ")) }
                }
            }
            button.secondary type="submit" { "Filter" }
        }
        @if result.items.is_empty() {
            p.muted { "No operations here." }
        }
        @for run in &result.items {
            (run_card(&state, tenant, run))
        }
        @if let Some(next) = next { p { a href=(next) rel="next" { "Older operations" } } }
    };
    Ok(user.page("Operations", body))
}

fn run_card(state: &AppState, tenant: TenantId, run: &operation_run::Model) -> maud::Markup {
    html! {
        section.card.run aria-label=(format!("{} at {}", run.operation_type, dt(Some(run.created_at)))) {
            h2 { code { (run.operation_type) } " " span.badge { (run.outcome.as_str().replace('_', " ")) } }
            p.muted { (dt(Some(run.created_at))) " · " (run.status.as_str()) }
            @if let Some(code) = &run.reason_code {
                @if run.outcome == RunOutcome::Blocked {
                    p.error { (reason_words(code)) " " span.muted { "(" code { (code) } ")" } }
                } @else {
                    p { "Reason: " code { (code) } }
                }
            }
            @if let Some(c) = run.connection_id {
                p { a href=(connection_path(tenant, c)) { "The connection" } }
            }
            @if let Some(steps) = &run.next_steps && !steps.0.is_empty() {
                p { "What to do next:" }
                ul.steps {
                    @for step in &steps.0 {
                        li { a href=(local(state, &step.url)) { (step.label) } }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ProviderQuery {
    provider: Option<String>,
}

/// `GET …/connect?provider=` and `…/integrations?provider=`: the provider's card on the
/// integrations grid.
async fn provider_card(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(tenant): Path<Uuid>,
    Query(q): Query<ProviderQuery>,
) -> PageResult<Response> {
    let tenant = TenantId::from_uuid(tenant);
    user.principal.authorize(&state, tenant, Need::Read).await?;
    let anchor = q
        .provider
        .as_deref()
        .filter(|p| crate::models::ProviderSlug::parse(p).is_ok())
        .map(|p| format!("#p-{p}"))
        .unwrap_or_default();
    Ok(see_other(&format!("{}{anchor}", tenant_path(tenant))))
}
