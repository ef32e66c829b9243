//! A connection's credential over HTTP: replace it (admins), and read it decrypted
//! (the tenant's service keys; the one response that carries secrets).

use axum::extract::State;
use axum::{Extension, Json};
use tower_http::request_id::RequestId;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::examples;
use super::extract::{ApiJson, ApiPath};
use super::paths::ConnectionPath;
use super::problems::{CredentialUnavailable, ReadProblems, WriteProblems};
use super::views::{ConnectionView, CredentialSecretView, NoStore};
use crate::audit;
use crate::models::{ConnectionId, TenantId};
use crate::services::connections as service;
use crate::services::credentials::Credential;

/// Replace a connection's credential.
///
/// The tenant's admins, or an operator. The new credential is encrypted before the
/// transaction that swaps it in; a pending or revoked connection becomes `active`.
/// Records `credentials_updated`. The response shows the new masks.
#[utoipa::path(
    operation_id = "replace_credentials",
    put,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/credentials",
    tag = "connections",
    params(ConnectionPath),
    request_body(content = Credential, example = examples::credential),
    responses(
        (status = 200, description = "The connection with its new credential's masks", body = ConnectionView, example = examples::connection),
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

/// Read a connection's decrypted credential.
///
/// The tenant's service keys only: the one response that carries secrets. Two indexed
/// reads (the API key, then the credential rows with their connection) and no write,
/// unless the token expires within the refresh margin: then it is renewed first
/// (once, whoever else asks at the same time). A connection that needs
/// re-authorization answers 409 `connection_needs_reauth` with its `reason_code`, one
/// that cannot be used otherwise (pending, revoked, …) 409 `connection_unusable`; a
/// renewal the provider could not serve while the token has expired answers 503
/// `provider_unavailable` with `Retry-After`.
#[utoipa::path(
    operation_id = "read_credentials",
    get,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/credentials",
    tag = "credentials",
    params(ConnectionPath),
    responses(
        (status = 200, description = "The credential's fields, decrypted", body = CredentialSecretView, example = examples::credential_secret),
        ReadProblems,
        CredentialUnavailable,
    ),
    security(("api_key" = []))
)]
pub async fn read_credentials(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
    request_id: Option<Extension<RequestId>>,
) -> ApiResult<NoStore<Json<CredentialSecretView>>> {
    let outcome = read_credential(&state, &principal, tenant, id).await;
    // Every read, answered or refused, leaves an audit line and a count per key; no
    // row is written.
    let result = match &outcome {
        Ok(_) => "ok",
        Err(err) => err.code,
    };
    let request_id = request_id
        .as_ref()
        .and_then(|Extension(r)| r.header_value().to_str().ok());
    audit::credential_read(request_id, principal.key_id, tenant, id, result);
    state
        .metrics
        .count_credential_read(principal.key_id, result);
    outcome.map(|view| NoStore(Json(view)))
}

async fn read_credential(
    state: &AppState,
    principal: &Principal,
    tenant: TenantId,
    id: ConnectionId,
) -> ApiResult<CredentialSecretView> {
    principal
        .authorize(state, tenant, Need::Credentials)
        .await?;
    let read = state
        .refresher
        .read(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("credential"))?;
    Ok(CredentialSecretView::new(id.as_uuid(), &read))
}
