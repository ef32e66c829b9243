//! A tenant's repository connections (upsert by canonical URL, list) and the webhook
//! events they received. Disconnecting is the connections' own `disconnect`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::paging::{self, PageQuery};
use super::paths::TenantPath;
use super::problems::{ReadProblems, WebhookRegistrationFailed, WriteProblems};
use super::repository_views::{
    self as examples, RepositoryView, UpsertedRepositoryView, WebhookEventView,
};
use super::schemas::DisplayName;
use super::views::{NoStore, Page};
use crate::models::{ConnectionId, ServiceType, TenantId};
use crate::repositories::webhook_events::EventFilter;
use crate::services::repositories::{self as service, RepositoryInput};

/// `PUT /v1/tenants/{tenant_id}/repositories` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertRepository {
    /// `https://host/owner/repo` (GitLab: `group/subgroup/project`), or the SSH forms
    /// `git@host:owner/repo.git` and `ssh://git@host/owner/repo.git`; stored in
    /// canonical https form, the key of the upsert.
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://github.com/octo-org/hello-world"
    )]
    repository_url: String,
    /// Must be the host's service when given; taken from the host otherwise.
    #[serde(default)]
    service_type: Option<ServiceType>,
    /// The token connvault uses at the service; stored encrypted, never shown.
    #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    access_token: SecretString,
    /// The secret the service signs deliveries with; stored encrypted, never shown.
    /// When absent, the connection keeps its own, or connvault generates one and shows
    /// it once in this answer.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    webhook_secret: Option<SecretString>,
    #[serde(default)]
    #[schema(value_type = Option<DisplayName>)]
    display_name: Option<String>,
    /// Create the webhook at the service with the access token.
    #[serde(default)]
    register_webhook: bool,
}

/// Connect a repository, or update its connection.
///
/// The tenant's admins, or an operator. An upsert keyed by the canonical repository
/// URL within the tenant: the first call creates a connection of provider github,
/// gitlab or bitbucket (201), later calls update its token, secret and display name and
/// make it active again (200). Uniqueness is per tenant, so no tenant learns that
/// another connected the same repository. A URL that is not a repository of a known
/// host, or a `service_type` that is not the host's, is a 422 naming the field. The
/// token and the secret are stored encrypted and never shown; a secret connvault
/// generates is shown once, in the answer that created it. With `register_webhook`
/// the webhook is created at the service first (its refusal is a 502
/// `webhook_registration_failed` and stores nothing). Records `repository_connected`
/// and `webhook_registered`.
#[utoipa::path(
    operation_id = "upsert_repository",
    put,
    path = "/v1/tenants/{tenant_id}/repositories",
    tag = "repositories",
    params(TenantPath),
    request_body(content = UpsertRepository, example = examples::upsert_repository_example),
    responses(
        (status = 200, description = "The repository connection, updated", body = UpsertedRepositoryView, example = examples::upserted_repository_example),
        (status = 201, description = "The repository connection, created; a generated webhook secret is shown once", body = UpsertedRepositoryView, example = examples::upserted_repository_example),
        WriteProblems,
        WebhookRegistrationFailed,
    ),
    security(("api_key" = []))
)]
pub async fn upsert(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiJson(body): ApiJson<UpsertRepository>,
) -> ApiResult<NoStore<(StatusCode, Json<UpsertedRepositoryView>)>> {
    let actor = principal.authorize(&state, tenant, Need::Admin).await?;
    let input = RepositoryInput {
        repository_url: body.repository_url,
        service_type: body.service_type,
        access_token: body.access_token,
        webhook_secret: body.webhook_secret,
        display_name: body.display_name,
        register_webhook: body.register_webhook,
    };
    let done = service::upsert(
        &state.db,
        &state.keyring,
        &state.git_http,
        &state.public_url,
        tenant,
        &actor,
        input,
    )
    .await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let view = UpsertedRepositoryView {
        repository: RepositoryView::new(done.repository, &state.public_url),
        created: done.created,
        webhook_secret: done
            .generated_secret
            .map(|s: SecretString| s.expose_secret().to_owned()),
    };
    Ok(NoStore((status, Json(view))))
}

/// List a tenant's repository connections.
///
/// Any key of the tenant, or an operator. Oldest first, paged like every list. Never
/// shows a token or a secret.
#[utoipa::path(
    operation_id = "list_repositories",
    get,
    path = "/v1/tenants/{tenant_id}/repositories",
    tag = "repositories",
    params(TenantPath, PageQuery),
    responses(
        (status = 200, description = "A page of repository connections", body = Page<RepositoryView>, example = examples::repositories_example),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<RepositoryView>>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let page = service::list(&state.db, tenant, query.page()?).await?;
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|r| RepositoryView::new(r, &state.public_url))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this connection's events.
    connection_id: Option<Uuid>,
    /// Only events of this type (`push`, `Push Hook`, `repo:push`, …).
    #[param(min_length = 1, max_length = 200)]
    event: Option<String>,
    /// The `next_cursor` of the previous page; the first page when absent.
    cursor: Option<String>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200, example = 50)]
    limit: Option<u64>,
}

/// List a tenant's webhook events.
///
/// Any key of the tenant, or an operator. Verified deliveries of the tenant's
/// repository connections, newest first, filtered by connection and event type, paged
/// like every list. Events are kept for `CONNVAULT_WEBHOOK_RETENTION_DAYS`.
#[utoipa::path(
    operation_id = "list_webhook_events",
    get,
    path = "/v1/tenants/{tenant_id}/webhook-events",
    tag = "repositories",
    params(TenantPath, EventQuery),
    responses(
        (status = 200, description = "A page of webhook events", body = Page<WebhookEventView>, example = examples::webhook_events_example),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn events(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> ApiResult<Json<Page<WebhookEventView>>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    let page = paging::page(query.cursor, query.limit)?;
    let filter = EventFilter {
        connection: query.connection_id.map(ConnectionId::from_uuid),
        event_type: query.event,
    };
    let page = crate::services::inbound::events(&state.db, tenant, &filter, page).await?;
    Ok(Json(Page::from_result(page)))
}
