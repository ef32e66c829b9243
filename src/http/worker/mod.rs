//! The worker endpoints, for worker keys only: claim queued runs of every tenant, then,
//! presenting the claim token as `X-Claim-Token`, heartbeat, complete, and read the
//! credential of the run's connection while the claim holds.

pub mod views;

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::{Extension, Json};
use tower_http::request_id::RequestId;
use uuid::Uuid;

use super::AppState;
use super::auth::WorkerKey;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use super::problems::{BodyProblems, ClaimHeld, ClaimedCredential, Malformed, WorkerOnly};
use super::views::{CredentialSecretView, NoStore};
use crate::audit;
use crate::services::operations::{self as service, Completion};
use views::{ClaimBody, ClaimedRunView, ClaimedView, WorkerRunView};

/// The header a worker presents its claim token in.
pub const CLAIM_TOKEN_HEADER: &str = "x-claim-token";

/// The `X-Claim-Token` header; missing → 400 `claim_token_missing`.
pub struct ClaimToken(String);

impl<S: Send + Sync> FromRequestParts<S> for ClaimToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get(CLAIM_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|v| ClaimToken(v.trim().to_owned()))
            .filter(|t| !t.0.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "claim_token_missing",
                    "send the claim token of the run as X-Claim-Token",
                )
                .field("X-Claim-Token")
            })
    }
}

/// `/v1/operations/{run_id}/…`
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct RunPath {
    /// Operation run id
    run_id: Uuid,
}

/// `X-Claim-Token`
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct ClaimTokenHeader {
    /// The claim token the run was handed out with
    #[param(rename = "X-Claim-Token", example = "cvr_example-claim-token-0a1b2c3d")]
    x_claim_token: String,
}

/// Claim queued operation runs.
///
/// Worker keys only. Takes up to `limit` (default 1) queued runs of the named types
/// from every tenant, oldest first; two workers never get the same run. Each run
/// becomes `running` with the next attempt, a fresh heartbeat, and a claim token that
/// is in this answer only: present it as `X-Claim-Token` to heartbeat, complete and
/// read the run's credential. The run's gate is checked again first: a run whose
/// connection became unusable while it waited is finalized as `completed`/`blocked`
/// with its reason and next steps (listed in `blocked_run_ids`) instead. An empty
/// `runs` means nothing is queued.
#[utoipa::path(
    operation_id = "claim_operation_runs",
    post,
    path = "/v1/operations/claim",
    tag = "workers",
    request_body(content = ClaimBody, example = views::claim_body),
    responses(
        (status = 200, description = "The runs now held, each with its claim token (shown once)", body = ClaimedView, example = views::claimed),
        Malformed,
        BodyProblems,
        WorkerOnly,
    ),
    security(("api_key" = []))
)]
pub async fn claim(
    State(state): State<AppState>,
    WorkerKey(worker): WorkerKey,
    ApiJson(body): ApiJson<ClaimBody>,
) -> ApiResult<NoStore<Json<ClaimedView>>> {
    let limit = body.limit.unwrap_or(1);
    let claimed = service::claim(&state.db, &worker, &body.types, limit, &state.public_url).await?;
    Ok(NoStore(Json(ClaimedView {
        runs: claimed.runs.iter().map(ClaimedRunView::new).collect(),
        blocked_run_ids: claimed.blocked.iter().map(|r| r.id).collect(),
    })))
}

/// Heartbeat a claimed run.
///
/// Worker keys only, with the run's claim token as `X-Claim-Token`. Tells the service
/// the worker is still at work: a run whose heartbeat is older than its
/// `heartbeat_timeout_seconds` is taken back and queued again (or failed with
/// `worker_lost` after its last attempt), and its token stops working. A token that
/// does not hold the run (any more) is a 409 `claim_lost`: stop working on it.
#[utoipa::path(
    operation_id = "heartbeat_operation_run",
    post,
    path = "/v1/operations/{run_id}/heartbeat",
    tag = "workers",
    params(RunPath, ClaimTokenHeader),
    responses(
        (status = 200, description = "The run, with its new heartbeat", body = WorkerRunView, example = views::heartbeat),
        ClaimHeld,
    ),
    security(("api_key" = []))
)]
pub async fn heartbeat(
    State(state): State<AppState>,
    WorkerKey(worker): WorkerKey,
    ApiPath(run): ApiPath<Uuid>,
    ClaimToken(token): ClaimToken,
) -> ApiResult<Json<WorkerRunView>> {
    let run = service::heartbeat(&state.db, &worker, run, &token).await?;
    Ok(Json(run.into()))
}

/// Complete a claimed run.
///
/// Worker keys only, with the run's claim token as `X-Claim-Token`. `outcome` is
/// `succeeded`, `partially_succeeded` or `failed`; `summary_counts` names counts (at
/// most 50); `failure_summary` has a `reason_code` and a `message`, which is stored as
/// one line of at most 1000 characters with anything that looks like a credential
/// replaced by `[redacted]`. Records `operation_completed` in the tenant's activity
/// log. The token opens nothing afterwards: a second completion is a 409 `claim_lost`.
#[utoipa::path(
    operation_id = "complete_operation_run",
    post,
    path = "/v1/operations/{run_id}/complete",
    tag = "workers",
    params(RunPath, ClaimTokenHeader),
    request_body(content = Completion, example = views::complete_body),
    responses(
        (status = 200, description = "The completed run", body = WorkerRunView, example = views::completed),
        ClaimHeld,
        BodyProblems,
    ),
    security(("api_key" = []))
)]
pub async fn complete(
    State(state): State<AppState>,
    WorkerKey(worker): WorkerKey,
    ApiPath(run): ApiPath<Uuid>,
    ClaimToken(token): ClaimToken,
    ApiJson(body): ApiJson<Completion>,
) -> ApiResult<Json<WorkerRunView>> {
    let run = service::complete(&state.db, &worker, run, &token, &body).await?;
    Ok(Json(run.into()))
}

/// Read a claimed run's credential.
///
/// Worker keys only, with the run's claim token as `X-Claim-Token`, and only while
/// the run is running under that claim: the decrypted credential of the run's own
/// connection, as a tenant's service key reads it (renewed first when it expires
/// within the refresh margin). No standing access: once the run completes or is taken
/// back, the token reads nothing (409 `claim_lost`). Each read, answered or refused,
/// is an audit line and counted per key.
#[utoipa::path(
    operation_id = "read_claimed_run_credentials",
    get,
    path = "/v1/operations/{run_id}/credentials",
    tag = "workers",
    params(RunPath, ClaimTokenHeader),
    responses(
        (status = 200, description = "The credential of the run's connection, decrypted", body = CredentialSecretView, example = super::examples::credential_secret),
        ClaimedCredential,
    ),
    security(("api_key" = []))
)]
pub async fn credentials(
    State(state): State<AppState>,
    WorkerKey(worker): WorkerKey,
    ApiPath(run): ApiPath<Uuid>,
    ClaimToken(token): ClaimToken,
    request_id: Option<Extension<RequestId>>,
) -> ApiResult<NoStore<Json<CredentialSecretView>>> {
    let outcome = service::credential(&state.db, &state.refresher, &worker, run, &token)
        .await
        .map_err(ApiError::from);
    let (result, target) = match &outcome {
        Ok((tenant, connection, _)) => ("ok", Some((*tenant, *connection))),
        Err(err) => (err.code, None),
    };
    let request_id = request_id
        .as_ref()
        .and_then(|Extension(r)| r.header_value().to_str().ok());
    audit::claimed_credential_read(request_id, worker.key_id, run, target, result);
    state.metrics.count_credential_read(worker.key_id, result);
    let (_, connection, read) = outcome?;
    Ok(NoStore(Json(CredentialSecretView::new(
        connection.as_uuid(),
        &read,
    ))))
}
