//! Tenants (operator) and API keys (operator keys; tenant keys by the tenant's admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use super::paths::TenantPath;
use super::problems::{
    BodyProblems, Malformed, ReadProblems, RoleNotAllowed, Unauthenticated, WriteProblems,
};
use super::views::{ApiKeyView, CreatedApiKeyView, NoStore, Page, TenantView};
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::repositories::{api_keys, tenants};
use crate::services::api_keys as key_service;
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
) -> ApiResult<Json<Page<TenantView>>> {
    principal.require_operator()?;
    let items = tenants::list(&state.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
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

#[utoipa::path(
    operation_id = "list_tenant_keys",
    get,
    path = "/v1/tenants/{tenant_id}/api-keys",
    tag = "api-keys",
    params(TenantPath),
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
) -> ApiResult<Json<Page<ApiKeyView>>> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    let items = api_keys::list(&state.db, Some(tenant))
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
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
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    key_service::revoke(&state.db, &actor, Some(tenant), key).await?;
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
) -> ApiResult<CreatedKey> {
    principal.require_operator()?;
    if body.role.as_deref().is_some_and(|r| r != "operator") {
        return Err(ApiError::validation(
            "role",
            "keys made here are operator keys",
        ));
    }
    let key = key_service::create(
        &state.db,
        &principal.actor(),
        None,
        Role::Operator,
        &body.name,
    )
    .await?;
    Ok(created(key))
}

#[utoipa::path(
    operation_id = "list_operator_keys",
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
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
) -> ApiResult<Json<Page<ApiKeyView>>> {
    principal.require_operator()?;
    let items = api_keys::list(&state.db, None)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
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
    key_service::revoke(&state.db, &principal.actor(), None, key).await?;
    Ok(StatusCode::NO_CONTENT)
}
