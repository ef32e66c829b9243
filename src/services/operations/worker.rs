//! A worker's hold on a claimed run: the claim token (random, handed out once, stored
//! as SHA-256), and the three things only its holder may do — heartbeat, complete, and
//! read the credential of the run's connection. A token that does not hold the run
//! (wrong, or old: the run was rescued and claimed again, or completed) is
//! [`Error::ClaimLost`], whatever the reason, and changes nothing.

use std::collections::BTreeMap;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::models::activity::Action;
use crate::models::operation_run::{self, RunOutcome};
use crate::models::{ConnectionId, TenantId};
use crate::repositories::activity::{self, Actor, Entry};
use crate::repositories::operations::claims::{self, Finish, Held};
use crate::sanitize;
use crate::services::credentials::CredentialRead;
use crate::services::refresh::Refresher;
use crate::tenancy::TenantTxn;

/// A worker key: deployment-wide, it may claim runs of every tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub key_id: Uuid,
    pub name: String,
}

impl Worker {
    pub fn actor(&self) -> Actor {
        Actor {
            key_id: Some(self.key_id),
            name: self.name.clone(),
        }
    }
}

/// The prefix of every claim token.
pub const CLAIM_TOKEN_PREFIX: &str = "cvr_";

/// A new random claim token and its SHA-256.
pub(crate) fn new_token() -> (SecretString, Vec<u8>) {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    let token = SecretString::from(format!(
        "{CLAIM_TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ));
    let hash = hash(token.expose_secret());
    (token, hash)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The claim `token` stands for, if it holds run `run` for `worker`; `ClaimLost`
/// otherwise (a token that is not one of ours included).
async fn held(db: &DatabaseConnection, worker: &Worker, run: Uuid, token: &str) -> Result<Hold> {
    if !token.starts_with(CLAIM_TOKEN_PREFIX) || token.len() > 128 {
        return Err(Error::ClaimLost);
    }
    let token_hash = hash(token);
    match claims::find_by_token(db, &token_hash).await? {
        Some((tenant, id)) if id == run => Ok(Hold {
            tenant,
            run,
            token_hash,
            worker: worker.key_id,
        }),
        _ => Err(Error::ClaimLost),
    }
}

struct Hold {
    tenant: TenantId,
    run: Uuid,
    token_hash: Vec<u8>,
    worker: Uuid,
}

impl Hold {
    fn held(&self) -> Held<'_> {
        Held {
            tenant: self.tenant,
            run: self.run,
            token_hash: &self.token_hash,
            worker: self.worker,
        }
    }
}

/// Records that the worker holding `token` is still at work on `run`: the rescuer
/// leaves the run alone for another heartbeat timeout.
pub async fn heartbeat(
    db: &DatabaseConnection,
    worker: &Worker,
    run: Uuid,
    token: &str,
) -> Result<operation_run::Model> {
    let hold = held(db, worker, run, token).await?;
    claims::heartbeat(db, hold.held(), crate::repositories::now())
        .await?
        .ok_or(Error::ClaimLost)
}

/// How a worker reports the end of a run.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    /// `succeeded`, `partially_succeeded` or `failed`.
    #[schema(example = "partially_succeeded")]
    pub outcome: RunOutcome,
    /// Counts by name (at most 50, names of 1 to 64 characters).
    #[serde(default)]
    #[schema(example = json!({"items_synced": 120, "items_failed": 3}))]
    pub summary_counts: Option<BTreeMap<String, u64>>,
    #[serde(default)]
    pub failure_summary: Option<FailureSummary>,
}

/// What went wrong, in words fit to show: `message` is made one line, cut to
/// [`FAILURE_MESSAGE_MAX`] characters, and anything that looks like a credential in it
/// is replaced by `[redacted]`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureSummary {
    /// A stable code of the failure: 1 to 64 characters of `a-z 0-9 _ . -`.
    #[schema(example = "provider_rate_limited", pattern = "^[a-z0-9_.-]{1,64}$")]
    pub reason_code: Option<String>,
    #[schema(
        example = "3 items were rejected by the provider (HTTP 422)",
        max_length = 8192
    )]
    pub message: Option<String>,
}

/// The longest failure message kept.
pub const FAILURE_MESSAGE_MAX: usize = 1000;
/// The longest failure message accepted (it is cut to [`FAILURE_MESSAGE_MAX`]).
pub const FAILURE_MESSAGE_INPUT_MAX: usize = 8192;
const MAX_COUNTS: usize = 50;

impl Completion {
    /// The outcome, counts and failure summary as stored, or the first field that is
    /// wrong.
    fn finish(&self) -> Result<Finish> {
        if !matches!(
            self.outcome,
            RunOutcome::Succeeded | RunOutcome::PartiallySucceeded | RunOutcome::Failed
        ) {
            return Err(Error::invalid(
                "outcome",
                "a worker completes a run as succeeded, partially_succeeded or failed",
            ));
        }
        let counts = match &self.summary_counts {
            None => None,
            Some(counts) => {
                if counts.len() > MAX_COUNTS {
                    return Err(Error::invalid(
                        "summary_counts",
                        format!("at most {MAX_COUNTS} counts"),
                    ));
                }
                for name in counts.keys() {
                    if name.is_empty()
                        || name.chars().count() > 64
                        || name.chars().any(char::is_control)
                    {
                        return Err(Error::invalid(
                            "summary_counts",
                            "a count's name has 1 to 64 characters and no control character",
                        ));
                    }
                }
                Some(json!(counts))
            }
        };
        let mut reason_code = None;
        let summary = match &self.failure_summary {
            None => None,
            Some(f) => {
                if let Some(code) = &f.reason_code {
                    let ok = !code.is_empty()
                        && code.len() <= 64
                        && code.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)
                        });
                    if !ok {
                        return Err(Error::invalid(
                            "failure_summary.reason_code",
                            "use 1 to 64 characters of a-z, 0-9, '_', '.' and '-'",
                        ));
                    }
                    reason_code = Some(code.clone());
                }
                let mut summary = serde_json::Map::new();
                if let Some(code) = &f.reason_code {
                    summary.insert("reason_code".into(), json!(code));
                }
                if let Some(message) = &f.message {
                    if message.chars().count() > FAILURE_MESSAGE_INPUT_MAX {
                        return Err(Error::invalid(
                            "failure_summary.message",
                            format!("at most {FAILURE_MESSAGE_INPUT_MAX} characters"),
                        ));
                    }
                    summary.insert(
                        "message".into(),
                        json!(sanitize::message(message, FAILURE_MESSAGE_MAX)),
                    );
                }
                Some(serde_json::Value::Object(summary))
            }
        };
        Ok(Finish {
            outcome: self.outcome,
            summary_counts: counts,
            failure_summary: summary,
            reason_code,
            at: crate::repositories::now(),
        })
    }
}

/// Completes `run` for the worker holding `token`, with an `operation_completed`
/// entry in the run's tenant's activity log in the same transaction. The token opens
/// nothing afterwards.
pub async fn complete(
    db: &DatabaseConnection,
    worker: &Worker,
    run: Uuid,
    token: &str,
    completion: &Completion,
) -> Result<operation_run::Model> {
    let finish = completion.finish()?;
    let hold = held(db, worker, run, token).await?;
    let txn = TenantTxn::begin_write(db, hold.tenant).await?;
    let Some(done) = claims::complete(&txn, hold.held(), finish).await? else {
        return Err(Error::ClaimLost);
    };
    record(
        &txn,
        hold.tenant,
        &worker.actor(),
        &done,
        Action::OperationCompleted,
    )
    .await?;
    txn.commit().await?;
    Ok(done)
}

/// Appends `action` about `run` to its tenant's activity log, in `db`'s transaction
/// (a claim's or the rescuer's spans tenants, so not a `TenantTxn`).
pub(crate) async fn record<C: crate::tenancy::TenantScope>(
    db: &C,
    tenant: TenantId,
    actor: &Actor,
    run: &operation_run::Model,
    action: Action,
) -> Result<()> {
    let provider = run.context.get("provider").and_then(|p| p.as_str());
    // The shape of `activity::record_run`'s entries, and the attempt.
    let details = json!({
        "run_id": run.id,
        "type": run.operation_type,
        "outcome": run.outcome,
        "reason_code": run.reason_code,
        "attempt": run.attempt,
    });
    let entry = Entry {
        connection_id: run.connection_id,
        provider_slug: provider,
        action,
        details,
    };
    activity::record(db, tenant, actor, entry).await?;
    Ok(())
}

/// The decrypted credential of `run`'s connection, for the worker holding `token`,
/// only while the run is running under that claim: as the tenant's service keys read
/// it (renewed first when it expires within the margin). Which tenant and connection
/// it came from is returned for the audit trail.
pub async fn credential(
    db: &DatabaseConnection,
    refresher: &Refresher,
    worker: &Worker,
    run: Uuid,
    token: &str,
) -> Result<(TenantId, ConnectionId, CredentialRead)> {
    let hold = held(db, worker, run, token).await?;
    let row = claims::get_held(db, hold.held())
        .await?
        .ok_or(Error::ClaimLost)?;
    let connection = row
        .connection_id
        .map(ConnectionId::from_uuid)
        .ok_or(Error::NotFound("credential"))?;
    let read = refresher
        .read(hold.tenant, connection)
        .await?
        .ok_or(Error::NotFound("credential"))?;
    Ok((hold.tenant, connection, read))
}
