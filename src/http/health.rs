//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database
//! answers, is migrated as this binary expects, and holds the active data key).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::DATABASE_RETRY_AFTER_SECS;
use super::examples;
use crate::db;

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
/// No key. Ready when what serving needs holds: the database answers (within the
/// pool's acquire timeout), every migration this binary knows is applied, on
/// PostgreSQL the service's functions exist, and the database holds the active data
/// key, wrapped by this process's master key. Otherwise 503 `database_unavailable` with
/// `Retry-After`, the failed check and its reason. A load balancer sends traffic only
/// to a ready instance.
#[utoipa::path(
    operation_id = "readyz",
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Object, example = examples::ready),
        (status = 503, description = "Not ready: `code` `database_unavailable`, the failed check and its `reason`; with `Retry-After`", body = Object, example = examples::not_ready),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut checks = Map::new();
    let failure = match check(&state, &mut checks).await {
        Ok(()) => {
            let body = json!({ "status": "ready", "checks": checks });
            return (StatusCode::OK, Json(body)).into_response();
        }
        Err(failure) => failure,
    };
    tracing::warn!(check = failure.0, reason = %failure.1, "not ready");
    let body = json!({
        "status": "unavailable",
        "code": "database_unavailable",
        "failed": failure.0,
        "reason": failure.1,
        "checks": checks,
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(DATABASE_RETRY_AFTER_SECS),
    );
    response
}

/// Runs the checks in order and records each outcome; the first failure stops them
/// (the later ones read the same database) and is returned with its reason.
async fn check(
    state: &AppState,
    checks: &mut Map<String, Value>,
) -> Result<(), (&'static str, String)> {
    let mut record = |name: &'static str, outcome: Result<(), String>| match outcome {
        Ok(()) => {
            checks.insert(name.to_owned(), json!("ok"));
            Ok(())
        }
        Err(reason) => {
            checks.insert(name.to_owned(), json!("failed"));
            Err((name, db::readiness::one_line(&reason)))
        }
    };
    record(
        "database",
        state
            .db
            .ping()
            .await
            .map_err(|e| format!("the database does not answer: {e}")),
    )?;
    record("schema", db::readiness::schema(&state.db).await)?;
    record("keyring", state.keyring.check_active().await.map(|_| ()))
}
