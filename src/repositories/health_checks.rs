//! Health checks' writes to a connection row: the lease that lets one process at a
//! time check a due connection (taken by compare-and-swap), the recorded result (which
//! releases it), and the selections across tenants: the due connections, and the count
//! by health for `/metrics`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, Set,
    Statement,
};
use uuid::Uuid;

use crate::error::Result;
use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::{ConnectionId, TenantId};
use crate::tenancy::{self, TenantScope};

fn row(tenant: TenantId, id: ConnectionId) -> Condition {
    Condition::all()
        .add(connection::Column::TenantId.eq(tenant.as_uuid()))
        .add(connection::Column::Id.eq(id.as_uuid()))
}

fn lease_free(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(connection::Column::HealthLeaseUntil.is_null())
        .add(connection::Column::HealthLeaseUntil.lt(now))
}

fn due(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(connection::Column::HealthCheckDueAt.is_null())
        .add(connection::Column::HealthCheckDueAt.lte(now))
}

/// Takes the health-check lease on the tenant's connection for `owner` until `until`,
/// only while it is active, due at `now` and nobody holds the lease. The row as the
/// lease left it, or `None` when it was not taken.
pub async fn take_lease<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    owner: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<connection::Model>> {
    let update = connection::Entity::update_many()
        .set(connection::ActiveModel {
            health_lease_until: Set(Some(until)),
            health_lease_owner: Set(Some(owner)),
            ..Default::default()
        })
        .filter(row(tenant, id))
        .filter(connection::Column::Status.eq(ConnectionStatus::Active))
        .filter(lease_free(now))
        .filter(due(now));
    tenancy::write(db, tenant, async |db| {
        Ok(update.exec_with_returning(db).await?.into_iter().next())
    })
    .await
}

/// Gives the lease back and puts the next check off until `due_at`, without recording
/// a result (the connection could not be tested). False when `owner` did not hold it.
pub async fn release<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    owner: Uuid,
    due_at: DateTime<Utc>,
) -> Result<bool> {
    let update = connection::Entity::update_many()
        .set(connection::ActiveModel {
            health_lease_until: Set(None),
            health_lease_owner: Set(None),
            health_check_due_at: Set(Some(due_at)),
            ..Default::default()
        })
        .filter(row(tenant, id))
        .filter(connection::Column::HealthLeaseOwner.eq(owner));
    let result = tenancy::write(db, tenant, async |db| update.exec(db).await).await?;
    Ok(result.rows_affected == 1)
}

/// A check's result as it is written to the connection.
#[derive(Clone, Debug)]
pub struct CheckRecord {
    pub at: DateTime<Utc>,
    pub health: HealthStatus,
    pub reason_code: Option<String>,
    /// Sanitized and bounded.
    pub message: Option<String>,
    /// A new lifecycle status, when the result changes it.
    pub status: Option<ConnectionStatus>,
    pub next_due_at: DateTime<Utc>,
}

/// Writes a check's result to the tenant's connection, unless it was disconnected
/// meanwhile; with `owner`, only while that lease is held, and releasing it. The row as
/// written, or `None` when nothing was written.
pub async fn record<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    owner: Option<Uuid>,
    check: CheckRecord,
) -> Result<Option<connection::Model>> {
    let mut values = connection::ActiveModel {
        health_status: Set(check.health),
        last_health_check_at: Set(Some(check.at)),
        last_error_reason_code: Set(check.reason_code),
        last_error_message: Set(check.message),
        health_check_due_at: Set(Some(check.next_due_at)),
        updated_at: Set(check.at),
        ..Default::default()
    };
    if let Some(status) = check.status {
        values.status = Set(status);
    }
    let mut update = connection::Entity::update_many()
        .set(values)
        .filter(row(tenant, id))
        .filter(connection::Column::Status.ne(ConnectionStatus::Revoked));
    if let Some(owner) = owner {
        update = update
            .col_expr(
                connection::Column::HealthLeaseUntil,
                sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                connection::Column::HealthLeaseOwner,
                sea_orm::sea_query::Expr::value(Option::<Uuid>::None),
            )
            .filter(connection::Column::HealthLeaseOwner.eq(owner));
    }
    tenancy::write(db, tenant, async |db| {
        Ok(update.exec_with_returning(db).await?.into_iter().next())
    })
    .await
}

/// The connections due for a scheduled check at `now`, across tenants, at most
/// `limit`: exactly those [`take_lease`] would take. On PostgreSQL
/// `connvault_due_health_checks` (one tenant at a time under the policy, only ids come
/// out); on SQLite its mirror `migration::DUE_HEALTH_CHECKS_SQLITE`.
pub async fn due_checks(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(TenantId, ConnectionId)>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT o_tenant_id, o_connection_id FROM connvault_due_health_checks($1, $2)"
        }
        _ => migration::DUE_HEALTH_CHECKS_SQLITE,
    };
    let limit = Ord::min(limit, i32::MAX as u32) as i32;
    let stmt = Statement::from_sql_and_values(backend, sql, [now.into(), limit.into()]);
    let rows = db.query_all_raw(stmt).await?;
    rows.iter()
        .map(|r| {
            let t: Uuid = r.try_get("", "o_tenant_id")?;
            let c: Uuid = r.try_get("", "o_connection_id")?;
            Ok((TenantId::from_uuid(t), ConnectionId::from_uuid(c)))
        })
        .collect::<std::result::Result<_, sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// How many connections (not revoked) have each health, across tenants. Only counts
/// come out (`connvault_connections_by_health` on PostgreSQL).
pub async fn count_by_health(db: &DatabaseConnection) -> Result<Vec<(String, i64)>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT o_health, o_count FROM connvault_connections_by_health()",
        _ => migration::CONNECTIONS_BY_HEALTH_SQLITE,
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    let mut counts: Vec<(String, i64)> = Vec::new();
    for r in &rows {
        let health: String = r.try_get("", "o_health")?;
        let count: i64 = r.try_get("", "o_count")?;
        match counts.iter_mut().find(|(h, _)| *h == health) {
            Some((_, n)) => *n += count,
            None => counts.push((health, count)),
        }
    }
    Ok(counts)
}
