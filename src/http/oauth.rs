//! The OAuth connect flow over HTTP: tenant admins create connect sessions; end users
//! open connect links (the connect page, `crate::web`) and come back from the provider
//! (`GET /oauth/callback/{provider}`). The callback needs no API key: the state is its
//! credential. Each provider's OAuth app is in `oauth_apps.rs`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::{ApiError, ApiResult};
use super::examples;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paths::TenantPath;
use super::problems::{InvalidState, ReadProblems, WriteProblems};
use super::schemas::{HttpsUrl, Name, SessionScopes, Slug};
use super::views::NoStore;
use crate::error::Error;
use crate::models::connect_session::{self, SessionStatus};
use crate::models::{ProviderSlug, TenantId};
use crate::services::connect::{self, CallbackParams, NewSession};

/// `POST /v1/tenants/{tenant_id}/connect-sessions` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectSession {
    /// The provider the end user connects: an OAuth 2.0 provider with an OAuth app,
    /// or one connected with a form (API key, basic, client credentials). Give this or
    /// `allowed_providers`.
    #[serde(default)]
    #[schema(value_type = Option<Slug>)]
    provider: Option<String>,
    /// Several providers, in the order the connect page's picker lists them (1 to 20,
    /// no repeats); the end user picks one. Instead of `provider`; `scopes` cannot be
    /// given with more than one (each provider asks for its default scopes). An
    /// unknown provider is a 422 `unknown_provider`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Slug>>, min_items = 1, max_items = 20, example = json!(["github", "gitlab", "stripe"]))]
    allowed_providers: Option<Vec<String>>,
    /// Must be one of each OAuth provider's OAuth app's allowed return URLs.
    #[schema(value_type = HttpsUrl)]
    return_url: String,
    #[serde(default)]
    #[schema(value_type = SessionScopes)]
    scopes: Option<Vec<String>>,
    /// Shown as the new connection's display name.
    #[serde(default)]
    #[schema(value_type = Option<Name>)]
    end_user_label: Option<String>,
    /// How long the link works: 1 to 1800 seconds; 900 when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1800, example = 900)]
    expires_in_seconds: Option<u64>,
}

/// A connect session as shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectSessionView {
    id: Uuid,
    tenant_id: Uuid,
    /// The provider connected: the link's only one, or the one the end user picked
    /// (the first of `allowed_providers` until then).
    provider: String,
    /// The providers the link offers (one for a link without a picker).
    allowed_providers: Vec<String>,
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
            allowed_providers: s.providers(),
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

/// Create a connect session.
///
/// The tenant's admins, or an operator. Send the end user to the returned
/// `connect_url`: the connect page shows the provider (or, with `allowed_providers`, a
/// picker among them); connvault runs the authorization code flow with PKCE and a
/// single-use state, or tests the credential typed into the provider's form, stores
/// the connection encrypted, and sends the user back to `return_url` with
/// `connect_session_id` and `connection_id` (or `error`). The token and link are shown
/// only here. An unknown provider (`unknown_provider`), a `return_url` an OAuth
/// provider's app does not allow, or an OAuth provider without an app
/// (`oauth_app_missing`) is a 422, and nothing is stored.
#[utoipa::path(
    operation_id = "create_connect_session",
    post,
    path = "/v1/tenants/{tenant_id}/connect-sessions",
    tag = "oauth",
    params(TenantPath),
    request_body(content = CreateConnectSession, example = examples::create_connect_session),
    responses(
        (status = 201, description = "The session, with its single-use token and link", body = CreatedConnectSessionView, example = created_session_example),
        WriteProblems,
    ),
    security(("api_key" = []))
)]
pub async fn create_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiJson(body): ApiJson<CreateConnectSession>,
) -> ApiResult<NoStore<(StatusCode, Json<CreatedConnectSessionView>)>> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let created = connect::create_session(
        &state.db,
        tenant,
        &actor,
        NewSession {
            provider: body
                .provider
                .as_deref()
                .map(ProviderSlug::parse)
                .transpose()?,
            allowed_providers: body
                .allowed_providers
                .map(|list| list.iter().map(|p| ProviderSlug::parse(p)).collect())
                .transpose()?,
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
    Ok(NoStore((StatusCode::CREATED, Json(view))))
}

/// Get a connect session.
///
/// Any key of the tenant, or an operator: its status (`created`, `started`,
/// `exchanging`, `completed` or `failed`), the connection it made, or its error code.
/// Never its token.
#[utoipa::path(
    operation_id = "get_connect_session",
    get,
    path = "/v1/tenants/{tenant_id}/connect-sessions/{session_id}",
    tag = "oauth",
    params(TenantPath, ("session_id" = Uuid, Path, description = "Connect session id", example = "2c4e6a8b-0d1f-4b3d-9e5f-7a9c1e3b5d7f")),
    responses(
        (status = 200, description = "The session", body = ConnectSessionView, example = session_example),
        ReadProblems,
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

/// OAuth callback.
///
/// The provider's redirect, no key: the single-use state is the credential. Exchanges
/// the code, finds the external account, stores the connection with its encrypted
/// tokens, records `connected`, and sends the user back to the app with
/// `connect_session_id` and `connection_id`, or `error`. A replayed or unknown state is
/// a 400 `invalid_state`.
///
/// A browser (a request that accepts `text/html`) gets a page instead of the redirect:
/// the outcome in words (connected; or consent denied, the provider's error, an
/// expired or used link) and a button to the same app URL the redirect would name.
#[utoipa::path(
    operation_id = "oauth_callback",
    get,
    path = "/oauth/callback/{provider}",
    tag = "oauth",
    params(
        ("provider" = String, Path, description = "Provider slug", example = "github"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state sent to the provider"),
        ("error" = Option<String>, Query, description = "The provider's error, when the user did not consent"),
        ("error_description" = Option<String>, Query, description = "The provider's explanation of the error"),
        ("iss" = Option<String>, Query, description = "The issuer (RFC 9207), checked when the provider's metadata names one"),
    ),
    responses(
        (status = 303, description = "Back to the app, with connection_id or error", headers(("Location" = String, description = "The app's return URL"))),
        (status = 200, description = "To a browser (`Accept: text/html`): the outcome in words, with a link back to the app", body = String, content_type = "text/html", example = json!("<!DOCTYPE html><html lang=\"en\">…<h1>GitHub is connected</h1>…<a class=\"button\" id=\"return\" href=\"https://app.example.com/connected?connect_session_id=…&amp;connection_id=…&amp;status=connected\">Return to app.example.com</a>…</html>")),
        InvalidState,
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(params): ApiQuery<CallbackParams>,
) -> ApiResult<Response> {
    let page = crate::web::wants_page(&headers);
    let next = connect::callback(
        &state.db,
        &state.keyring,
        state.refresher.tokens(),
        &state.public_url,
        &provider,
        params,
    )
    .await;
    match next {
        Ok(next) if page => Ok(crate::web::oauth_result(&state, &provider, &next).await),
        Ok(next) => Ok(redirect(next)),
        Err(Error::InvalidState) if page => Ok(crate::web::oauth_unknown(&state)),
        Err(err) => Err(err.into()),
    }
}

fn session_view() -> ConnectSessionView {
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    ConnectSessionView {
        id: examples::SESSION,
        tenant_id: examples::TENANT,
        provider: "github".into(),
        allowed_providers: vec!["github".into()],
        return_url: "https://app.example.com/connected".into(),
        scopes: vec!["repo".into(), "read:org".into()],
        end_user_label: Some("Jane at Acme".into()),
        status: SessionStatus::Created,
        connection_id: None,
        error_code: None,
        expires_at: at("2025-12-01T09:45:00Z"),
        created_at: at("2025-12-01T09:30:00Z"),
    }
}

fn session_example() -> serde_json::Value {
    serde_json::to_value(session_view()).unwrap_or_default()
}

fn created_session_example() -> serde_json::Value {
    let token = "cvc_EXAMPLE-link-token";
    serde_json::to_value(CreatedConnectSessionView {
        session: session_view(),
        token: token.into(),
        connect_url: format!("https://connvault.example.com/connect/{token}"),
    })
    .unwrap_or_default()
}
