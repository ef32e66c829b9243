//! `POST …/connections/{id}/test`: the provider's health check, sent now with the
//! connection's credential, and its result recorded on the connection.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AppState;
use super::auth::{Need, Principal};
use super::error::ApiResult;
use super::examples;
use super::extract::ApiPath;
use super::paths::ConnectionPath;
use super::problems::{NotTestable, ReadProblems};
use super::views::ConnectionView;
use crate::models::connection::HealthStatus;
use crate::models::{ConnectionId, TenantId};
use crate::services::credentials;
use crate::services::health::TestReport;

/// What a connection test found.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectionTestView {
    /// Whether the provider accepted the credential.
    pub healthy: bool,
    /// `healthy`, `degraded` (the provider failed: `provider_unavailable`,
    /// `provider_rate_limited`, `provider_timeout`, `provider_redirected`,
    /// `unexpected_response`) or `unhealthy` (`credential_rejected`).
    pub health_status: HealthStatus,
    /// Why it is not healthy.
    pub reason_code: Option<String>,
    /// What the provider said, sanitized: never a secret, at most 300 characters.
    pub message: Option<String>,
    /// The provider's HTTP status, when it answered.
    pub http_status: Option<u16>,
    pub checked_at: DateTime<Utc>,
    /// The connection as the test left it.
    pub connection: ConnectionView,
}

impl ConnectionTestView {
    fn new(report: TestReport, connection: ConnectionView) -> Self {
        Self {
            healthy: report.verdict.is_healthy(),
            health_status: report.verdict.health,
            reason_code: report.verdict.reason_code,
            message: report.verdict.message,
            http_status: report.verdict.http_status,
            checked_at: report.checked_at,
            connection,
        }
    }
}

/// Test a connection.
///
/// The tenant's admins and service keys, or an operator. Sends the provider's health
/// check (from the catalog) with the connection's credential, never following a
/// redirect, and records the result on the connection: `healthy`; `unhealthy` with
/// `credential_rejected` when the provider refuses the credential (the connection
/// becomes `needs_reauth` for OAuth, `error` for a static key); `degraded` when the
/// provider fails, limits or times out. Records `test_succeeded` or `test_failed`, and
/// `health_changed` when the health changed. A provider's failure is a result (200),
/// not an error. A connection that is disconnected or not yet connected, has no
/// credential, or whose provider has no health check is a 409
/// `connection_not_testable`.
#[utoipa::path(
    operation_id = "test_connection",
    post,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/test",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, description = "What the test found; recorded on the connection", body = ConnectionTestView, example = examples::connection_test),
        ReadProblems,
        NotTestable,
    ),
    security(("api_key" = []))
)]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(TenantId, ConnectionId)>,
) -> ApiResult<Json<ConnectionTestView>> {
    let actor = principal.authorize(&state, tenant, Need::Test).await?;
    let report = state.health.test_connection(tenant, id, &actor).await?;
    let summary = credentials::summary(&state.db, tenant, id).await?;
    let view = ConnectionView::new(report.connection.clone(), summary);
    Ok(Json(ConnectionTestView::new(report, view)))
}
