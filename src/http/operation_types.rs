//! The registry of operation types over HTTP. Operators write it; any key reads it
//! (like the provider catalog: a product's backend and its admins need to know which
//! operations exist and what they require).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::auth::Principal;
use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::operations::views::{OperationTypeView, type_example, types_example};
use super::paging::PageQuery;
use super::problems::{
    BodyProblems, Malformed, OperatorOnly, TypeInUse, Unauthenticated, UnknownResource,
};
use super::schemas::{Scope, Slug};
use super::views::Page;
use crate::services::operations::types::{self, OperationTypeSpec};

fn default_max_attempts() -> i32 {
    3
}

fn default_heartbeat_timeout() -> i32 {
    300
}

fn default_dedupe() -> bool {
    true
}

/// `PUT /v1/operation-types/{type}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOperationType {
    /// The provider of the catalog whose connection gates the runs.
    #[schema(value_type = Slug)]
    provider: String,
    /// Scopes the connection must hold (at most 100).
    #[serde(default)]
    #[schema(value_type = Vec<Scope>)]
    required_scopes: Vec<String>,
    /// The product module that owns the operation, 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64, example = "inventory")]
    module: String,
    /// Claims a run may have before a lost worker fails it; 1 to 100, 3 when absent.
    #[serde(default = "default_max_attempts")]
    #[schema(minimum = 1, maximum = 100, example = 3)]
    max_attempts: i32,
    /// A running run whose heartbeat is older is taken back; 5 to 86400, 300 when absent.
    #[serde(default = "default_heartbeat_timeout")]
    #[schema(minimum = 5, maximum = 86400, example = 300)]
    heartbeat_timeout_seconds: i32,
    /// Whether an identical start returns the queued or running run; true when absent.
    #[serde(default = "default_dedupe")]
    dedupe: bool,
}

fn put_example() -> serde_json::Value {
    serde_json::json!({
        "provider": "slack",
        "required_scopes": ["channels:read"],
        "module": "inventory",
        "max_attempts": 3,
        "heartbeat_timeout_seconds": 300,
        "dedupe": true
    })
}

/// Set an operation type.
///
/// Operators only. Creates the type (201) or replaces its definition (200). The type
/// is slug-like (`inventory.sync`: dot-separated segments of a-z, 0-9, `_`, `-`); the
/// provider must be in the catalog (422 `unknown_provider`). Runs already started keep
/// the limits they started with.
#[utoipa::path(
    operation_id = "put_operation_type",
    put,
    path = "/v1/operation-types/{type}",
    tag = "operation-types",
    params(("type" = String, Path, description = "Operation type", example = "inventory.sync")),
    request_body(content = PutOperationType, example = put_example),
    responses(
        (status = 200, description = "The type, replaced", body = OperationTypeView, example = type_example),
        (status = 201, description = "The type, created", body = OperationTypeView, example = type_example),
        OperatorOnly,
        Malformed,
        BodyProblems,
    ),
    security(("api_key" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PutOperationType>,
) -> ApiResult<(StatusCode, Json<OperationTypeView>)> {
    principal.require_operator()?;
    let spec = OperationTypeSpec {
        provider: body.provider,
        required_scopes: body.required_scopes,
        module: body.module,
        max_attempts: body.max_attempts,
        heartbeat_timeout_seconds: body.heartbeat_timeout_seconds,
        dedupe: body.dedupe,
    };
    let (model, created) = types::put(&state.db, &name, spec).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(model.into())))
}

/// List operation types.
///
/// Any key. In name order, paged like every list.
#[utoipa::path(
    operation_id = "list_operation_types",
    get,
    path = "/v1/operation-types",
    tag = "operation-types",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of operation types", body = Page<OperationTypeView>, example = types_example),
        Unauthenticated,
        Malformed,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<OperationTypeView>>> {
    let page = types::list(&state.db, query.page()?).await?;
    Ok(Json(Page::from_result(page)))
}

/// Get an operation type.
///
/// Any key. An unknown type is a 404.
#[utoipa::path(
    operation_id = "get_operation_type",
    get,
    path = "/v1/operation-types/{type}",
    tag = "operation-types",
    params(("type" = String, Path, description = "Operation type", example = "inventory.sync")),
    responses(
        (status = 200, description = "The type", body = OperationTypeView, example = type_example),
        Unauthenticated,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<OperationTypeView>> {
    Ok(Json(types::get(&state.db, &name).await?.into()))
}

/// Delete an operation type.
///
/// Operators only. A type any tenant has runs of is kept: 409 `operation_type_in_use`
/// (the runs are history). An unknown type is a 404.
#[utoipa::path(
    operation_id = "delete_operation_type",
    delete,
    path = "/v1/operation-types/{type}",
    tag = "operation-types",
    params(("type" = String, Path, description = "Operation type", example = "inventory.sync")),
    responses(
        (status = 204, description = "Deleted"),
        OperatorOnly,
        UnknownResource,
        TypeInUse,
    ),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    principal.require_operator()?;
    types::delete(&state.db, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
