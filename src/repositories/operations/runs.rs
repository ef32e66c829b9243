//! A tenant's operation runs: insert (a deduplicated insert answers `Duplicate`
//! instead of failing), get, the active run of a dedupe key, keyset lists with
//! filters, and cancel. Every function takes the tenant and filters on it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::super::page::{self, Cursor, Page, PageResult, Position};
use crate::error::{Error, Result, is_unique_violation};
use crate::models::TenantId;
use crate::models::operation_run::{self, NextSteps, RunOutcome, RunStatus};
use crate::repositories::activity::Actor;
use crate::tenancy::{self, TenantScope};

/// A run to insert, as the start service built it.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub id: Uuid,
    pub operation_type: String,
    pub connection_id: Option<Uuid>,
    pub status: RunStatus,
    pub outcome: RunOutcome,
    pub context: serde_json::Value,
    pub dedupe_key: Option<String>,
    pub failure_summary: Option<serde_json::Value>,
    pub reason_code: Option<String>,
    pub next_steps: Option<NextSteps>,
    pub max_attempts: i32,
    pub heartbeat_timeout_seconds: i32,
    pub actor: Actor,
    /// Set for a run finalized at once (blocked).
    pub completed_at: Option<DateTime<Utc>>,
}

/// What an insert did.
#[derive(Clone, Debug)]
pub enum Inserted {
    Created(Box<operation_run::Model>),
    /// An active run with the same dedupe key exists: nothing was written.
    Duplicate,
}

/// Inserts the run. A deduplicated run whose key an active run already holds is
/// `Duplicate` (the partial unique index decides; the insert runs in a savepoint, so
/// the caller's transaction stays usable).
pub async fn insert<C: TenantScope>(db: &C, tenant: TenantId, run: NewRun) -> Result<Inserted> {
    let now = super::super::now();
    let row = operation_run::ActiveModel {
        id: Set(run.id),
        tenant_id: Set(tenant.as_uuid()),
        operation_type: Set(run.operation_type),
        connection_id: Set(run.connection_id),
        status: Set(run.status),
        outcome: Set(run.outcome),
        context: Set(run.context),
        dedupe_key: Set(run.dedupe_key),
        summary_counts: Set(None),
        failure_summary: Set(run.failure_summary),
        reason_code: Set(run.reason_code),
        next_steps: Set(run.next_steps),
        attempt: Set(0),
        max_attempts: Set(run.max_attempts),
        heartbeat_timeout_seconds: Set(run.heartbeat_timeout_seconds),
        claim_token_hash: Set(None),
        claimed_by: Set(None),
        actor_key_id: Set(run.actor.key_id),
        actor_name: Set(run.actor.name),
        started_at: Set(None),
        completed_at: Set(run.completed_at),
        heartbeat_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    tenancy::write(db, tenant, async |db| {
        let savepoint = db.begin().await?;
        match row.insert(&savepoint).await {
            Ok(model) => {
                savepoint.commit().await?;
                Ok(Inserted::Created(Box::new(model)))
            }
            Err(err) if is_unique_violation(&err) => {
                savepoint.rollback().await?;
                Ok(Inserted::Duplicate)
            }
            Err(err) => Err(err.into()),
        }
    })
    .await
}

/// The tenant's active (queued or running) run holding `dedupe_key`, if any.
pub async fn find_active_by_dedupe<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    dedupe_key: &str,
) -> Result<Option<operation_run::Model>> {
    let query = operation_run::Entity::find()
        .filter(operation_run::Column::TenantId.eq(tenant.as_uuid()))
        .filter(operation_run::Column::DedupeKey.eq(dedupe_key))
        .filter(operation_run::Column::Status.is_in([RunStatus::Queued, RunStatus::Running]));
    tenancy::read(db, tenant, async |db| Ok(query.one(db).await?)).await
}

pub async fn get<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<operation_run::Model>> {
    let query = operation_run::Entity::find()
        .filter(operation_run::Column::TenantId.eq(tenant.as_uuid()))
        .filter(operation_run::Column::Id.eq(id));
    tenancy::read(db, tenant, async |db| Ok(query.one(db).await?)).await
}

/// Filters of the run list; each one given must match.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub operation_type: Option<String>,
    pub status: Option<RunStatus>,
    pub outcome: Option<RunOutcome>,
    pub connection_id: Option<Uuid>,
}

/// A page of the tenant's runs, newest first.
pub async fn list<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    filter: Filter,
    page: Page,
) -> Result<PageResult<operation_run::Model>> {
    let limit = page.effective_limit();
    let mut query =
        operation_run::Entity::find().filter(operation_run::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(t) = filter.operation_type {
        query = query.filter(operation_run::Column::OperationType.eq(t));
    }
    if let Some(s) = filter.status {
        query = query.filter(operation_run::Column::Status.eq(s));
    }
    if let Some(o) = filter.outcome {
        query = query.filter(operation_run::Column::Outcome.eq(o));
    }
    if let Some(c) = filter.connection_id {
        query = query.filter(operation_run::Column::ConnectionId.eq(c));
    }
    if let Some(cursor) = page.after.as_deref() {
        let after = Position::decode(cursor)?;
        query = query.filter(
            operation_run::Column::CreatedAt.lt(after.created_at).or(
                operation_run::Column::CreatedAt
                    .eq(after.created_at)
                    .and(operation_run::Column::Id.lt(after.id)),
            ),
        );
    }
    let query = query
        .order_by_desc(operation_run::Column::CreatedAt)
        .order_by_desc(operation_run::Column::Id)
        .limit(limit + 1);
    let items = tenancy::read(db, tenant, async |db| query.all(db).await).await?;
    Ok(page::finish(items, limit, |r| Position {
        created_at: r.created_at,
        id: r.id,
    }))
}

/// Cancels a queued or running run: `completed`/`cancelled`, its claim (if any)
/// dropped. `NotFound` for no such run, `OperationFinished` for a completed one.
pub async fn cancel<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
) -> Result<operation_run::Model> {
    let now = super::super::now();
    let update = operation_run::Entity::update_many()
        .col_expr(
            operation_run::Column::Status,
            Expr::val(RunStatus::Completed.as_str()),
        )
        .col_expr(
            operation_run::Column::Outcome,
            Expr::val(RunOutcome::Cancelled.as_str()),
        )
        .col_expr(operation_run::Column::CompletedAt, Expr::val(now))
        .col_expr(operation_run::Column::UpdatedAt, Expr::val(now))
        .col_expr(
            operation_run::Column::ClaimTokenHash,
            Expr::val(None::<Vec<u8>>),
        )
        .filter(operation_run::Column::TenantId.eq(tenant.as_uuid()))
        .filter(operation_run::Column::Id.eq(id))
        .filter(operation_run::Column::Status.is_in([RunStatus::Queued, RunStatus::Running]));
    tenancy::write(db, tenant, async |scoped| {
        if let Some(row) = update.exec_with_returning(scoped).await?.into_iter().next() {
            return Ok(row);
        }
        match get(scoped, tenant, id).await? {
            Some(_) => Err(Error::OperationFinished),
            None => Err(Error::NotFound("operation run")),
        }
    })
    .await
}
