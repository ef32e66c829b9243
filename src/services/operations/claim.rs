//! Claims: a worker takes up to `limit` queued runs of the types it serves, from every
//! tenant, oldest first, each with a fresh claim token. Two workers never get the same
//! run (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the write lock). The gate is
//! asked again for each run, because its connection may have changed while the run
//! waited: a run that may no longer start is finalized as `completed`/`blocked` with
//! its reason and next steps (and an `operation_blocked` activity entry) instead of
//! being handed out.

use std::collections::HashMap;

use sea_orm::{DatabaseConnection, DatabaseTransaction};
use secrecy::SecretString;
use serde_json::json;
use url::Url;

use super::gate::{self, Decision, Question};
use super::gating;
use super::worker::{Worker, new_token, record};
use crate::error::{Error, Result};
use crate::models::activity::Action;
use crate::models::{ProviderSlug, operation_run, operation_type, provider};
use crate::repositories::operations::claims::{self, BlockedAtClaim, NewClaim};
use crate::repositories::{begin_write, providers};

/// The most runs one claim may take.
pub const MAX_CLAIM: u32 = 100;
/// The most types one claim may name.
pub const MAX_CLAIM_TYPES: usize = 50;

/// A run handed to a worker, with the token that proves the claim. The token is shown
/// this once; only its SHA-256 is stored.
pub struct ClaimedRun {
    pub run: operation_run::Model,
    pub claim_token: SecretString,
}

/// What a claim did.
pub struct Claimed {
    /// The runs the worker now holds, oldest first.
    pub runs: Vec<ClaimedRun>,
    /// Runs finalized as blocked at claim instead of being handed out.
    pub blocked: Vec<operation_run::Model>,
}

/// Claims up to `limit` (1 to [`MAX_CLAIM`]) queued runs of `types` for `worker`,
/// across tenants. `public_url` is the base of blocked runs' next steps.
pub async fn claim(
    db: &DatabaseConnection,
    worker: &Worker,
    types: &[String],
    limit: u32,
    public_url: &Url,
) -> Result<Claimed> {
    check(types, limit)?;
    let txn = begin_write(db).await?;
    let locked = claims::lock_queued(&txn, types, limit).await?;
    let mut gates = Gates::default();
    let mut claimed = Claimed {
        runs: Vec::with_capacity(locked.len()),
        blocked: Vec::new(),
    };
    let at = crate::repositories::now();
    for run in locked {
        let tenant = run.tenant();
        match gates.decide(&txn, &run, public_url).await? {
            Decision::Usable { .. } => {
                let (claim_token, token_hash) = new_token();
                let claim = NewClaim {
                    token_hash,
                    worker: worker.key_id,
                    at,
                };
                if let Some(run) = claims::mark_running(&txn, tenant, run.id, claim).await? {
                    claimed.runs.push(ClaimedRun { run, claim_token });
                }
            }
            Decision::Blocked(b) => {
                let failure_summary = (!b.missing_scopes.is_empty())
                    .then(|| json!({ "missing_scopes": b.missing_scopes }));
                let blocked = BlockedAtClaim {
                    reason_code: b.reason.as_str().to_owned(),
                    next_steps: b.next_steps,
                    failure_summary,
                    at,
                };
                if let Some(run) = claims::mark_blocked(&txn, tenant, run.id, blocked).await? {
                    record(
                        &txn,
                        tenant,
                        &worker.actor(),
                        &run,
                        Action::OperationBlocked,
                    )
                    .await?;
                    claimed.blocked.push(run);
                }
            }
        }
    }
    txn.commit().await?;
    Ok(claimed)
}

fn check(types: &[String], limit: u32) -> Result<()> {
    if !(1..=MAX_CLAIM).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("claim 1 to {MAX_CLAIM} runs at a time"),
        ));
    }
    if types.is_empty() || types.len() > MAX_CLAIM_TYPES {
        return Err(Error::invalid(
            "types",
            format!("name 1 to {MAX_CLAIM_TYPES} operation types"),
        ));
    }
    for t in types {
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !ok {
            return Err(Error::invalid(
                "types",
                "an operation type is 1 to 64 characters of a-z, 0-9, '.', '_' and '-'",
            ));
        }
    }
    Ok(())
}

/// The registry entries and providers a claim's gate needs, each read once per claim.
#[derive(Default)]
struct Gates {
    types: HashMap<String, Option<operation_type::Model>>,
    providers: HashMap<String, Option<provider::Model>>,
}

impl Gates {
    /// The gate's decision for `run` now, on the connection it was gated on at start.
    /// A type removed from the registry since is gated on its run's provider with no
    /// scopes required; a run whose provider cannot be told is handed out as it is.
    async fn decide(
        &mut self,
        txn: &DatabaseTransaction,
        run: &operation_run::Model,
        public_url: &Url,
    ) -> Result<Decision> {
        let tenant = run.tenant();
        if !self.types.contains_key(&run.operation_type) {
            let found = claims::operation_type(txn, &run.operation_type).await?;
            self.types.insert(run.operation_type.clone(), found);
        }
        let op_type = match &self.types[&run.operation_type] {
            Some(t) => t.clone(),
            None => {
                let Some(provider) = run.context.get("provider").and_then(|p| p.as_str()) else {
                    return Ok(usable(run));
                };
                operation_type::Model {
                    operation_type: run.operation_type.clone(),
                    provider_slug: provider.to_owned(),
                    required_scopes: Default::default(),
                    module: String::new(),
                    max_attempts: run.max_attempts,
                    heartbeat_timeout_seconds: run.heartbeat_timeout_seconds,
                    dedupe: false,
                    created_at: run.created_at,
                    updated_at: run.created_at,
                }
            }
        };
        let Ok(slug) = ProviderSlug::parse(&op_type.provider_slug) else {
            return Ok(usable(run));
        };
        if !self.providers.contains_key(slug.as_str()) {
            let found = providers::get_by_slug(txn, &slug).await?;
            self.providers.insert(slug.as_str().to_owned(), found);
        }
        let Some(provider) = self.providers[slug.as_str()].clone() else {
            return Ok(usable(run));
        };
        let decision = gating::evaluate(
            txn,
            tenant,
            &op_type,
            &provider,
            run.connection_id,
            public_url,
        )
        .await;
        match decision {
            Ok(decision) => Ok(decision),
            // The connection it was gated on is gone (deleted), or is not of the
            // provider any more: as if there were none.
            Err(Error::NotFound(_) | Error::Invalid { .. }) => {
                let question = Question {
                    tenant,
                    provider: &slug,
                    provider_name: &provider.display_name,
                    required_scopes: &op_type.required_scopes.0,
                    public_url,
                };
                Ok(gate::decide(&question, true, &[]))
            }
            Err(e) => Err(e),
        }
    }
}

fn usable(run: &operation_run::Model) -> Decision {
    Decision::Usable {
        connection_id: run.connection_id.unwrap_or_default(),
    }
}
