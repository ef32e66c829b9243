//! Event endpoints over HTTP: a tenant's (`/v1/tenants/{tenant_id}/event-endpoints`,
//! its admins and operators) and the deployment's (`/v1/event-endpoints`, operators),
//! with their deliveries and manual retries. Handlers parse, authorize and call
//! `services::events::endpoints`.

pub mod deployment;
pub mod tenant;
pub mod views;

use axum::Json;
use axum::http::StatusCode;
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::AppState;
use super::error::ApiResult;
use super::paging::PageQuery;
use super::views::{NoStore, Page};
use crate::repositories::events::Owner;
use crate::services::events::endpoints::{self as service, EndpointChange, EndpointInput};
use views::{
    CreateEventEndpoint, EventDeliveryView, EventEndpointSecretView, EventEndpointView,
    UpdateEventEndpoint,
};

/// `{endpoint_id}` of the paths.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct EndpointPath {
    /// Event endpoint id
    endpoint_id: Uuid,
}

/// `{delivery_id}` of the paths.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct DeliveryPath {
    /// Delivery id
    delivery_id: Uuid,
}

type Created = NoStore<(StatusCode, Json<EventEndpointSecretView>)>;

fn with_secret(
    row: crate::models::event_endpoint::Model,
    secret: secrecy::SecretString,
) -> EventEndpointSecretView {
    EventEndpointSecretView {
        endpoint: row.into(),
        secret: secret.expose_secret().to_owned(),
    }
}

async fn create(state: &AppState, owner: Owner, body: CreateEventEndpoint) -> ApiResult<Created> {
    let input = EndpointInput {
        url: body.url,
        description: body.description.filter(|d| !d.is_empty()),
        event_types: body.event_types.into_iter().map(|t| t.as_str()).collect(),
        enabled: body.enabled,
    };
    let (row, secret) =
        service::create(&state.db, &state.keyring, &state.events, owner, input).await?;
    Ok(NoStore((
        StatusCode::CREATED,
        Json(with_secret(row, secret)),
    )))
}

async fn list(
    state: &AppState,
    owner: Owner,
    query: PageQuery,
) -> ApiResult<Json<Page<EventEndpointView>>> {
    let page = service::list(&state.db, owner, query.page()?).await?;
    Ok(Json(Page::from_result(page)))
}

async fn get(state: &AppState, owner: Owner, id: Uuid) -> ApiResult<Json<EventEndpointView>> {
    Ok(Json(service::get(&state.db, owner, id).await?.into()))
}

async fn update(
    state: &AppState,
    owner: Owner,
    id: Uuid,
    body: UpdateEventEndpoint,
) -> ApiResult<Json<EventEndpointView>> {
    let change = EndpointChange {
        url: body.url,
        description: body.description.map(|d| (!d.is_empty()).then_some(d)),
        event_types: body
            .event_types
            .map(|ts| ts.into_iter().map(|t| t.as_str()).collect()),
        enabled: body.enabled,
    };
    let row = service::update(&state.db, &state.events, owner, id, change).await?;
    Ok(Json(row.into()))
}

async fn delete(state: &AppState, owner: Owner, id: Uuid) -> ApiResult<StatusCode> {
    service::delete(&state.db, owner, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate(
    state: &AppState,
    owner: Owner,
    id: Uuid,
) -> ApiResult<NoStore<Json<EventEndpointSecretView>>> {
    let (row, secret) =
        service::rotate(&state.db, &state.keyring, &state.events, owner, id).await?;
    Ok(NoStore(Json(with_secret(row, secret))))
}

async fn deliveries(
    state: &AppState,
    owner: Owner,
    id: Uuid,
    query: PageQuery,
) -> ApiResult<Json<Page<EventDeliveryView>>> {
    let page = service::deliveries(&state.db, owner, id, query.page()?).await?;
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|(d, a)| EventDeliveryView::new(d, a))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn retry(
    state: &AppState,
    owner: Owner,
    endpoint: Uuid,
    delivery: Uuid,
) -> ApiResult<(StatusCode, Json<EventDeliveryView>)> {
    let row = service::retry(&state.db, owner, endpoint, delivery).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EventDeliveryView::new(row, Vec::new())),
    ))
}
