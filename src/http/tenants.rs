//! Tenants (operator) and API keys (operator keys; tenant keys by the tenant's admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::examples;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging::PageQuery;
use super::paths::TenantPath;
use super::problems::{
    BodyProblems, Malformed, ReadProblems, RoleNotAllowed, Unauthenticated, WriteProblems,
};
use super::schemas::{Name, OperatorKeyRole, TenantKeyRole};
use super::views::{ApiKeyView, CreatedApiKeyView, NoStore, Page, TenantView};
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::repositories::{api_keys, tenants};
use crate::services::api_keys as key_service;
use secrecy::ExposeSecret;

/// `POST /v1/tenants` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[schema(value_type = Name)]
    name: String,
}

/// Create a tenant.
///
/// Operators only. A tenant is the isolation boundary: its connections, keys, connect
/// sessions and activity are seen only by its own keys and by operators. The name is
/// trimmed and must keep 1 to 200 characters.
#[utoipa::path(
    operation_id = "create_tenant",
    post,
    path = "/v1/tenants",
    tag = "tenants",
    request_body(content = CreateTenant, example = examples::create_tenant),
    responses(
        (status = 201, description = "The new tenant", body = TenantView, example = examples::tenant),
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

/// List tenants.
///
/// Operators only. Oldest first, one page at a time: pass `next_cursor` as `cursor`
/// for the next page; `limit` is 1 to 200 (default 50).
#[utoipa::path(
    operation_id = "list_tenants",
    get,
    path = "/v1/tenants",
    tag = "tenants",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tenants", body = Page<TenantView>, example = examples::tenants),
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

/// Get a tenant.
///
/// Any key of the tenant, or an operator. Another tenant's key gets the same 404 as
/// a tenant that does not exist.
#[utoipa::path(
    operation_id = "get_tenant",
    get,
    path = "/v1/tenants/{tenant_id}",
    tag = "tenants",
    params(TenantPath),
    responses(
        (status = 200, description = "The tenant", body = TenantView, example = examples::tenant),
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

/// `POST /v1/tenants/{tenant_id}/api-keys` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantKey {
    #[schema(value_type = Name)]
    name: String,
    /// admin, service or viewer (default viewer); operator keys are made at /v1/api-keys.
    #[serde(default)]
    #[schema(value_type = Option<TenantKeyRole>, required = false)]
    role: Option<String>,
}

/// `POST /v1/api-keys` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperatorKey {
    #[schema(value_type = Name)]
    name: String,
    /// `operator` (the default) or `worker`: keys made here belong to no tenant.
    #[serde(default)]
    #[schema(value_type = Option<OperatorKeyRole>, required = false)]
    role: Option<String>,
}

/// A new key's answer: its secret, this once.
type CreatedKey = NoStore<(StatusCode, Json<CreatedApiKeyView>)>;

fn created(key: api_keys::NewApiKey) -> CreatedKey {
    let secret = key.secret.expose_secret().to_owned();
    NoStore((
        StatusCode::CREATED,
        Json(CreatedApiKeyView {
            key: key.key.into(),
            secret,
        }),
    ))
}

/// Create a tenant key.
///
/// The tenant's admins, or an operator. The key's secret is in this response only;
/// the service stores its SHA-256. Roles: `admin` (change connections and keys),
/// `service` (read decrypted credentials), `viewer` (metadata; the default).
#[utoipa::path(
    operation_id = "create_tenant_key",
    post,
    path = "/v1/tenants/{tenant_id}/api-keys",
    tag = "api-keys",
    params(TenantPath),
    request_body(content = CreateTenantKey, example = examples::create_tenant_key),
    responses(
        (status = 201, description = "The new key, with its secret shown once", body = CreatedApiKeyView, example = examples::created_tenant_key),
        WriteProblems,
    ),
    security(("api_key" = []))
)]
pub async fn create_tenant_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiJson(body): ApiJson<CreateTenantKey>,
) -> ApiResult<CreatedKey> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
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
    let key = key_service::create(&state.db, &actor, Some(tenant), role, &body.name).await?;
    Ok(created(key))
}

/// List a tenant's keys.
///
/// The tenant's admins, or an operator. Oldest first, revoked keys included (with
/// `revoked_at`); never a secret. Paged like every list.
#[utoipa::path(
    operation_id = "list_tenant_keys",
    get,
    path = "/v1/tenants/{tenant_id}/api-keys",
    tag = "api-keys",
    params(TenantPath, PageQuery),
    responses(
        (status = 200, description = "A page of keys", body = Page<ApiKeyView>, example = examples::tenant_keys),
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

/// Revoke a tenant key.
///
/// The tenant's admins, or an operator. The key stops working at once on this
/// server and within a second on every other replica; it stays listed with
/// `revoked_at`. A key already revoked, or of another tenant, is a 404.
#[utoipa::path(
    operation_id = "revoke_tenant_key",
    delete,
    path = "/v1/tenants/{tenant_id}/api-keys/{key_id}",
    tag = "api-keys",
    params(TenantPath, ("key_id" = Uuid, Path, description = "API key id", example = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")),
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
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    key_service::revoke(&state.db, &actor, Some(tenant), key).await?;
    // Other replicas hear of it from the revoking transaction's notification.
    state.keys.forget(key);
    Ok(StatusCode::NO_CONTENT)
}

/// Create an operator or worker key.
///
/// Operators only. An operator key belongs to no tenant and may do everything on every
/// tenant except read decrypted credentials. A worker key (`"role": "worker"`) belongs
/// to no tenant either and may do nothing but the worker endpoints: claim operation
/// runs of every tenant, heartbeat and complete them, and read the credential of a run
/// it holds. The secret is in this response only.
#[utoipa::path(
    operation_id = "create_operator_key",
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    request_body(content = CreateOperatorKey, example = examples::create_operator_key),
    responses(
        (status = 201, description = "The new key, with its secret shown once", body = CreatedApiKeyView, example = examples::created_operator_key),
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
    ApiJson(body): ApiJson<CreateOperatorKey>,
) -> ApiResult<CreatedKey> {
    principal.require_operator()?;
    let role = match body.role.as_deref().map(Role::parse) {
        None => Role::Operator,
        Some(Some(role)) if role.is_deployment_wide() => role,
        Some(_) => {
            return Err(ApiError::validation(
                "role",
                "keys made here are operator or worker keys",
            ));
        }
    };
    let key = key_service::create(&state.db, &principal.actor(), None, role, &body.name).await?;
    Ok(created(key))
}

/// List operator keys.
///
/// Operators only. Oldest first, revoked keys included; never a secret. Paged like
/// every list.
#[utoipa::path(
    operation_id = "list_operator_keys",
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of operator keys", body = Page<ApiKeyView>, example = examples::operator_keys),
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

/// Revoke an operator key.
///
/// Operators only. The key stops working at once (the caller's own key too), within a
/// second on every other replica. A key already revoked, or a tenant's key, is a 404.
#[utoipa::path(
    operation_id = "revoke_operator_key",
    delete,
    path = "/v1/api-keys/{key_id}",
    tag = "api-keys",
    params(("key_id" = Uuid, Path, description = "API key id", example = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")),
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
    key_service::revoke(&state.db, &principal.actor(), None, key).await?;
    state.keys.forget(key);
    Ok(StatusCode::NO_CONTENT)
}
