//! The refresh engine's writes to a connection row: the lease that lets one process at a
//! time renew a token (taken by compare-and-swap, only while the token is still due),
//! its release with a renewal or a failure, the back-off of a connection that could not
//! be attempted, and the background selection of due connections across tenants.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, ExprTrait,
    QueryFilter, Set, Statement,
};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::{ConnectionId, TenantId};
use crate::tenancy::{self, TenantScope};

/// When a connection counts as due for a lease.
#[derive(Clone, Copy, Debug)]
pub enum Due {
    /// Always (a client-credentials connection without a token yet).
    Always,
    /// Its token expires before this time.
    ExpiresBefore(DateTime<Utc>),
    /// Its token expires before `expires_before`, or it was last renewed before
    /// `idle_before` (the background refresher's rule).
    ExpiresOrIdle {
        expires_before: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    },
}

impl Due {
    fn condition(self) -> Condition {
        match self {
            Due::Always => Condition::all(),
            Due::ExpiresBefore(at) => {
                Condition::any().add(connection::Column::TokenExpiresAt.lt(at))
            }
            Due::ExpiresOrIdle {
                expires_before,
                idle_before,
            } => Condition::any()
                .add(connection::Column::TokenExpiresAt.lt(expires_before))
                .add(
                    Expr::col(connection::Column::LastRefreshedAt)
                        .if_null(Expr::col(connection::Column::CreatedAt))
                        .lt(idle_before),
                ),
        }
    }
}

/// What an attempt to take the lease found.
pub enum Lease {
    /// Taken: the row as it stood when the lease was written.
    Taken(Box<connection::Model>),
    /// Another attempt holds it.
    Held,
    /// The token is not due (any more): someone renewed it meanwhile.
    NotDue,
    /// The connection is not active.
    Unusable {
        status: ConnectionStatus,
        reason_code: Option<String>,
    },
}

/// Takes the lease on the tenant's active connection for `owner` until `until`, if
/// nobody holds it and the connection is `due`.
pub async fn take<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    owner: Uuid,
    until: DateTime<Utc>,
    due: Due,
) -> Result<Lease> {
    let now = super::now();
    let update = connection::Entity::update_many()
        .set(connection::ActiveModel {
            refresh_lease_until: Set(Some(until)),
            refresh_lease_owner: Set(Some(owner)),
            ..Default::default()
        })
        .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(connection::Column::Id.eq(id.as_uuid()))
        .filter(connection::Column::Status.eq(ConnectionStatus::Active))
        .filter(lease_free(now))
        .filter(due.condition());
    let current = connection::Entity::find()
        .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(connection::Column::Id.eq(id.as_uuid()));
    tenancy::write(db, tenant, async |db| {
        if let Some(row) = update.exec_with_returning(db).await?.into_iter().next() {
            return Ok(Lease::Taken(Box::new(row)));
        }
        let row = current
            .one(db)
            .await?
            .ok_or(Error::NotFound("connection"))?;
        Ok(if row.status != ConnectionStatus::Active {
            Lease::Unusable {
                status: row.status,
                reason_code: row.last_error_reason_code,
            }
        } else if row.refresh_lease_until.is_some_and(|t| t >= now) {
            Lease::Held
        } else {
            Lease::NotDue
        })
    })
    .await
}

fn lease_free(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(connection::Column::RefreshLeaseUntil.is_null())
        .add(connection::Column::RefreshLeaseUntil.lt(now))
}

fn held_by(tenant: TenantId, id: ConnectionId, owner: Uuid) -> Condition {
    Condition::all()
        .add(connection::Column::TenantId.eq(tenant.as_uuid()))
        .add(connection::Column::Id.eq(id.as_uuid()))
        .add(connection::Column::RefreshLeaseOwner.eq(owner))
}

/// Gives the lease back without changing anything else; false when `owner` did not
/// hold it any more.
pub async fn release<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    owner: Uuid,
) -> Result<bool> {
    let update = connection::Entity::update_many()
        .set(connection::ActiveModel {
            refresh_lease_until: Set(None),
            refresh_lease_owner: Set(None),
            ..Default::default()
        })
        .filter(held_by(tenant, id, owner));
    let result = tenancy::write(db, tenant, async |db| update.exec(db).await).await?;
    Ok(result.rows_affected == 1)
}

/// A new token stored: expiry, renewal time, healthy, no error, no lease, no back-off;
/// with the scopes the provider granted, and `active` again after a new consent.
pub struct Renewal {
    pub at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
    pub reactivate: bool,
}

/// Writes a renewal to the tenant's connection (its lease, if any, ends).
pub async fn renewed<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    renewal: Renewal,
) -> Result<()> {
    let mut row = connection::ActiveModel {
        token_expires_at: Set(renewal.expires_at),
        last_refreshed_at: Set(Some(renewal.at)),
        refresh_lease_until: Set(None),
        refresh_lease_owner: Set(None),
        refresh_retry_at: Set(None),
        refresh_failures: Set(0),
        health_status: Set(HealthStatus::Healthy),
        last_error_reason_code: Set(None),
        last_error_message: Set(None),
        updated_at: Set(renewal.at),
        ..Default::default()
    };
    if let Some(scopes) = renewal.scopes {
        row.scopes_granted = Set(crate::models::json::StringList(scopes));
    }
    if renewal.reactivate {
        row.status = Set(ConnectionStatus::Active);
    }
    let update = connection::Entity::update_many()
        .set(row)
        .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(connection::Column::Id.eq(id.as_uuid()));
    tenancy::write(db, tenant, async |db| update.exec(db).await).await?;
    Ok(())
}

/// A failed renewal, as the provider's answer classified it.
pub struct Failure {
    pub reason_code: String,
    /// Sanitized.
    pub message: String,
    /// Only a new consent (or new client credentials) helps: `needs_reauth`.
    pub reauth: bool,
    /// When to try again (transient failures).
    pub retry_at: Option<DateTime<Utc>>,
    pub failures: i32,
}

/// Records a failure and releases the lease, only while `owner` still holds it.
/// Returns false, changing nothing, when the lease was lost meanwhile.
pub async fn failed<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    owner: Uuid,
    failure: Failure,
) -> Result<bool> {
    let mut row = connection::ActiveModel {
        refresh_lease_until: Set(None),
        refresh_lease_owner: Set(None),
        last_error_reason_code: Set(Some(failure.reason_code)),
        last_error_message: Set(Some(failure.message)),
        updated_at: Set(super::now()),
        ..Default::default()
    };
    if failure.reauth {
        row.status = Set(ConnectionStatus::NeedsReauth);
        row.health_status = Set(HealthStatus::Unhealthy);
    } else {
        row.health_status = Set(HealthStatus::Degraded);
        row.refresh_failures = Set(failure.failures);
        row.refresh_retry_at = Set(failure.retry_at);
    }
    let update = connection::Entity::update_many()
        .set(row)
        .filter(held_by(tenant, id, owner));
    let result = tenancy::write(db, tenant, async |db| update.exec(db).await).await?;
    Ok(result.rows_affected == 1)
}

/// Puts off the background renewal of a connection that could not be attempted (no
/// OAuth app, not an OAuth provider, a credential that cannot be read) until
/// `retry_at`, with its failure count and reason. Only while nobody holds its lease;
/// false when it was not changed.
pub async fn defer<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    failure: Failure,
) -> Result<bool> {
    let now = super::now();
    let update = connection::Entity::update_many()
        .set(connection::ActiveModel {
            refresh_retry_at: Set(failure.retry_at),
            refresh_failures: Set(failure.failures),
            last_error_reason_code: Set(Some(failure.reason_code)),
            last_error_message: Set(Some(failure.message)),
            updated_at: Set(now),
            ..Default::default()
        })
        .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(connection::Column::Id.eq(id.as_uuid()))
        .filter(lease_free(now));
    let result = tenancy::write(db, tenant, async |db| update.exec(db).await).await?;
    Ok(result.rows_affected == 1)
}

/// What the background selection is given.
#[derive(Clone, Copy, Debug)]
pub struct DueQuery {
    pub now: DateTime<Utc>,
    /// The margin of providers that declare none.
    pub margin: TimeDelta,
    /// Added to every provider's margin: the time until the next pass.
    pub ahead: TimeDelta,
    pub idle_before: DateTime<Utc>,
    pub limit: u32,
}

/// The connections the background refresher should renew now, across tenants, at most
/// `limit`: exactly those a lease with [`Due::ExpiresOrIdle`] and the provider's own
/// margin would be taken on. On PostgreSQL `connvault_due_refreshes` (one tenant at a
/// time under the policy, only ids come out); on SQLite its mirror
/// `migration::DUE_REFRESHES_SQLITE`.
pub async fn due(db: &DatabaseConnection, q: DueQuery) -> Result<Vec<(TenantId, ConnectionId)>> {
    let secs = |d: TimeDelta| d.num_milliseconds() as f64 / 1000.0;
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT o_tenant_id, o_connection_id \
             FROM connvault_due_refreshes($1, $2, $3, $4, $5)"
        }
        _ => migration::DUE_REFRESHES_SQLITE,
    };
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [
            q.now.into(),
            secs(q.margin).into(),
            secs(q.ahead).into(),
            q.idle_before.into(),
            (Ord::min(q.limit, i32::MAX as u32) as i32).into(),
        ],
    );
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
