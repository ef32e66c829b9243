//! `/v1/tenants/{tenant_id}/event-endpoints`: a tenant's event endpoints. Its admins and
//! operators write; any key of the tenant reads (never a secret).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use super::views::{
    self as examples, CreateEventEndpoint, EventDeliveryView, EventEndpointSecretView,
    EventEndpointView, UpdateEventEndpoint,
};
use super::{DeliveryPath, EndpointPath};
use crate::http::AppState;
use crate::http::auth::{Need, Principal};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::paging::PageQuery;
use crate::http::paths::TenantPath;
use crate::http::problems::{ReadProblems, WriteProblems};
use crate::http::views::{NoStore, Page};
use crate::models::TenantId;
use crate::repositories::events::Owner;

/// Register an event endpoint of a tenant.
///
/// The tenant's admins, or an operator. The endpoint receives the tenant's events of
/// the listed types (all when none are listed), each POSTed as JSON and signed by the
/// Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
/// The answer shows the signing secret (`whsec_…`) this once; it is stored encrypted.
/// A URL the rules refuse (not https in production, user info, an address inside the
/// network) is a 422 naming the reason.
#[utoipa::path(
    operation_id = "create_event_endpoint",
    post,
    path = "/v1/tenants/{tenant_id}/event-endpoints",
    tag = "events",
    params(TenantPath),
    request_body(content = CreateEventEndpoint, example = examples::create_example),
    responses(
        (status = 201, description = "The endpoint, with its signing secret shown once", body = EventEndpointSecretView, example = examples::tenant_secret_example),
        WriteProblems,
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiJson(body): ApiJson<CreateEventEndpoint>,
) -> ApiResult<NoStore<(StatusCode, Json<EventEndpointSecretView>)>> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    super::create(&state, Owner::Tenant(tenant), body).await
}

/// List a tenant's event endpoints.
///
/// Any key of the tenant, or an operator. Oldest first, paged like every list. Never
/// shows a secret.
#[utoipa::path(
    operation_id = "list_event_endpoints",
    get,
    path = "/v1/tenants/{tenant_id}/event-endpoints",
    tag = "events",
    params(TenantPath, PageQuery),
    responses(
        (status = 200, description = "A page of event endpoints", body = Page<EventEndpointView>, example = examples::tenant_endpoints_example),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<EventEndpointView>>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    super::list(&state, Owner::Tenant(tenant), query).await
}

/// Get a tenant's event endpoint.
///
/// Any key of the tenant, or an operator. Never shows the secret.
#[utoipa::path(
    operation_id = "get_event_endpoint",
    get,
    path = "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}",
    tag = "events",
    params(TenantPath, EndpointPath),
    responses(
        (status = 200, description = "The endpoint", body = EventEndpointView, example = examples::tenant_endpoint_example),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, Uuid)>,
) -> ApiResult<Json<EventEndpointView>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    super::get(&state, Owner::Tenant(tenant), id).await
}

/// Change a tenant's event endpoint.
///
/// The tenant's admins, or an operator. Changes the URL (the rules apply again), the
/// description (an empty string removes it), the event types or whether it is
/// enabled; enabling an endpoint the worker disabled clears its failure streak.
#[utoipa::path(
    operation_id = "update_event_endpoint",
    patch,
    path = "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}",
    tag = "events",
    params(TenantPath, EndpointPath),
    request_body(content = UpdateEventEndpoint, example = examples::update_example),
    responses(
        (status = 200, description = "The endpoint as changed", body = EventEndpointView, example = examples::tenant_endpoint_example),
        WriteProblems,
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, Uuid)>,
    ApiJson(body): ApiJson<UpdateEventEndpoint>,
) -> ApiResult<Json<EventEndpointView>> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    super::update(&state, Owner::Tenant(tenant), id, body).await
}

/// Delete a tenant's event endpoint.
///
/// The tenant's admins, or an operator. Its deliveries go with it; events already
/// written stay for the tenant's other endpoints.
#[utoipa::path(
    operation_id = "delete_event_endpoint",
    delete,
    path = "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}",
    tag = "events",
    params(TenantPath, EndpointPath),
    responses(
        (status = 204, description = "Deleted"),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, Uuid)>,
) -> ApiResult<StatusCode> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    super::delete(&state, Owner::Tenant(tenant), id).await
}

/// Rotate a tenant's endpoint signing secret.
///
/// The tenant's admins, or an operator. A new secret signs from now on, shown this
/// once; for 24 hours the previous one signs too (two `v1,` signatures in
/// `webhook-signature`), so receivers can switch without losing a delivery.
#[utoipa::path(
    operation_id = "rotate_event_endpoint_secret",
    post,
    path = "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}/rotate-secret",
    tag = "events",
    params(TenantPath, EndpointPath),
    responses(
        (status = 200, description = "The endpoint, with its new secret shown once", body = EventEndpointSecretView, example = examples::tenant_secret_example),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, Uuid)>,
) -> ApiResult<NoStore<Json<EventEndpointSecretView>>> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    super::rotate(&state, Owner::Tenant(tenant), id).await
}

/// List an endpoint's deliveries.
///
/// Any key of the tenant, or an operator. Newest first, paged like every list: each
/// event sent to this endpoint, its status, the next attempt when pending, and every
/// attempt (status code, latency, error class).
#[utoipa::path(
    operation_id = "list_event_deliveries",
    get,
    path = "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}/deliveries",
    tag = "events",
    params(TenantPath, EndpointPath, PageQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<EventDeliveryView>, example = examples::deliveries_example),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, Uuid)>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<EventDeliveryView>>> {
    principal.authorize(&state, tenant, Need::Read).await?;
    super::deliveries(&state, Owner::Tenant(tenant), id, query).await
}

/// Send a delivery again.
///
/// The tenant's admins, or an operator. The delivery becomes due now, whatever its
/// status; the worker sends it on its next pass, with the same `webhook-id`. The
/// answer is the delivery as queued (its attempts are in the deliveries list).
#[utoipa::path(
    operation_id = "retry_event_delivery",
    post,
    path = "/v1/tenants/{tenant_id}/event-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
    tag = "events",
    params(TenantPath, EndpointPath, DeliveryPath),
    responses(
        (status = 202, description = "The delivery, due now", body = EventDeliveryView, example = examples::delivery_example),
        ReadProblems,
    ),
    security(("api_key" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id, delivery)): ApiPath<(TenantId, Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<EventDeliveryView>)> {
    principal.authorize(&state, tenant, Need::Admin).await?;
    super::retry(&state, Owner::Tenant(tenant), id, delivery).await
}
