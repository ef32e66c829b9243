//! The rescuer's writes: running runs whose worker stopped heartbeating are locked
//! (across tenants) and either put back in the queue without their claim, or, after
//! their last attempt, completed as failed with `worker_lost`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, Set, Statement,
};
use uuid::Uuid;

use crate::error::Result;
use crate::models::TenantId;
use crate::models::operation_run::{self, RunOutcome, RunStatus};
use crate::tenancy::{self, TenantScope};

/// The reason code of a run whose worker was lost on its last attempt.
pub const WORKER_LOST: &str = "worker_lost";

/// Locks up to `limit` running runs whose heartbeat is older than their own timeout
/// at `now`, stalest first, skipping runs locked elsewhere. On PostgreSQL
/// `connvault_stale_runs`; on SQLite its mirror `migration::STALE_RUNS_SQLITE` under
/// the caller's write lock.
pub async fn lock_stale(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<operation_run::Model>> {
    let limit = Ord::min(limit, i32::MAX as u32) as i32;
    let backend = sea_orm::ConnectionTrait::get_database_backend(txn);
    let sql = match backend {
        DbBackend::Postgres => "SELECT * FROM connvault_stale_runs($1, $2)",
        _ => migration::STALE_RUNS_SQLITE,
    };
    let stmt = Statement::from_sql_and_values(backend, sql, [now.into(), limit.into()]);
    Ok(operation_run::Entity::find()
        .from_raw_sql(stmt)
        .all(txn)
        .await?)
}

fn running(tenant: TenantId, id: Uuid, attempt: i32) -> sea_orm::sea_query::Condition {
    sea_orm::sea_query::Condition::all()
        .add(operation_run::Column::TenantId.eq(tenant.as_uuid()))
        .add(operation_run::Column::Id.eq(id))
        .add(operation_run::Column::Status.eq(RunStatus::Running))
        .add(operation_run::Column::Attempt.eq(attempt))
}

/// Puts the tenant's running run (still at `attempt`) back in the queue: no claim, no
/// worker, no heartbeat. The next claim is its next attempt. False when it changed
/// meanwhile.
pub async fn requeue<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
    attempt: i32,
    at: DateTime<Utc>,
) -> Result<bool> {
    let update = operation_run::Entity::update_many()
        .set(operation_run::ActiveModel {
            status: Set(RunStatus::Queued),
            claim_token_hash: Set(None),
            claimed_by: Set(None),
            heartbeat_at: Set(None),
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(running(tenant, id, attempt));
    let result = tenancy::write(db, tenant, async |db| update.exec(db).await).await?;
    Ok(result.rows_affected == 1)
}

/// Completes the tenant's running run (still at `attempt`) as failed with
/// `worker_lost`. `None` when it changed meanwhile.
pub async fn fail_lost<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
    attempt: i32,
    at: DateTime<Utc>,
) -> Result<Option<operation_run::Model>> {
    let update = operation_run::Entity::update_many()
        .set(operation_run::ActiveModel {
            status: Set(RunStatus::Completed),
            outcome: Set(RunOutcome::Failed),
            reason_code: Set(Some(WORKER_LOST.to_owned())),
            failure_summary: Set(Some(serde_json::json!({
                "reason_code": WORKER_LOST,
                "message": "the worker stopped heartbeating on the run's last attempt",
            }))),
            claim_token_hash: Set(None),
            completed_at: Set(Some(at)),
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(running(tenant, id, attempt));
    tenancy::write(db, tenant, async |db| {
        Ok(update.exec_with_returning(db).await?.into_iter().next())
    })
    .await
}
