//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database
//! answers too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::examples;

/// Liveness.
///
/// No key. The process answers; nothing else is checked.
#[utoipa::path(
    operation_id = "healthz",
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The process is alive", body = Object, example = examples::healthz),
    )
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness.
///
/// No key. Ready when the database answers too; a load balancer sends traffic only
/// to a ready instance.
#[utoipa::path(
    operation_id = "readyz",
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Object, example = examples::ready),
        (status = 503, description = "The database does not answer", body = Object, example = json!({ "status": "unavailable", "database": "unreachable" })),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": "ok" })),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
        }
    }
}
