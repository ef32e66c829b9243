//! `/v1/event-endpoints`: the deployment's event endpoints, which receive every
//! tenant's events. Operators only.

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
use crate::http::auth::Principal;
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::paging::PageQuery;
use crate::http::problems::{BodyProblems, Malformed, OperatorOnly, UnknownResource};
use crate::http::views::{NoStore, Page};
use crate::repositories::events::Owner;

/// Register a deployment-wide event endpoint.
///
/// Operators only. The endpoint receives every tenant's events of
/// the listed types (all when none are listed), each POSTed as JSON and signed by the
/// Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
/// The answer shows the signing secret (`whsec_…`) this once; it is stored encrypted.
/// A URL the rules refuse (not https in production, user info, an address inside the
/// network) is a 422 naming the reason.
#[utoipa::path(
    operation_id = "create_deployment_event_endpoint",
    post,
    path = "/v1/event-endpoints",
    tag = "events",
    request_body(content = CreateEventEndpoint, example = examples::create_example),
    responses(
        (status = 201, description = "The endpoint, with its signing secret shown once", body = EventEndpointSecretView, example = examples::deployment_secret_example),
        OperatorOnly,
        Malformed,
        UnknownResource,
        BodyProblems,
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateEventEndpoint>,
) -> ApiResult<NoStore<(StatusCode, Json<EventEndpointSecretView>)>> {
    principal.require_operator()?;
    super::create(&state, Owner::Deployment, body).await
}

/// List the deployment-wide event endpoints.
///
/// Operators only. Oldest first, paged like every list. Never
/// shows a secret.
#[utoipa::path(
    operation_id = "list_deployment_event_endpoints",
    get,
    path = "/v1/event-endpoints",
    tag = "events",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of event endpoints", body = Page<EventEndpointView>, example = examples::deployment_endpoints_example),
        OperatorOnly,
        Malformed,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<EventEndpointView>>> {
    principal.require_operator()?;
    super::list(&state, Owner::Deployment, query).await
}

/// Get a deployment-wide event endpoint.
///
/// Operators only. Never shows the secret.
#[utoipa::path(
    operation_id = "get_deployment_event_endpoint",
    get,
    path = "/v1/event-endpoints/{endpoint_id}",
    tag = "events",
    params(EndpointPath),
    responses(
        (status = 200, description = "The endpoint", body = EventEndpointView, example = examples::deployment_endpoint_example),
        OperatorOnly,
        Malformed,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<EventEndpointView>> {
    principal.require_operator()?;
    super::get(&state, Owner::Deployment, id).await
}

/// Change a deployment-wide event endpoint.
///
/// Operators only. Changes the URL (the rules apply again), the
/// description (an empty string removes it), the event types or whether it is
/// enabled; enabling an endpoint the worker disabled clears its failure streak.
#[utoipa::path(
    operation_id = "update_deployment_event_endpoint",
    patch,
    path = "/v1/event-endpoints/{endpoint_id}",
    tag = "events",
    params(EndpointPath),
    request_body(content = UpdateEventEndpoint, example = examples::update_example),
    responses(
        (status = 200, description = "The endpoint as changed", body = EventEndpointView, example = examples::deployment_endpoint_example),
        OperatorOnly,
        Malformed,
        UnknownResource,
        BodyProblems,
    ),
    security(("api_key" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateEventEndpoint>,
) -> ApiResult<Json<EventEndpointView>> {
    principal.require_operator()?;
    super::update(&state, Owner::Deployment, id, body).await
}

/// Delete a deployment-wide event endpoint.
///
/// Operators only. Its deliveries go with it; events already written stay for the
/// other endpoints.
#[utoipa::path(
    operation_id = "delete_deployment_event_endpoint",
    delete,
    path = "/v1/event-endpoints/{endpoint_id}",
    tag = "events",
    params(EndpointPath),
    responses(
        (status = 204, description = "Deleted"),
        OperatorOnly,
        Malformed,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    principal.require_operator()?;
    super::delete(&state, Owner::Deployment, id).await
}

/// Rotate a deployment-wide endpoint's signing secret.
///
/// Operators only. A new secret signs from now on, shown this
/// once; for 24 hours the previous one signs too (two `v1,` signatures in
/// `webhook-signature`), so receivers can switch without losing a delivery.
#[utoipa::path(
    operation_id = "rotate_deployment_event_endpoint_secret",
    post,
    path = "/v1/event-endpoints/{endpoint_id}/rotate-secret",
    tag = "events",
    params(EndpointPath),
    responses(
        (status = 200, description = "The endpoint, with its new secret shown once", body = EventEndpointSecretView, example = examples::deployment_secret_example),
        OperatorOnly,
        Malformed,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<NoStore<Json<EventEndpointSecretView>>> {
    principal.require_operator()?;
    super::rotate(&state, Owner::Deployment, id).await
}

/// List a deployment-wide endpoint's deliveries.
///
/// Operators only. Newest first, paged like every list: each
/// event sent to this endpoint, its status, the next attempt when pending, and every
/// attempt (status code, latency, error class).
#[utoipa::path(
    operation_id = "list_deployment_event_deliveries",
    get,
    path = "/v1/event-endpoints/{endpoint_id}/deliveries",
    tag = "events",
    params(EndpointPath, PageQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<EventDeliveryView>, example = examples::deliveries_example),
        OperatorOnly,
        Malformed,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<EventDeliveryView>>> {
    principal.require_operator()?;
    super::deliveries(&state, Owner::Deployment, id, query).await
}

/// Send a delivery to a deployment-wide endpoint again.
///
/// Operators only. The delivery becomes due now, whatever its
/// status; the worker sends it on its next pass, with the same `webhook-id`. The
/// answer is the delivery as queued (its attempts are in the deliveries list).
#[utoipa::path(
    operation_id = "retry_deployment_event_delivery",
    post,
    path = "/v1/event-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
    tag = "events",
    params(EndpointPath, DeliveryPath),
    responses(
        (status = 202, description = "The delivery, due now", body = EventDeliveryView, example = examples::delivery_example),
        OperatorOnly,
        Malformed,
        UnknownResource,
    ),
    security(("api_key" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, delivery)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<EventDeliveryView>)> {
    principal.require_operator()?;
    super::retry(&state, Owner::Deployment, id, delivery).await
}
