//! The activity log and the integrations view of a tenant.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::examples;
use super::extract::{ApiPath, ApiQuery};
use super::paging::{self, PageQuery};
use super::paths::TenantPath;
use super::problems::{Invalid, ReadProblems};
use super::views::{ActivityView, ConnectionView, IntegrationView, Page};
use crate::models::TenantId;
use crate::models::activity::Action;
use crate::repositories::activity::{self, Filter};
use crate::repositories::{connections, providers};
use crate::services::credentials;
use crate::tenancy::TenantTxn;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// Only this connection's entries.
    connection_id: Option<Uuid>,
    /// Only entries of this action.
    #[param(value_type = Option<Action>)]
    action: Option<String>,
    /// The `next_cursor` of the previous page; the first page when absent.
    cursor: Option<String>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200, example = 50)]
    limit: Option<u64>,
}

/// List a tenant's activity.
///
/// Any key of the tenant, or an operator. Newest first, filtered by connection and
/// action, paged like every list. Every change to a connection is recorded in the
/// transaction of the change, with the key that made it; entries never hold a secret
/// and outlive the connection.
#[utoipa::path(
    operation_id = "list_activity",
    get,
    path = "/v1/tenants/{tenant_id}/activity",
    tag = "activity",
    params(TenantPath, ActivityQuery),
    responses(
        (status = 200, description = "A page of activity entries", body = Page<ActivityView>, example = examples::activity),
        ReadProblems,
        Invalid,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<ActivityQuery>,
) -> ApiResult<Json<Page<ActivityView>>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let page = paging::page(query.cursor, query.limit)?;
    let action = match query.action.as_deref() {
        None => None,
        Some(a) => Some(
            Action::parse(a)
                .ok_or_else(|| ApiError::validation("action", "is not a known action"))?,
        ),
    };
    let filter = Filter {
        connection_id: query.connection_id,
        action,
    };
    let page = activity::list(&state.db, tenant, filter, page).await?;
    Ok(Json(Page::from_result(page)))
}

/// List the tenant's integrations.
///
/// Any key of the tenant, or an operator. Every catalog provider, in slug order and
/// paged like every list, with this tenant's summary: connected or not, how many live
/// connections, and the default one with its status, health and credential mask.
#[utoipa::path(
    operation_id = "list_integrations",
    get,
    path = "/v1/tenants/{tenant_id}/integrations",
    tag = "integrations",
    params(TenantPath, PageQuery),
    responses(
        (status = 200, description = "A page of integrations", body = Page<IntegrationView>, example = examples::integrations),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn integrations(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<IntegrationView>>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let catalog = providers::list_page(&state.db, query.page()?).await?;
    let txn = TenantTxn::begin(&state.db, tenant).await?;
    let counts: std::collections::HashMap<String, i64> =
        connections::count_by_provider(&txn, tenant)
            .await?
            .into_iter()
            .collect();
    let defaults = connections::defaults(&txn, tenant).await?;
    let ids: Vec<Uuid> = defaults.iter().map(|c| c.id).collect();
    let mut summaries = credentials::summaries(&txn, tenant, &ids).await?;
    txn.commit().await?;
    let mut defaults: std::collections::HashMap<String, _> = defaults
        .into_iter()
        .map(|c| (c.provider_slug.clone(), c))
        .collect();
    let items = catalog
        .items
        .into_iter()
        .map(|p| {
            let count = counts.get(&p.slug).copied().unwrap_or(0) as usize;
            let default_connection = defaults.remove(&p.slug).map(|c| {
                let summary = summaries.remove(&c.id);
                ConnectionView::new(c, summary)
            });
            IntegrationView {
                provider: p.slug,
                display_name: p.display_name,
                auth_modes: p.auth_modes.0,
                docs_url: p.docs_url,
                connected: count > 0,
                connection_count: count,
                default_connection,
            }
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: catalog.next_cursor,
    }))
}
