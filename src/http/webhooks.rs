//! `POST /webhooks/{connection_id}`: a Git service's delivery. No API key: the
//! signature is the authentication. The body is read raw up to
//! `CONNVAULT_WEBHOOK_MAX_BYTES` and verified before anything is parsed or stored.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::problems::WebhookProblems;
use super::repository_views::{self as examples, DeliveryView};
use crate::models::ConnectionId;
use crate::services::inbound::{self, Receipt};

/// The one answer to every delivery that is not verified, whether its connection
/// exists or not, so that ids cannot be probed.
pub fn refused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "webhook_unauthorized",
        "the delivery could not be verified",
    )
}

/// Receive a Git service's webhook delivery.
///
/// No API key: the delivery's signature is its authentication. GitHub:
/// `X-Hub-Signature-256` (delivery `X-GitHub-Delivery`, event `X-GitHub-Event`);
/// GitLab: `X-Gitlab-Token`, or a signing token by the Standard Webhooks scheme
/// (`webhook-id`, `webhook-timestamp` within 5 minutes, `webhook-signature`), delivery
/// `Idempotency-Key` or `webhook-id`, event `X-Gitlab-Event`; Bitbucket Cloud:
/// `X-Hub-Signature` (delivery `X-Request-UUID`, event `X-Event-Key`). The raw body
/// (at most `CONNVAULT_WEBHOOK_MAX_BYTES`, else 413) is verified before anything is
/// parsed or stored. An unknown, inactive or non-repository connection and a missing
/// or wrong signature get the same 401 `webhook_unauthorized`; a disconnected
/// connection 410 `connection_disconnected`. A delivery id seen before answers
/// `{"duplicate": true}` and stores nothing. Repeated failures degrade the
/// connection's health (`webhook_signature_invalid`).
#[utoipa::path(
    operation_id = "receive_webhook",
    post,
    path = "/webhooks/{connection_id}",
    tag = "repositories",
    params(("connection_id" = Uuid, Path, description = "The repository connection's id, as in its `webhook_url`")),
    request_body(content = Object, description = "The service's JSON payload, exactly as signed", example = examples::github_push_example),
    responses(
        (status = 200, description = "Verified: stored (`event_id`), or a duplicate that stored nothing (`{\"duplicate\": true}`)", body = DeliveryView, example = examples::delivery_example),
        WebhookProblems,
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<DeliveryView>> {
    let body = axum::body::to_bytes(body, state.inbound.max_bytes)
        .await
        .map_err(|_| {
            state.metrics.count_webhook_delivery("too_large");
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the delivery is larger than the limit",
            )
        })?;
    let Ok(id) = raw_id.parse::<Uuid>() else {
        state
            .metrics
            .count_webhook_delivery("refused_no_active_repository_connection");
        return Err(refused());
    };
    let receipt = inbound::receive(
        &state.db,
        &state.keyring,
        &state.inbound,
        ConnectionId::from_uuid(id),
        &headers,
        &body,
        chrono::Utc::now(),
    )
    .await?;
    state.metrics.count_webhook_delivery(match &receipt {
        Receipt::Stored(_) => "stored",
        Receipt::Duplicate => "duplicate",
        Receipt::Refused(Some(reason)) => reason.metric_label(),
        Receipt::Refused(None) => "refused_no_active_repository_connection",
        Receipt::Gone => "gone",
        Receipt::NotJson => "not_json",
    });
    match receipt {
        Receipt::Stored(event) => Ok(Json(DeliveryView {
            duplicate: false,
            event_id: Some(event),
        })),
        Receipt::Duplicate => Ok(Json(DeliveryView {
            duplicate: true,
            event_id: None,
        })),
        Receipt::Refused(reason) => {
            tracing::info!(
                connection = %id,
                reason = reason.map(|r| r.reason_code()).unwrap_or("no_active_repository_connection"),
                "webhook delivery refused"
            );
            Err(refused())
        }
        Receipt::Gone => Err(ApiError::new(
            StatusCode::GONE,
            "connection_disconnected",
            "the repository connection was disconnected",
        )),
        Receipt::NotJson => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_webhook_payload",
            "the verified delivery is not a JSON document",
        )),
    }
}
