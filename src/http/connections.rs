//! A tenant's connections: create (with a credential), list, get, update, replace the
//! credential, make default, disconnect, delete, and the credential read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging;
use super::paths::{ConnectionPath, TenantPath};
use super::problems::{ReadProblems, WriteProblems};
use super::views::{ConnectionView, CredentialSecretView, Page, Problem};
use crate::models::connection::{ConnectionStatus, HealthStatus};
use crate::models::{ConnectionId, ExternalId, ProviderSlug, TenantId};
use crate::repositories::connections::{
    self as repo, ConnectionFilter, DetailsPatch, NewConnection,
};
use crate::services::connections as service;
use crate::services::credentials::{self, Credential};
use crate::tenancy::TenantTxn;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    provider: String,
    external_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    scopes_granted: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    token_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    credential: Option<Credential>,
}

#[utoipa::path(
    operation_id = "create_connection",
    post,
    path = "/v1/tenants/{tenant_id}/connections",
    tag = "connections",
    params(TenantPath),
    request_body = CreateConnection,
    responses(
        (status = 201, body = ConnectionView),
        WriteProblems,
        (status = 409, description = "Duplicate connection", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiJson(body): ApiJson<CreateConnection>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let mut input = NewConnection::new(
        ProviderSlug::parse(&body.provider)?,
        ExternalId::parse(&body.external_id)?,
    );
    input.display_name = body.display_name;
    input.scopes_granted = body.scopes_granted;
    input.token_expires_at = body.token_expires_at;
    if let Some(metadata) = body.metadata {
        input.metadata = metadata;
    }
    let (conn, summary) = service::connect(
        &state.db,
        &state.keyring,
        tenant,
        &actor,
        input,
        body.credential.as_ref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConnectionView::new(conn, summary)),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    provider: Option<String>,
    status: Option<ConnectionStatus>,
    health: Option<HealthStatus>,
    cursor: Option<String>,
    limit: Option<u64>,
}

#[utoipa::path(
    operation_id = "list_connections",
    get,
    path = "/v1/tenants/{tenant_id}/connections",
    tag = "connections",
    params(TenantPath, ListQuery),
    responses(
        (status = 200, body = Page<ConnectionView>),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<ConnectionView>>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let page = paging::page(query.cursor, query.limit)?;
    let filter = ConnectionFilter {
        provider: query
            .provider
            .as_deref()
            .map(ProviderSlug::parse)
            .transpose()?,
        status: query.status,
        health: query.health,
    };
    // One transaction for the page and its summaries: one scope, one snapshot.
    let txn = TenantTxn::begin(&state.db, tenant).await?;
    let page = repo::list(&txn, tenant, &filter, page).await?;
    let ids: Vec<Uuid> = page.items.iter().map(|c| c.id).collect();
    let mut summaries = credentials::summaries(&txn, tenant, &ids).await?;
    txn.commit().await?;
    let items = page
        .items
        .into_iter()
        .map(|c| {
            let summary = summaries.remove(&c.id);
            ConnectionView::new(c, summary)
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

async fn view(
    state: &AppState,
    tenant: TenantId,
    conn: crate::models::connection::Model,
) -> ApiResult<ConnectionView> {
    let summary = credentials::summary(&state.db, tenant, conn.connection_id()).await?;
    Ok(ConnectionView::new(conn, summary))
}

#[utoipa::path(
    operation_id = "get_connection",
    get,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, body = ConnectionView),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
) -> ApiResult<Json<ConnectionView>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let txn = TenantTxn::begin(&state.db, tenant).await?;
    let conn = repo::get_by_id(&txn, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("connection"))?;
    let summary = credentials::summary(&txn, tenant, conn.connection_id()).await?;
    txn.commit().await?;
    Ok(Json(ConnectionView::new(conn, summary)))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    display_name: Option<Option<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    status: Option<ConnectionStatus>,
}

#[utoipa::path(
    operation_id = "update_connection",
    patch,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    tag = "connections",
    params(ConnectionPath),
    request_body = UpdateConnection,
    responses(
        (status = 200, body = ConnectionView),
        WriteProblems,
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
    ApiJson(body): ApiJson<UpdateConnection>,
) -> ApiResult<Json<ConnectionView>> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let patch = DetailsPatch {
        display_name: body.display_name,
        metadata: body.metadata,
        status: body.status,
    };
    let conn = service::update(&state.db, tenant, &actor, id, patch).await?;
    Ok(Json(view(&state, tenant, conn).await?))
}

#[utoipa::path(
    operation_id = "replace_credentials",
    put,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/credentials",
    tag = "connections",
    params(ConnectionPath),
    request_body = Credential,
    responses(
        (status = 200, body = ConnectionView),
        WriteProblems,
    ),
    security(("api_key" = []))
)]
pub async fn replace_credentials(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
    ApiJson(credential): ApiJson<Credential>,
) -> ApiResult<Json<ConnectionView>> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let (conn, summary) =
        service::replace_credentials(&state.db, &state.keyring, tenant, &actor, id, &credential)
            .await?;
    Ok(Json(ConnectionView::new(conn, Some(summary))))
}

#[utoipa::path(
    operation_id = "make_default",
    post,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/default",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, body = ConnectionView),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn make_default(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
) -> ApiResult<Json<ConnectionView>> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let conn = service::make_default(&state.db, tenant, &actor, id).await?;
    Ok(Json(view(&state, tenant, conn).await?))
}

#[utoipa::path(
    operation_id = "disconnect_connection",
    post,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/disconnect",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, body = ConnectionView),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn disconnect(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
) -> ApiResult<Json<ConnectionView>> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let conn = service::disconnect(&state.db, tenant, &actor, id).await?;
    Ok(Json(ConnectionView::new(conn, None)))
}

#[utoipa::path(
    operation_id = "delete_connection",
    delete,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 204, description = "Deleted"),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
) -> ApiResult<StatusCode> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    service::delete(&state.db, tenant, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/credentials`: the decrypted credential, for the tenant's service keys. Two
/// indexed reads (the API key, then the credential rows with their connection) and no
/// write, unless the token expires within the refresh margin: then it is renewed first
/// (once, whoever else asks at the same time). A connection that needs
/// re-authorization answers 409 with its `reason_code`; a renewal the provider could
/// not serve while the token has expired answers 503.
#[utoipa::path(
    operation_id = "read_credentials",
    get,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/credentials",
    tag = "credentials",
    params(ConnectionPath),
    responses(
        (status = 200, body = CredentialSecretView),
        ReadProblems,
        (status = 409, description = "The connection needs re-authorization (connection_needs_reauth, with reason_code) or cannot be used", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The token expired and the provider could not renew it (provider_unavailable, with reason_code and Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn read_credentials(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
) -> ApiResult<Json<CredentialSecretView>> {
    principal
        .authorize(&state, tenant, Need::Credentials)
        .await?;
    let read = state
        .refresher
        .read(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("credential"))?;
    Ok(Json(CredentialSecretView::new(id.as_uuid(), &read)))
}
