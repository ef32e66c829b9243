//! Tenants (operator) and API keys (operator keys; tenant keys by the tenant's admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging::PageQuery;
use super::paths::TenantPath;
use super::problems::{
    BodyProblems, Malformed, ReadProblems, RoleNotAllowed, Unauthenticated, WriteProblems,
};
use super::views::{ApiKeyView, CreatedApiKeyView, Page, TenantView};
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::repositories::{api_keys, tenants};
use secrecy::ExposeSecret;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    name: String,
}

#[utoipa::path(
    operation_id = "create_tenant",
    post,
    path = "/v1/tenants",
    tag = "tenants",
    request_body = CreateTenant,
    responses(
        (status = 201, body = TenantView),
        BodyProblems,
        Unauthenticated,
        Malformed,
        RoleNotAllowed,
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateTenant>,
) -> ApiResult<(StatusCode, Json<TenantView>)> {
    principal.require_operator()?;
    let tenant = tenants::create(&state.db, &body.name).await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

#[utoipa::path(
    operation_id = "list_tenants",
    get,
    path = "/v1/tenants",
    tag = "tenants",
    params(PageQuery),
    responses(
        (status = 200, body = Page<TenantView>),
        Unauthenticated,
        Malformed,
        RoleNotAllowed,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<TenantView>>> {
    principal.require_operator()?;
    let page = tenants::list_page(&state.db, query.page()?).await?;
    Ok(Json(Page::from_result(page)))
}

#[utoipa::path(
    operation_id = "get_tenant",
    get,
    path = "/v1/tenants/{tenant_id}",
    tag = "tenants",
    params(TenantPath),
    responses(
        (status = 200, body = TenantView),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
) -> ApiResult<Json<TenantView>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let found = tenants::get(&state.db, tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(found.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    /// admin, service or viewer (default viewer); operator keys are made at /v1/api-keys.
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
}

fn created(key: api_keys::NewApiKey) -> (StatusCode, Json<CreatedApiKeyView>) {
    let secret = key.secret.expose_secret().to_owned();
    (
        StatusCode::CREATED,
        Json(CreatedApiKeyView {
            key: key.key.into(),
            secret,
        }),
    )
}

#[utoipa::path(
    operation_id = "create_tenant_key",
    post,
    path = "/v1/tenants/{tenant_id}/api-keys",
    tag = "api-keys",
    params(TenantPath),
    request_body = CreateKey,
    responses(
        (status = 201, body = CreatedApiKeyView),
        WriteProblems,
    ),
    security(("api_key" = []))
)]
pub async fn create_tenant_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKeyView>)> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    let role = match body.role.as_deref().map(Role::parse) {
        Some(Some(role @ (Role::Admin | Role::Service | Role::Viewer))) => role,
        None => Role::Viewer,
        _ => {
            return Err(ApiError::validation(
                "role",
                "role must be admin, service or viewer",
            ));
        }
    };
    let key = api_keys::create(&state.db, Some(tenant), role, &body.name).await?;
    Ok(created(key))
}

#[utoipa::path(
    operation_id = "list_tenant_keys",
    get,
    path = "/v1/tenants/{tenant_id}/api-keys",
    tag = "api-keys",
    params(TenantPath, PageQuery),
    responses(
        (status = 200, body = Page<ApiKeyView>),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn list_tenant_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    let page = api_keys::list(&state.db, Some(tenant), query.page()?).await?;
    Ok(Json(Page::from_result(page)))
}

#[utoipa::path(
    operation_id = "revoke_tenant_key",
    delete,
    path = "/v1/tenants/{tenant_id}/api-keys/{key_id}",
    tag = "api-keys",
    params(TenantPath, ("key_id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn revoke_tenant_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, key)): ApiPath<(TenantId, Uuid)>,
) -> ApiResult<StatusCode> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    api_keys::revoke(&state.db, Some(tenant), key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    operation_id = "create_operator_key",
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    request_body = CreateKey,
    responses(
        (status = 201, body = CreatedApiKeyView),
        BodyProblems,
        Unauthenticated,
        Malformed,
        RoleNotAllowed,
    ),
    security(("api_key" = []))
)]
pub async fn create_operator_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKeyView>)> {
    principal.require_operator()?;
    if body.role.as_deref().is_some_and(|r| r != "operator") {
        return Err(ApiError::validation(
            "role",
            "keys made here are operator keys",
        ));
    }
    let key = api_keys::create(&state.db, None, Role::Operator, &body.name).await?;
    Ok(created(key))
}

#[utoipa::path(
    operation_id = "list_operator_keys",
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    params(PageQuery),
    responses(
        (status = 200, body = Page<ApiKeyView>),
        Unauthenticated,
        Malformed,
        RoleNotAllowed,
    ),
    security(("api_key" = []))
)]
pub async fn list_operator_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    principal.require_operator()?;
    let page = api_keys::list(&state.db, None, query.page()?).await?;
    Ok(Json(Page::from_result(page)))
}

#[utoipa::path(
    operation_id = "revoke_operator_key",
    delete,
    path = "/v1/api-keys/{key_id}",
    tag = "api-keys",
    params(("key_id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn revoke_operator_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(key): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    principal.require_operator()?;
    api_keys::revoke(&state.db, None, key).await?;
    Ok(StatusCode::NO_CONTENT)
}
