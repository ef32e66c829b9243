//! A tenant's connections: create (with a credential), list, get, update, make
//! default, disconnect, delete. The credential itself is in `credentials.rs`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::examples;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging;
use super::paths::{ConnectionPath, TenantPath};
use super::problems::{Duplicate, Invalid, ReadProblems, WriteProblems};
use super::schemas::{DisplayName, ExternalIdText, Scope, SettableStatus, Slug};
use super::views::{ConnectionView, Page};
use crate::models::connection::{ConnectionStatus, HealthStatus};
use crate::models::{ConnectionId, ExternalId, ProviderSlug, TenantId};
use crate::repositories::connections::{
    self as repo, ConnectionFilter, DetailsPatch, NewConnection,
};
use crate::services::connections as service;
use crate::services::credentials::{self, Credential};
use crate::tenancy::TenantTxn;

/// `POST /v1/tenants/{tenant_id}/connections` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// A provider of the catalog.
    #[schema(value_type = Slug)]
    provider: String,
    #[schema(value_type = ExternalIdText)]
    external_id: String,
    #[serde(default)]
    #[schema(value_type = Option<DisplayName>)]
    display_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<Scope>)]
    scopes_granted: Vec<String>,
    /// A JSON object of your own; never a secret.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    token_expires_at: Option<DateTime<Utc>>,
    /// Stored encrypted; the connection is then `active`, else `pending`.
    #[serde(default)]
    credential: Option<Credential>,
}

/// Create a connection.
///
/// The tenant's admins, or an operator. The credential, when given, is encrypted and
/// bound to this tenant, connection and field; responses show only masks. The first
/// connection of a tenant to a provider becomes that provider's default. Records
/// `connected` in the activity log, in the same transaction. One connection per
/// provider and external id in a tenant (409 `duplicate_connection`).
#[utoipa::path(
    operation_id = "create_connection",
    post,
    path = "/v1/tenants/{tenant_id}/connections",
    tag = "connections",
    params(TenantPath),
    request_body(content = CreateConnection, example = examples::create_connection),
    responses(
        (status = 201, description = "The new connection", body = ConnectionView, example = examples::connection),
        WriteProblems,
        Duplicate,
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
    /// Only this provider's connections (a malformed slug is a 422 `invalid_slug`).
    #[param(value_type = Option<Slug>)]
    provider: Option<String>,
    /// Only connections with this status.
    status: Option<ConnectionStatus>,
    /// Only connections with this health.
    health: Option<HealthStatus>,
    /// The `next_cursor` of the previous page; the first page when absent.
    cursor: Option<String>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200, example = 50)]
    limit: Option<u64>,
}

/// List a tenant's connections.
///
/// Any key of the tenant, or an operator. Oldest first, filtered by provider, status
/// and health, paged like every list. Each connection shows its credential's kind and
/// masks, never a secret; listing never decrypts anything.
#[utoipa::path(
    operation_id = "list_connections",
    get,
    path = "/v1/tenants/{tenant_id}/connections",
    tag = "connections",
    params(TenantPath, ListQuery),
    responses(
        (status = 200, description = "A page of connections", body = Page<ConnectionView>, example = examples::connections),
        ReadProblems,
        Invalid,
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

/// Get a connection.
///
/// Any key of the tenant, or an operator: status, health, default, scopes, expiry, last
/// error and the credential's masks.
#[utoipa::path(
    operation_id = "get_connection",
    get,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, description = "The connection", body = ConnectionView, example = examples::connection),
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

/// `PATCH …/connections/{connection_id}` body: only the fields given change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DisplayName>)]
    display_name: Option<Option<String>>,
    /// Replaces the metadata object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(value_type = Option<SettableStatus>)]
    status: Option<ConnectionStatus>,
}

/// Update a connection.
///
/// The tenant's admins, or an operator: display name, metadata and status. `revoked`
/// is reached only by disconnecting, and left only by replacing the credential; a
/// connection without a credential cannot be `active`. A status change records
/// `status_changed`.
#[utoipa::path(
    operation_id = "update_connection",
    patch,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    tag = "connections",
    params(ConnectionPath),
    request_body(content = UpdateConnection, example = examples::update_connection),
    responses(
        (status = 200, description = "The connection as updated", body = ConnectionView, example = examples::connection),
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

/// Make a connection its provider's default.
///
/// The tenant's admins, or an operator. Exactly one default per tenant and provider,
/// even under concurrent calls; records `default_changed` when it changes. A revoked
/// connection cannot be the default (422).
#[utoipa::path(
    operation_id = "make_default",
    post,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/default",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, description = "The connection, now the default", body = ConnectionView, example = examples::connection),
        ReadProblems,
        Invalid,
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

/// Disconnect a connection.
///
/// The tenant's admins, or an operator. The credential is destroyed and the status
/// becomes `revoked`; the row and its history stay. Records `disconnected`. A
/// connection already disconnected is a 422. For a repository connection whose webhook
/// connvault knows, the webhook is then deleted at the Git service with the token read
/// before it was destroyed, best effort, recorded as `webhook_removed` either way.
#[utoipa::path(
    operation_id = "disconnect_connection",
    post,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/disconnect",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, description = "The connection, revoked; `promoted_default_id` names the connection made the provider's default in its place, if any", body = DisconnectedView, headers(
            ("promoted-default-id" = Uuid, description = "The connection made the provider's default in place of this one, if any")
        ), example = examples::disconnected),
        ReadProblems,
        Invalid,
    ),
    security(("api_key" = []))
)]
pub async fn disconnect(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
) -> ApiResult<(HeaderMap, Json<DisconnectedView>)> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let removed = crate::services::repositories::disconnect(
        &state.db,
        &state.keyring,
        &state.git_http,
        tenant,
        &actor,
        id,
    )
    .await?;
    let promoted = removed.promoted.map(|c| c.id);
    let view = DisconnectedView {
        connection: ConnectionView::new(removed.conn, None),
        promoted_default_id: promoted,
    };
    Ok((promoted_header(promoted), Json(view)))
}

/// A disconnected connection, and the one made its provider's default in its place.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DisconnectedView {
    #[serde(flatten)]
    connection: ConnectionView,
    /// Set when this was the default and another active connection took its place.
    promoted_default_id: Option<Uuid>,
}

/// `promoted-default-id`, when a default was promoted.
fn promoted_header(promoted: Option<Uuid>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(id) = promoted
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        headers.insert(PROMOTED_DEFAULT, value);
    }
    headers
}

const PROMOTED_DEFAULT: HeaderName = HeaderName::from_static("promoted-default-id");

/// Delete a connection.
///
/// The tenant's admins, or an operator. The connection and its credential are gone;
/// the activity log keeps its entries and records `deleted`.
#[utoipa::path(
    operation_id = "delete_connection",
    delete,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 204, description = "Deleted", headers(
            ("promoted-default-id" = Uuid, description = "The connection made the provider's default in place of this one, if any")
        )),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
) -> ApiResult<(StatusCode, HeaderMap)> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let removed = crate::services::repositories::delete(
        &state.db,
        &state.keyring,
        &state.git_http,
        tenant,
        &actor,
        id,
    )
    .await?;
    Ok((
        StatusCode::NO_CONTENT,
        promoted_header(removed.promoted.map(|c| c.id)),
    ))
}
