//! The provider catalog: any key reads it; operators upsert.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::examples;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging::PageQuery;
use super::problems::{BodyProblems, Malformed, ReadProblems, RoleNotAllowed, Unauthenticated};
use super::schemas::Slug;
use super::views::{Page, ProviderUpsertBody, ProviderView};
use crate::models::ProviderSlug;
use crate::repositories::providers::{self, ProviderUpsert};

/// List the provider catalog.
///
/// Any key. In slug order, paged like every list. The built-in catalog is seeded at
/// start-up (profiles `local` and `test`) and by `connvault seed`.
#[utoipa::path(
    operation_id = "list_providers",
    get,
    path = "/v1/providers",
    tag = "providers",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of providers", body = Page<ProviderView>, example = examples::providers),
        Unauthenticated,
        Malformed,
        RoleNotAllowed,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ProviderView>>> {
    let page = providers::list_page(&state.db, query.page()?).await?;
    Ok(Json(Page::from_result(page)))
}

/// Get a provider.
///
/// Any key. A slug that is not in the catalog, or not a slug at all, is a 404.
#[utoipa::path(
    operation_id = "get_provider",
    get,
    path = "/v1/providers/{slug}",
    tag = "providers",
    params(("slug" = Slug, Path, description = "Provider slug")),
    responses(
        (status = 200, description = "The provider", body = ProviderView, example = examples::provider),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<ProviderView>> {
    let slug = ProviderSlug::parse(&slug).map_err(|_| ApiError::not_found("provider"))?;
    let provider = providers::get_by_slug(&state.db, &slug)
        .await?
        .ok_or_else(|| ApiError::not_found("provider"))?;
    Ok(Json(provider.into()))
}

/// Create or replace a provider.
///
/// Operators only. The body is a catalog entry; its `slug`, if given, must match the
/// path. Every field is checked before anything is written: endpoints are https://
/// (http:// only on the loopback interface), OAuth 2.0 modes need `token_url`, the
/// authorization code mode needs `authorization_url`, and a health check is GET, HEAD
/// or POST. An unchanged entry is left as it is.
#[utoipa::path(
    operation_id = "upsert_provider",
    put,
    path = "/v1/providers/{slug}",
    tag = "providers",
    params(("slug" = Slug, Path, description = "Provider slug", example = "acme-crm")),
    request_body(content = ProviderUpsertBody, example = examples::upsert_provider),
    responses(
        (status = 200, description = "The provider as stored", body = ProviderView, example = examples::provider),
        BodyProblems,
        Unauthenticated,
        Malformed,
        RoleNotAllowed,
    ),
    security(("api_key" = []))
)]
pub async fn upsert(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(slug): ApiPath<String>,
    ApiJson(mut body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<ProviderView>> {
    principal.require_operator()?;
    let slug = ProviderSlug::parse(&slug)?;
    let object = body
        .as_object_mut()
        .ok_or_else(|| ApiError::validation("", "the body must be a JSON object"))?;
    match object.get("slug") {
        Some(given) if given.as_str() != Some(slug.as_str()) => {
            return Err(ApiError::validation(
                "slug",
                "the body's slug differs from the path",
            ));
        }
        _ => {
            object.insert("slug".into(), slug.as_str().into());
        }
    }
    let entry: ProviderUpsert = serde_json::from_value(body)
        .map_err(|e| super::extract::data_error_problem(&e.to_string()))?;
    let provider = providers::upsert(&state.db, entry).await?;
    Ok(Json(provider.into()))
}
