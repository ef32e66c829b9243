//! The workers' side of the run ledger: locking queued runs for a claim (across
//! tenants), moving each to `running` under a claim token or finalizing it as blocked,
//! finding a run by its claim token, and the heartbeat and completion that only the
//! token's holder may write. A run's claim is identified by the SHA-256 of its token,
//! its id, its tenant and the worker key that claimed it.
//!
//! On PostgreSQL the cross-tenant steps are the functions `connvault_claim_queued` and
//! `connvault_find_claim` (see the `operation_workers` migration); every write happens
//! in the run's own tenant scope.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use crate::error::Result;
use crate::models::operation_run::{self, NextSteps, RunOutcome, RunStatus};
use crate::models::{TenantId, operation_type};
use crate::tenancy::{self, TenantScope};

/// Locks up to `limit` queued runs of `types`, oldest first, skipping those another
/// claim holds (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the caller's write
/// transaction holds the database's one write lock). The locks last until `txn` ends.
pub async fn lock_queued(
    txn: &DatabaseTransaction,
    types: &[String],
    limit: u32,
) -> Result<Vec<operation_run::Model>> {
    let limit = Ord::min(limit, i32::MAX as u32);
    if txn.get_database_backend() == DbBackend::Postgres {
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM connvault_claim_queued($1::json, $2)",
            [serde_json::json!(types).into(), (limit as i32).into()],
        );
        return Ok(operation_run::Entity::find()
            .from_raw_sql(stmt)
            .all(txn)
            .await?);
    }
    Ok(operation_run::Entity::find()
        .filter(operation_run::Column::Status.eq(RunStatus::Queued))
        .filter(operation_run::Column::OperationType.is_in(types.iter().cloned()))
        .order_by_asc(operation_run::Column::CreatedAt)
        .order_by_asc(operation_run::Column::Id)
        .limit(u64::from(limit))
        .all(txn)
        .await?)
}

/// The registry's entry for a type, if it is (still) there.
pub async fn operation_type<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<operation_type::Model>> {
    Ok(operation_type::Entity::find_by_id(name).one(db).await?)
}

/// A claim about to be written.
#[derive(Clone, Debug)]
pub struct NewClaim {
    /// SHA-256 of the claim token.
    pub token_hash: Vec<u8>,
    /// The worker key.
    pub worker: Uuid,
    pub at: DateTime<Utc>,
}

/// Moves the tenant's queued run to `running` under `claim`: the next attempt, the
/// token's hash, the worker, a fresh heartbeat. `None` when the run is not queued.
pub async fn mark_running<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
    claim: NewClaim,
) -> Result<Option<operation_run::Model>> {
    let update = operation_run::Entity::update_many()
        .set(operation_run::ActiveModel {
            status: Set(RunStatus::Running),
            claim_token_hash: Set(Some(claim.token_hash)),
            claimed_by: Set(Some(claim.worker)),
            heartbeat_at: Set(Some(claim.at)),
            updated_at: Set(claim.at),
            ..Default::default()
        })
        .col_expr(
            operation_run::Column::Attempt,
            Expr::col(operation_run::Column::Attempt).add(1),
        )
        .col_expr(
            operation_run::Column::StartedAt,
            Expr::col(operation_run::Column::StartedAt).if_null(claim.at),
        )
        .filter(operation_run::Column::TenantId.eq(tenant.as_uuid()))
        .filter(operation_run::Column::Id.eq(id))
        .filter(operation_run::Column::Status.eq(RunStatus::Queued));
    tenancy::write(db, tenant, async |db| {
        Ok(update.exec_with_returning(db).await?.into_iter().next())
    })
    .await
}

/// Why a queued run was finalized as blocked when a worker came to claim it.
#[derive(Clone, Debug)]
pub struct BlockedAtClaim {
    pub reason_code: String,
    pub next_steps: NextSteps,
    /// `{"missing_scopes": [...]}` for `missing_scopes`.
    pub failure_summary: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
}

/// Finalizes the tenant's queued run as `completed`/`blocked`. `None` when the run is
/// not queued.
pub async fn mark_blocked<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
    blocked: BlockedAtClaim,
) -> Result<Option<operation_run::Model>> {
    let update = operation_run::Entity::update_many()
        .set(operation_run::ActiveModel {
            status: Set(RunStatus::Completed),
            outcome: Set(RunOutcome::Blocked),
            reason_code: Set(Some(blocked.reason_code)),
            next_steps: Set(Some(blocked.next_steps)),
            failure_summary: Set(blocked.failure_summary),
            completed_at: Set(Some(blocked.at)),
            updated_at: Set(blocked.at),
            ..Default::default()
        })
        .filter(operation_run::Column::TenantId.eq(tenant.as_uuid()))
        .filter(operation_run::Column::Id.eq(id))
        .filter(operation_run::Column::Status.eq(RunStatus::Queued));
    tenancy::write(db, tenant, async |db| {
        Ok(update.exec_with_returning(db).await?.into_iter().next())
    })
    .await
}

/// The tenant and id of the run whose current claim token has this SHA-256, if any:
/// one statement over a unique index. On PostgreSQL `connvault_find_claim`, which
/// makes the row visible to the holder of its token only.
pub async fn find_by_token<C: ConnectionTrait>(
    db: &C,
    token_hash: &[u8],
) -> Result<Option<(TenantId, Uuid)>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT o_tenant_id, o_id FROM connvault_find_claim($1)",
        _ => {
            "SELECT tenant_id AS o_tenant_id, id AS o_id FROM operation_runs \
             WHERE claim_token_hash = ?1"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [token_hash.to_vec().into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let tenant: Uuid = row.try_get("", "o_tenant_id")?;
    Ok(Some((
        TenantId::from_uuid(tenant),
        row.try_get("", "o_id")?,
    )))
}

/// A claim as its holder presents it.
#[derive(Clone, Copy, Debug)]
pub struct Held<'a> {
    pub tenant: TenantId,
    pub run: Uuid,
    pub token_hash: &'a [u8],
    pub worker: Uuid,
}

fn held(h: &Held<'_>) -> sea_orm::sea_query::Condition {
    sea_orm::sea_query::Condition::all()
        .add(operation_run::Column::TenantId.eq(h.tenant.as_uuid()))
        .add(operation_run::Column::Id.eq(h.run))
        .add(operation_run::Column::Status.eq(RunStatus::Running))
        .add(operation_run::Column::ClaimTokenHash.eq(h.token_hash.to_vec()))
        .add(operation_run::Column::ClaimedBy.eq(h.worker))
}

/// The running run this claim holds, or `None` when it does not (any more).
pub async fn get_held<C: TenantScope>(
    db: &C,
    claim: Held<'_>,
) -> Result<Option<operation_run::Model>> {
    let query = operation_run::Entity::find().filter(held(&claim));
    tenancy::read(db, claim.tenant, async |db| Ok(query.one(db).await?)).await
}

/// Records a heartbeat on the run this claim holds; `None` when it does not hold it.
pub async fn heartbeat<C: TenantScope>(
    db: &C,
    claim: Held<'_>,
    at: DateTime<Utc>,
) -> Result<Option<operation_run::Model>> {
    let update = operation_run::Entity::update_many()
        .set(operation_run::ActiveModel {
            heartbeat_at: Set(Some(at)),
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(held(&claim));
    tenancy::write(db, claim.tenant, async |db| {
        Ok(update.exec_with_returning(db).await?.into_iter().next())
    })
    .await
}

/// How a worker ended a run.
#[derive(Clone, Debug)]
pub struct Finish {
    pub outcome: RunOutcome,
    pub summary_counts: Option<serde_json::Value>,
    /// Sanitized and bounded by the caller.
    pub failure_summary: Option<serde_json::Value>,
    pub reason_code: Option<String>,
    pub at: DateTime<Utc>,
}

/// Completes the run this claim holds (the token is cleared: it opens nothing any
/// more); `None` when the claim does not hold it.
pub async fn complete<C: TenantScope>(
    db: &C,
    claim: Held<'_>,
    finish: Finish,
) -> Result<Option<operation_run::Model>> {
    let update = operation_run::Entity::update_many()
        .set(operation_run::ActiveModel {
            status: Set(RunStatus::Completed),
            outcome: Set(finish.outcome),
            summary_counts: Set(finish.summary_counts),
            failure_summary: Set(finish.failure_summary),
            reason_code: Set(finish.reason_code),
            claim_token_hash: Set(None),
            completed_at: Set(Some(finish.at)),
            updated_at: Set(finish.at),
            ..Default::default()
        })
        .filter(held(&claim));
    tenancy::write(db, claim.tenant, async |db| {
        Ok(update.exec_with_returning(db).await?.into_iter().next())
    })
    .await
}
