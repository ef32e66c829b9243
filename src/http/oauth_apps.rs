//! Each provider's OAuth app over HTTP, set by operators: client id, encrypted client
//! secret (shown only as a mask), allowed return URLs, and the redirect URI to register.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::examples;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging::PageQuery;
use super::problems::{BodyProblems, Malformed, OperatorOnly, UnknownResource};
use super::schemas::{ReturnUrls, Slug};
use super::views::Page;
use crate::models::ProviderSlug;
use crate::repositories::oauth_apps::{self, OAuthAppInput, OAuthAppSummary};
use crate::services::connect;

/// `PUT /v1/oauth-apps/{provider}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOAuthApp {
    /// 1 to 512 characters without control characters.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$",
        example = "Iv1.8a61f9b3a7aba766"
    )]
    client_id: String,
    /// Required when the app is new; left out, the stored secret is kept. 1 to 4096
    /// bytes without control characters; stored encrypted, shown only as a mask.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4096, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    client_secret: Option<SecretString>,
    #[serde(default)]
    #[schema(value_type = ReturnUrls)]
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

/// Set a provider's OAuth app.
///
/// Operators only. The deployment's client id and secret for an OAuth 2.0 provider of
/// the catalog, and the return URLs connect sessions may use. The secret is encrypted
/// and never shown again (only a mask); left out on an update, the stored one is kept.
/// Register the response's `redirect_uri` with the provider.
#[utoipa::path(
    operation_id = "set_oauth_app",
    put,
    path = "/v1/oauth-apps/{provider}",
    tag = "oauth",
    params(("provider" = Slug, Path, description = "Provider slug", example = "github")),
    request_body(content = SetOAuthApp, example = examples::set_oauth_app),
    responses(
        (status = 200, description = "The app as stored", body = OAuthAppView, example = oauth_app_example),
        OperatorOnly,
        Malformed,
        BodyProblems,
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

/// List OAuth apps.
///
/// Operators only. In provider order, paged like every list; each with its client id,
/// secret mask, return URLs and redirect URI.
#[utoipa::path(
    operation_id = "list_oauth_apps",
    get,
    path = "/v1/oauth-apps",
    tag = "oauth",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of OAuth apps", body = Page<OAuthAppView>, example = oauth_apps_example),
        OperatorOnly,
        Malformed,
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

/// Get a provider's OAuth app.
///
/// Operators only. A provider without an app is a 404.
#[utoipa::path(
    operation_id = "get_oauth_app",
    get,
    path = "/v1/oauth-apps/{provider}",
    tag = "oauth",
    params(("provider" = String, Path, description = "Provider slug", example = "github")),
    responses(
        (status = 200, description = "The app", body = OAuthAppView, example = oauth_app_example),
        OperatorOnly,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn get_app(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(provider): ApiPath<String>,
) -> ApiResult<Json<OAuthAppView>> {
    principal.require_operator()?;
    let provider = ProviderSlug::parse(&provider).map_err(|_| ApiError::not_found("OAuth app"))?;
    let app = oauth_apps::get(&state.db, provider.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("OAuth app"))?;
    Ok(Json(app_view(&state, app.into())))
}

/// Delete a provider's OAuth app.
///
/// Operators only. New connect sessions for the provider fail with
/// `oauth_app_missing`; connections already made keep their tokens but cannot renew
/// them. A provider without an app is a 404.
#[utoipa::path(
    operation_id = "delete_oauth_app",
    delete,
    path = "/v1/oauth-apps/{provider}",
    tag = "oauth",
    params(("provider" = String, Path, description = "Provider slug", example = "github")),
    responses(
        (status = 204, description = "Deleted"),
        OperatorOnly,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn delete_app(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(provider): ApiPath<String>,
) -> ApiResult<StatusCode> {
    principal.require_operator()?;
    let provider = ProviderSlug::parse(&provider).map_err(|_| ApiError::not_found("OAuth app"))?;
    oauth_apps::delete(&state.db, provider.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn oauth_app_view() -> OAuthAppView {
    let at = chrono::DateTime::parse_from_rfc3339("2025-12-01T08:30:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    OAuthAppView {
        app: OAuthAppSummary {
            provider: "github".into(),
            client_id: "Iv1.8a61f9b3a7aba766".into(),
            client_secret_mask: "****7e5b".into(),
            allowed_return_urls: vec!["https://app.example.com/connected".into()],
            created_at: at,
            updated_at: at,
        },
        redirect_uri: "https://connvault.example.com/oauth/callback/github".into(),
    }
}

fn oauth_app_example() -> serde_json::Value {
    serde_json::to_value(oauth_app_view()).unwrap_or_default()
}

fn oauth_apps_example() -> serde_json::Value {
    serde_json::to_value(Page {
        items: vec![oauth_app_view()],
        next_cursor: None,
    })
    .unwrap_or_default()
}
