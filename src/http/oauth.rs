//! OAuth over HTTP: operators set each provider's OAuth app; tenant admins create
//! connect sessions; end users open connect links (`GET /connect/{token}`) and come
//! back from the provider (`GET /oauth/callback/{provider}`). The last two need no API
//! key: the link token and the state are their credentials.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging::PageQuery;
use super::paths::TenantPath;
use super::problems::{OperatorOnly, RoleNotAllowed, Unauthenticated};
use super::views::{Page, Problem};
use crate::models::connect_session::{self, SessionStatus};
use crate::models::{ProviderSlug, TenantId};
use crate::repositories::oauth_apps::{self, OAuthAppInput, OAuthAppSummary};
use crate::services::connect::{self, CallbackParams, NewSession};

/// `PUT /v1/oauth-apps/{provider}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOAuthApp {
    client_id: String,
    /// Required when the app is new; left out, the stored secret is kept.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    client_secret: Option<SecretString>,
    /// Exact URLs a connect session may send the end user back to.
    #[serde(default)]
    allowed_return_urls: Vec<String>,
}

/// An OAuth app as shown: never its secret, only a mask.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthAppView {
    #[serde(flatten)]
    app: OAuthAppSummary,
    /// The redirect URI to register with the provider.
    redirect_uri: String,
}

fn app_view(state: &AppState, app: OAuthAppSummary) -> OAuthAppView {
    OAuthAppView {
        redirect_uri: connect::redirect_uri(&state.public_url, &app.provider),
        app,
    }
}

#[utoipa::path(
    operation_id = "set_oauth_app",
    put,
    path = "/v1/oauth-apps/{provider}",
    tag = "oauth",
    params(("provider" = String, Path, description = "Provider slug")),
    request_body = SetOAuthApp,
    responses(
        (status = 200, body = OAuthAppView),
        OperatorOnly,
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn set_app(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(provider): ApiPath<String>,
    ApiJson(body): ApiJson<SetOAuthApp>,
) -> ApiResult<Json<OAuthAppView>> {
    principal.require_operator()?;
    let app = oauth_apps::set(
        &state.db,
        &state.keyring,
        OAuthAppInput {
            provider: ProviderSlug::parse(&provider)?,
            client_id: body.client_id,
            client_secret: body.client_secret,
            allowed_return_urls: body.allowed_return_urls,
        },
    )
    .await?;
    Ok(Json(app_view(&state, app)))
}

#[utoipa::path(
    operation_id = "list_oauth_apps",
    get,
    path = "/v1/oauth-apps",
    tag = "oauth",
    params(PageQuery),
    responses(
        (status = 200, body = Page<OAuthAppView>),
        OperatorOnly,
    ),
    security(("api_key" = []))
)]
pub async fn list_apps(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<OAuthAppView>>> {
    principal.require_operator()?;
    let page = oauth_apps::list_page(&state.db, query.page()?).await?;
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|a| app_view(&state, a))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(
    operation_id = "get_oauth_app",
    get,
    path = "/v1/oauth-apps/{provider}",
    tag = "oauth",
    params(("provider" = String, Path, description = "Provider slug")),
    responses(
        (status = 200, body = OAuthAppView),
        OperatorOnly,
        (status = 404, description = "No app for this provider", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_app(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(provider): ApiPath<String>,
) -> ApiResult<Json<OAuthAppView>> {
    principal.require_operator()?;
    let app = oauth_apps::get(&state.db, &provider)
        .await?
        .ok_or_else(|| ApiError::not_found("OAuth app"))?;
    Ok(Json(app_view(&state, app.into())))
}

#[utoipa::path(
    operation_id = "delete_oauth_app",
    delete,
    path = "/v1/oauth-apps/{provider}",
    tag = "oauth",
    params(("provider" = String, Path, description = "Provider slug")),
    responses(
        (status = 204, description = "Deleted"),
        OperatorOnly,
        (status = 404, description = "No app for this provider", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn delete_app(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(provider): ApiPath<String>,
) -> ApiResult<StatusCode> {
    principal.require_operator()?;
    oauth_apps::delete(&state.db, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/tenants/{tenant_id}/connect-sessions` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectSession {
    provider: String,
    /// Must be one of the provider's OAuth app's allowed return URLs.
    return_url: String,
    /// Defaults to the provider's default scopes.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    end_user_label: Option<String>,
    /// At most 1800; default 900.
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

/// A connect session as shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectSessionView {
    id: Uuid,
    tenant_id: Uuid,
    provider: String,
    return_url: String,
    scopes: Vec<String>,
    end_user_label: Option<String>,
    status: SessionStatus,
    connection_id: Option<Uuid>,
    error_code: Option<String>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl From<connect_session::Model> for ConnectSessionView {
    fn from(s: connect_session::Model) -> Self {
        Self {
            id: s.id,
            tenant_id: s.tenant_id,
            provider: s.provider_slug,
            return_url: s.return_url,
            scopes: s.scopes.0,
            end_user_label: s.end_user_label,
            status: s.status,
            connection_id: s.connection_id,
            error_code: s.error_code,
            expires_at: s.expires_at,
            created_at: s.created_at,
        }
    }
}

/// A new connect session: the token and link are shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedConnectSessionView {
    #[serde(flatten)]
    session: ConnectSessionView,
    /// Single-use; send the end user to `connect_url`.
    token: String,
    connect_url: String,
}

#[utoipa::path(
    operation_id = "create_connect_session",
    post,
    path = "/v1/tenants/{tenant_id}/connect-sessions",
    tag = "oauth",
    params(TenantPath),
    request_body = CreateConnectSession,
    responses(
        (status = 201, body = CreatedConnectSessionView),
        Unauthenticated,
        RoleNotAllowed,
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed (return_url not allowed, oauth_app_missing, …)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiJson(body): ApiJson<CreateConnectSession>,
) -> ApiResult<(StatusCode, Json<CreatedConnectSessionView>)> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let created = connect::create_session(
        &state.db,
        tenant,
        &actor,
        NewSession {
            provider: ProviderSlug::parse(&body.provider)?,
            return_url: body.return_url,
            scopes: body.scopes,
            end_user_label: body.end_user_label,
            ttl: body.expires_in_seconds.map(std::time::Duration::from_secs),
        },
    )
    .await?;
    let view = CreatedConnectSessionView {
        connect_url: connect::connect_url(&state.public_url, &created.token),
        token: created.token.expose_secret().to_owned(),
        session: created.session.into(),
    };
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(
    operation_id = "get_connect_session",
    get,
    path = "/v1/tenants/{tenant_id}/connect-sessions/{session_id}",
    tag = "oauth",
    params(TenantPath, ("session_id" = Uuid, Path, description = "Connect session id")),
    responses(
        (status = 200, body = ConnectSessionView),
        Unauthenticated,
        RoleNotAllowed,
        (status = 404, description = "Unknown session (or another tenant's)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, Uuid)>,
) -> ApiResult<Json<ConnectSessionView>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let session = connect::get_session(&state.db, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("connect session"))?;
    Ok(Json(session.into()))
}

/// `303 See Other` to where the end user goes next: the provider, or back to the app.
fn redirect(url: url::Url) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::try_from(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    // The URL may carry a code or state: keep it out of caches and referrers.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[utoipa::path(
    operation_id = "open_connect_link",
    get,
    path = "/connect/{token}",
    tag = "oauth",
    params(("token" = String, Path, description = "The connect session's token")),
    responses(
        (status = 303, description = "To the provider's consent page, or back to the app with an error"),
        (status = 404, description = "Unknown link", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn open_link(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Response> {
    let next = connect::start(&state.db, &state.keyring, &state.public_url, &token).await?;
    Ok(redirect(next))
}

#[utoipa::path(
    operation_id = "oauth_callback",
    get,
    path = "/oauth/callback/{provider}",
    tag = "oauth",
    params(("provider" = String, Path, description = "Provider slug")),
    responses(
        (status = 303, description = "Back to the app, with connection_id or error"),
        (status = 400, description = "The state names no connect session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    ApiPath(provider): ApiPath<String>,
    Query(params): Query<CallbackParams>,
) -> ApiResult<Response> {
    let next = connect::callback(
        &state.db,
        &state.keyring,
        state.refresher.tokens(),
        &state.public_url,
        &provider,
        params,
    )
    .await?;
    Ok(redirect(next))
}
