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
use super::views::{ConnectionView, CredentialSecretView, Page};
use crate::models::connection::{ConnectionStatus, HealthStatus};
use crate::models::{ConnectionId, ExternalId, ProviderSlug, TenantId};
use crate::repositories::Page as PageRequest;
use crate::repositories::connections::{
    self as repo, ConnectionFilter, DetailsPatch, NewConnection,
};
use crate::services::connections as service;
use crate::services::credentials::{self, Credential};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    provider: String,
    external_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    scopes_granted: Vec<String>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    token_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    credential: Option<Credential>,
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CreateConnection>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let tenant = TenantId::from_uuid(tenant);
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    provider: Option<String>,
    status: Option<ConnectionStatus>,
    health: Option<HealthStatus>,
    cursor: Option<String>,
    limit: Option<u64>,
}

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<ConnectionView>>> {
    let tenant = TenantId::from_uuid(tenant);
    principal.authorize(&state, tenant, Need::Read).await?;
    let filter = ConnectionFilter {
        provider: query
            .provider
            .as_deref()
            .map(ProviderSlug::parse)
            .transpose()?,
        status: query.status,
        health: query.health,
    };
    let page = repo::list(
        &state.db,
        tenant,
        &filter,
        PageRequest {
            limit: query.limit,
            after: query.cursor,
        },
    )
    .await?;
    let ids: Vec<Uuid> = page.items.iter().map(|c| c.id).collect();
    let mut summaries = credentials::summaries(&state.db, tenant, &ids).await?;
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

pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ConnectionView>> {
    let tenant = TenantId::from_uuid(tenant);
    principal.authorize(&state, tenant, Need::Read).await?;
    let conn = repo::get_by_id(&state.db, tenant, ConnectionId::from_uuid(id))
        .await?
        .ok_or_else(|| ApiError::not_found("connection"))?;
    Ok(Json(view(&state, tenant, conn).await?))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    #[serde(default, deserialize_with = "nullable")]
    display_name: Option<Option<String>>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    status: Option<ConnectionStatus>,
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<UpdateConnection>,
) -> ApiResult<Json<ConnectionView>> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let patch = DetailsPatch {
        display_name: body.display_name,
        metadata: body.metadata,
        status: body.status,
    };
    let conn = service::update(
        &state.db,
        tenant,
        &actor,
        ConnectionId::from_uuid(id),
        patch,
    )
    .await?;
    Ok(Json(view(&state, tenant, conn).await?))
}

pub async fn replace_credentials(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(credential): ApiJson<Credential>,
) -> ApiResult<Json<ConnectionView>> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let (conn, summary) = service::replace_credentials(
        &state.db,
        &state.keyring,
        tenant,
        &actor,
        ConnectionId::from_uuid(id),
        &credential,
    )
    .await?;
    Ok(Json(ConnectionView::new(conn, Some(summary))))
}

pub async fn make_default(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ConnectionView>> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let conn =
        service::make_default(&state.db, tenant, &actor, ConnectionId::from_uuid(id)).await?;
    Ok(Json(view(&state, tenant, conn).await?))
}

pub async fn disconnect(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ConnectionView>> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let conn = service::disconnect(&state.db, tenant, &actor, ConnectionId::from_uuid(id)).await?;
    Ok(Json(ConnectionView::new(conn, None)))
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let tenant = TenantId::from_uuid(tenant);
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    service::delete(&state.db, tenant, &actor, ConnectionId::from_uuid(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/credentials`: the decrypted credential, for the tenant's service keys. Reads
/// only: no database write on this path.
pub async fn read_credentials(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CredentialSecretView>> {
    let tenant = TenantId::from_uuid(tenant);
    principal
        .authorize(&state, tenant, Need::Credentials)
        .await?;
    let id = ConnectionId::from_uuid(id);
    let conn = repo::get_by_id(&state.db, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("connection"))?;
    let credential = credentials::read(&state.db, &state.keyring, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("credential"))?;
    Ok(Json(CredentialSecretView::new(&conn, &credential)))
}
