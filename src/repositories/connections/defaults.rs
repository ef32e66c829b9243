//! The default connection of a (tenant, provider): at most one, by a partial unique
//! index; moved by `make_default` in one transaction, and promoted when the default
//! leaves.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
use uuid::Uuid;

use super::{get_by_id, scoped};
use crate::error::{Error, Result, is_unique_violation};
use crate::models::connection::{self, ConnectionStatus};
use crate::models::{ConnectionId, TenantId};
use crate::tenancy::{self, Scoped, TenantScope};

/// When the tenant has no default for `provider` any more, makes its oldest active
/// connection the default and returns it; `None` when a default exists or no active
/// connection is left. A concurrent promotion or `make_default` that wins the partial
/// unique index leaves this one a no-op (in a savepoint, so the caller's transaction
/// goes on).
pub async fn promote_default<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    provider: &str,
) -> Result<Option<connection::Model>> {
    let group = scoped(tenant).filter(connection::Column::ProviderSlug.eq(provider));
    tenancy::write(db, tenant, async |txn| {
        let has_default = group
            .clone()
            .filter(connection::Column::IsDefault.eq(true))
            .one(txn)
            .await?
            .is_some();
        if has_default {
            return Ok(None);
        }
        let Some(oldest) = group
            .clone()
            .filter(connection::Column::Status.eq(ConnectionStatus::Active))
            .order_by_asc(connection::Column::CreatedAt)
            .order_by_asc(connection::Column::Id)
            .one(txn)
            .await?
        else {
            return Ok(None);
        };
        let savepoint = txn.begin().await?;
        let claimed = connection::Entity::update_many()
            .col_expr(connection::Column::IsDefault, Expr::val(true))
            .col_expr(
                connection::Column::UpdatedAt,
                Expr::val(crate::repositories::now()),
            )
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.eq(oldest.id))
            .exec_with_returning(&savepoint)
            .await;
        match claimed {
            Ok(rows) => {
                savepoint.commit().await?;
                Ok(rows.into_iter().next())
            }
            Err(err) if is_unique_violation(&err) => {
                savepoint.rollback().await?;
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    })
    .await
}

/// Makes the tenant's connection the default for its provider, in one transaction:
/// afterwards exactly one connection of that (tenant, provider) is the default, also
/// when several callers race.
pub async fn make_default<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<connection::Model> {
    tenancy::write(db, tenant, async |txn| set_default(txn, tenant, id).await).await
}

async fn set_default(
    txn: &Scoped<'_>,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<connection::Model> {
    let target = get_by_id(txn, tenant, id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    // Lock the whole (tenant, provider) group in id order, so that concurrent calls
    // queue up instead of each clearing a default the other has not seen yet. SQLite
    // needs no row locks: its write transaction is already exclusive.
    let group: Vec<(Uuid, bool, ConnectionStatus)> = scoped(tenant)
        .filter(connection::Column::ProviderSlug.eq(&target.provider_slug))
        .select_only()
        .column(connection::Column::Id)
        .column(connection::Column::IsDefault)
        .column(connection::Column::Status)
        .order_by_asc(connection::Column::Id)
        .lock_exclusive()
        .into_tuple()
        .all(txn)
        .await?;
    // Checked under the lock: a concurrent disconnect cannot slip in between.
    let Some(&(_, is_default, status)) = group.iter().find(|(gid, _, _)| *gid == target.id) else {
        return Err(Error::NotFound("connection"));
    };
    if status == ConnectionStatus::Revoked {
        return Err(Error::invalid(
            "status",
            "a revoked connection cannot be made the default",
        ));
    }
    if !is_default {
        let now = crate::repositories::now();
        connection::Entity::update_many()
            .col_expr(connection::Column::IsDefault, Expr::val(false))
            .col_expr(connection::Column::UpdatedAt, Expr::val(now))
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::ProviderSlug.eq(&target.provider_slug))
            .filter(connection::Column::IsDefault.eq(true))
            .exec(txn)
            .await?;
        connection::Entity::update_many()
            .col_expr(connection::Column::IsDefault, Expr::val(true))
            .col_expr(connection::Column::UpdatedAt, Expr::val(now))
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.eq(target.id))
            .exec(txn)
            .await?;
    }
    get_by_id(txn, tenant, id)
        .await?
        .ok_or(Error::NotFound("connection"))
}
