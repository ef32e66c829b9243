//! A tenant's operation runs: start (gated; blocked is a result, not an error), list
//! with filters, get, cancel. Views and examples are in `views.rs`.

pub mod views;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging;
use super::paths::TenantPath;
use super::problems::{ReadProblems, RunFinished, StartProblems, WriteProblems};
use super::views::Page;
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::models::operation_run::{RunOutcome, RunStatus};
use crate::services::operations::runs::{self, RunFilter};
use crate::services::operations::{self, StartRequest};
use views::{RunView, run_example, runs_example};

/// `POST /v1/tenants/{tenant_id}/operations` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartOperation {
    /// An operation type of the registry.
    #[serde(rename = "type")]
    #[schema(example = "inventory.sync", min_length = 1, max_length = 64)]
    operation_type: String,
    /// The connection to run on; when absent, the tenant's default connection of the
    /// type's provider (or its only one).
    #[serde(default)]
    connection_id: Option<Uuid>,
    /// What the run works on: a JSON object, at most 4 KiB; part of the run's identity
    /// for deduplication.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    target_scope: Option<serde_json::Value>,
    /// The caller's parameters: a JSON object, at most 16 KiB; never a secret.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    params: Option<serde_json::Value>,
}

/// `POST …/operations` example body.
pub fn start_example() -> serde_json::Value {
    serde_json::json!({
        "type": "inventory.sync",
        "target_scope": {"channel": "C024BE91L"},
        "params": {"full": true}
    })
}

/// Path of one run.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct RunPath {
    /// Tenant id
    tenant_id: Uuid,
    /// Run id
    run_id: Uuid,
}

/// Start an operation.
///
/// The tenant's admin and service keys. Resolves the connection (the one named, else
/// the tenant's default for the type's provider) and gates it. A run is always
/// created: `queued` when the connection is usable; otherwise `completed` with outcome
/// `blocked`, a stable `reason_code` and `next_steps` (links to the console only),
/// answered with 201 too. For a type with `dedupe`, an identical start (same type,
/// connection and `target_scope`) while such a run is queued or running answers that
/// run with 200. An unknown type is a 422 `unknown_operation_type`.
#[utoipa::path(
    operation_id = "start_operation",
    post,
    path = "/v1/tenants/{tenant_id}/operations",
    tag = "operation-runs",
    params(TenantPath),
    request_body(content = StartOperation, example = start_example),
    responses(
        (status = 201, description = "The run: queued, or blocked with its reason and next steps", body = RunView, example = run_example),
        (status = 200, description = "The identical run already queued or running", body = RunView, example = run_example),
        StartProblems,
    ),
    security(("api_key" = []))
)]
pub async fn start(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiJson(body): ApiJson<StartOperation>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let actor = principal.authorize(&state, tenant, Need::Read).await?;
    if !matches!(principal.role, Role::Admin | Role::Service) {
        return Err(ApiError::forbidden(format!(
            "the {} role cannot start operations",
            principal.role.as_str()
        )));
    }
    let request = StartRequest {
        operation_type: body.operation_type,
        connection_id: body.connection_id,
        target_scope: body.target_scope,
        params: body.params,
    };
    let started = operations::start(&state.db, &state.public_url, tenant, &actor, request).await?;
    let status = if started.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(started.run.into())))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// Only runs of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    operation_type: Option<String>,
    /// Only runs with this status.
    #[param(value_type = Option<RunStatus>)]
    status: Option<String>,
    /// Only runs with this outcome.
    #[param(value_type = Option<RunOutcome>)]
    outcome: Option<String>,
    /// Only runs on this connection.
    connection_id: Option<Uuid>,
    /// The `next_cursor` of the previous page; the first page when absent.
    cursor: Option<String>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200, example = 50)]
    limit: Option<u64>,
}

fn parse_enum<T: serde::de::DeserializeOwned>(
    field: &str,
    value: Option<String>,
) -> ApiResult<Option<T>> {
    value
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v))
                .map_err(|_| ApiError::validation(field, format!("is not a known {field}")))
        })
        .transpose()
}

/// List a tenant's operation runs.
///
/// Any key of the tenant, or an operator. Newest first, filtered by `type`, `status`,
/// `outcome` and `connection_id`, paged like every list.
#[utoipa::path(
    operation_id = "list_operations",
    get,
    path = "/v1/tenants/{tenant_id}/operations",
    tag = "operation-runs",
    params(TenantPath, RunQuery),
    responses(
        (status = 200, description = "A page of runs", body = Page<RunView>, example = runs_example),
        WriteProblems,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<RunQuery>,
) -> ApiResult<Json<Page<RunView>>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let page = paging::page(query.cursor, query.limit)?;
    let filter = RunFilter {
        operation_type: query.operation_type,
        status: parse_enum("status", query.status)?,
        outcome: parse_enum("outcome", query.outcome)?,
        connection_id: query.connection_id,
    };
    let page = runs::list(&state.db, tenant, filter, page).await?;
    Ok(Json(Page::from_result(page)))
}

/// Get an operation run.
///
/// Any key of the tenant, or an operator. Another tenant's run is a 404.
#[utoipa::path(
    operation_id = "get_operation",
    get,
    path = "/v1/tenants/{tenant_id}/operations/{run_id}",
    tag = "operation-runs",
    params(RunPath),
    responses(
        (status = 200, description = "The run", body = RunView, example = run_example),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, Uuid)>,
) -> ApiResult<Json<RunView>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    Ok(Json(runs::get(&state.db, tenant, id).await?.into()))
}

/// Cancel an operation run.
///
/// The tenant's admins, or an operator. A queued or running run becomes `completed`
/// with outcome `cancelled` (a worker holding it loses its claim) and the activity log
/// records `operation_cancelled`. A completed run is a 409 `operation_finished`.
#[utoipa::path(
    operation_id = "cancel_operation",
    post,
    path = "/v1/tenants/{tenant_id}/operations/{run_id}/cancel",
    tag = "operation-runs",
    params(RunPath),
    responses(
        (status = 200, description = "The cancelled run", body = RunView, example = run_example),
        ReadProblems,
        RunFinished,
    ),
    security(("api_key" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, Uuid)>,
) -> ApiResult<Json<RunView>> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    Ok(Json(
        runs::cancel(&state.db, tenant, &actor, id).await?.into(),
    ))
}
