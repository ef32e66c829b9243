//! Starting a run: resolve and gate the connection, then always write a run — `queued`
//! when the connection is usable, else finalized in the same transaction as
//! `completed`/`blocked` with its reason code, link-only next steps and an activity
//! entry. A deduplicating type's identical active run is returned instead of a new one
//! (the partial unique index decides, so concurrent starts make one run).

use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

use super::activity::record_run;
use super::dedupe;
use super::gate::{Blocked, Decision};
use super::gating;
use crate::error::{Error, Result, is_foreign_key_violation};
use crate::models::activity::Action;
use crate::models::checks::check_json;
use crate::models::operation_run::{self, RunOutcome, RunStatus};
use crate::models::operation_type::{self, OperationTypeName};
use crate::models::{ProviderSlug, TenantId};
use crate::repositories::activity::Actor;
use crate::repositories::operations::runs::{self, Inserted, NewRun};
use crate::repositories::operations::types;
use crate::repositories::providers;
use crate::tenancy::TenantTxn;

/// Largest `target_scope`, serialized, in bytes.
pub const TARGET_SCOPE_MAX_BYTES: usize = 4 * 1024;
/// Largest `params`, serialized, in bytes.
pub const PARAMS_MAX_BYTES: usize = 16 * 1024;
/// How many times a start retries when the active run it collided with finished
/// before it could be read.
const DEDUPE_ATTEMPTS: usize = 5;

/// What a caller asks to start.
#[derive(Clone, Debug, Default)]
pub struct StartRequest {
    /// The operation type's name (`inventory.sync`).
    pub operation_type: String,
    /// The connection to run on; when absent, the tenant's default for the type's
    /// provider (or its only connection of that provider).
    pub connection_id: Option<Uuid>,
    /// What the run works on (a JSON object; part of its identity for dedupe).
    pub target_scope: Option<Value>,
    /// The caller's parameters (a JSON object; not part of the identity).
    pub params: Option<Value>,
}

/// The run a start answered with.
#[derive(Clone, Debug)]
pub struct Started {
    pub run: operation_run::Model,
    /// `false` when an identical active run was returned instead of a new one.
    pub created: bool,
}

impl StartRequest {
    /// Checks the request's shape; the type's existence is checked against the registry.
    fn check(&self) -> Result<(OperationTypeName, Value, Value)> {
        let name = OperationTypeName::parse(&self.operation_type)
            .map_err(|_| Error::UnknownOperationType(self.operation_type.clone()))?;
        let scope = object(
            "target_scope",
            self.target_scope.as_ref(),
            TARGET_SCOPE_MAX_BYTES,
        )?;
        let params = object("params", self.params.as_ref(), PARAMS_MAX_BYTES)?;
        Ok((name, scope, params))
    }
}

fn object(field: &'static str, value: Option<&Value>, max: usize) -> Result<Value> {
    let Some(value) = value else {
        return Ok(json!({}));
    };
    if !value.is_object() {
        return Err(Error::invalid(field, "must be a JSON object"));
    }
    check_json(field, value)?;
    if value.to_string().len() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} bytes as JSON"),
        ));
    }
    Ok(value.clone())
}

/// Starts a run of `request.operation_type` for `tenant`, as `actor`. Bad input
/// (`UnknownOperationType`, `Invalid`, a named connection the tenant does not have)
/// writes nothing; a blocked run is a result, not an error.
pub async fn start(
    db: &DatabaseConnection,
    public_url: &Url,
    tenant: TenantId,
    actor: &Actor,
    request: StartRequest,
) -> Result<Started> {
    let (name, target_scope, params) = request.check()?;
    let op_type = types::get(db, name.as_str())
        .await?
        .ok_or_else(|| Error::UnknownOperationType(name.to_string()))?;
    let slug = ProviderSlug::parse(&op_type.provider_slug)?;
    let provider = providers::get_by_slug(db, &slug)
        .await?
        .ok_or_else(|| Error::UnknownProvider(slug.to_string()))?;
    for _ in 0..DEDUPE_ATTEMPTS {
        let txn = TenantTxn::begin_write(db, tenant).await?;
        let decision = gating::evaluate(
            &txn,
            tenant,
            &op_type,
            &provider,
            request.connection_id,
            public_url,
        )
        .await?;
        let run = new_run(&op_type, &decision, &target_scope, &params, actor);
        let dedupe_key = run.dedupe_key.clone();
        match runs::insert(&txn, tenant, run)
            .await
            .map_err(|e| unknown_tenant(e, tenant))?
        {
            Inserted::Created(run) => {
                if run.outcome == RunOutcome::Blocked {
                    record_run(&txn, actor, &run, Action::OperationBlocked).await?;
                }
                txn.commit().await?;
                return Ok(Started {
                    run: *run,
                    created: true,
                });
            }
            Inserted::Duplicate => {
                let key = dedupe_key.unwrap_or_default();
                if let Some(existing) = runs::find_active_by_dedupe(&txn, tenant, &key).await? {
                    txn.commit().await?;
                    return Ok(Started {
                        run: existing,
                        created: false,
                    });
                }
                // The active run finished between the insert and the read: try again.
            }
        }
    }
    Err(Error::invalid(
        "type",
        "identical runs keep starting and finishing concurrently; try again",
    ))
}

/// The run to write for the gate's decision.
fn new_run(
    op_type: &operation_type::Model,
    decision: &Decision,
    target_scope: &Value,
    params: &Value,
    actor: &Actor,
) -> NewRun {
    let connection_id = match decision {
        Decision::Usable { connection_id } => Some(*connection_id),
        Decision::Blocked(b) => b.connection_id,
    };
    let context = json!({
        "provider": op_type.provider_slug,
        "connection_id": connection_id,
        "target_scope": target_scope,
        "module": op_type.module,
        "params": params,
    });
    let mut run = NewRun {
        id: Uuid::new_v4(),
        operation_type: op_type.operation_type.clone(),
        connection_id,
        status: RunStatus::Queued,
        outcome: RunOutcome::Pending,
        context,
        dedupe_key: None,
        failure_summary: None,
        reason_code: None,
        next_steps: None,
        max_attempts: op_type.max_attempts,
        heartbeat_timeout_seconds: op_type.heartbeat_timeout_seconds,
        actor: actor.clone(),
        completed_at: None,
    };
    match decision {
        Decision::Usable { connection_id } => {
            if op_type.dedupe {
                run.dedupe_key = Some(dedupe::key(
                    &op_type.operation_type,
                    *connection_id,
                    target_scope,
                ));
            }
        }
        Decision::Blocked(blocked) => {
            run.status = RunStatus::Completed;
            run.outcome = RunOutcome::Blocked;
            run.reason_code = Some(blocked.reason.as_str().to_owned());
            run.failure_summary = Some(failure_summary(blocked));
            run.next_steps = Some(blocked.next_steps.clone());
            run.completed_at = Some(crate::repositories::now());
        }
    }
    run
}

/// A blocked run's failure summary: its reason code, a sentence, and for
/// `missing_scopes` the scopes the connection lacks.
fn failure_summary(blocked: &Blocked) -> Value {
    let mut summary = json!({
        "reason_code": blocked.reason.as_str(),
        "message": message(blocked),
    });
    if !blocked.missing_scopes.is_empty() {
        summary["missing_scopes"] = json!(blocked.missing_scopes);
    }
    summary
}

fn message(blocked: &Blocked) -> String {
    use super::gate::BlockReason::*;
    match blocked.reason {
        NoConnection => "the tenant has no connection of the operation's provider".into(),
        NoDefaultConnection => {
            "the tenant has several connections of the operation's provider and none is the default"
                .into()
        }
        ConnectionNeedsConsent => "the connection waits for consent".into(),
        ConnectionNeedsReauth => "the connection must be authorized again".into(),
        ConnectionRevoked => "the connection was disconnected".into(),
        CredentialMissing => "the connection holds no credential".into(),
        MissingScopes => format!(
            "the connection lacks scopes: {}",
            blocked.missing_scopes.join(", ")
        ),
        ConnectionUnhealthy => "the connection is unhealthy".into(),
    }
}

/// A run refused by the tenant's foreign key: the tenant does not exist.
fn unknown_tenant(err: Error, tenant: TenantId) -> Error {
    match &err {
        Error::Database(db) if is_foreign_key_violation(db) => {
            Error::UnknownTenant(tenant.as_uuid())
        }
        _ => err,
    }
}
