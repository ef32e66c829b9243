//! A tenant's repository connections (the `repository_connections` row beside each
//! one's `connections` row), and the one lookup across tenants an inbound webhook
//! needs: which tenant, provider and status a connection id has.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::page::{self, Cursor, Page, PageResult, Position};
use crate::error::Result;
use crate::models::connection::{self, ConnectionStatus};
use crate::models::{ConnectionId, TenantId, repository_connection};
use crate::tenancy::{self, TenantScope};

/// Makes `connection` a repository connection, or touches its row; `webhook_id`
/// `Some(..)` sets (or clears) the webhook id, `None` keeps it.
pub async fn upsert<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection: ConnectionId,
    webhook_id: Option<Option<String>>,
) -> Result<repository_connection::Model> {
    let now = super::now();
    let row = repository_connection::ActiveModel {
        connection_id: Set(connection.as_uuid()),
        tenant_id: Set(tenant.as_uuid()),
        webhook_id: Set(webhook_id.clone().flatten()),
        last_sync_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let mut update = vec![repository_connection::Column::UpdatedAt];
    if webhook_id.is_some() {
        update.push(repository_connection::Column::WebhookId);
    }
    let insert = repository_connection::Entity::insert(row).on_conflict(
        OnConflict::column(repository_connection::Column::ConnectionId)
            .update_columns(update)
            .to_owned(),
    );
    tenancy::write(db, tenant, async |db| {
        insert.exec_without_returning(db).await?;
        let found = repository_connection::Entity::find_by_id(connection.as_uuid())
            .filter(repository_connection::Column::TenantId.eq(tenant.as_uuid()))
            .one(db)
            .await?;
        found.ok_or(crate::error::Error::NotFound("repository"))
    })
    .await
}

/// The tenant's repository connection row, if `connection` is one.
pub async fn get<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<Option<repository_connection::Model>> {
    let query = repository_connection::Entity::find_by_id(connection.as_uuid())
        .filter(repository_connection::Column::TenantId.eq(tenant.as_uuid()));
    tenancy::read(db, tenant, async |db| Ok(query.one(db).await?)).await
}

/// Sets (or clears) the webhook id.
pub async fn set_webhook_id<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection: ConnectionId,
    webhook_id: Option<String>,
) -> Result<()> {
    let update = repository_connection::Entity::update_many()
        .col_expr(
            repository_connection::Column::WebhookId,
            sea_orm::sea_query::Expr::val(webhook_id),
        )
        .col_expr(
            repository_connection::Column::UpdatedAt,
            sea_orm::sea_query::Expr::val(super::now()),
        )
        .filter(repository_connection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(repository_connection::Column::ConnectionId.eq(connection.as_uuid()));
    tenancy::write(db, tenant, async |db| {
        Ok(update.exec(db).await.map(|_| ())?)
    })
    .await
}

/// Records a verified delivery's time as the last sync.
pub async fn record_sync<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection: ConnectionId,
    at: DateTime<Utc>,
) -> Result<()> {
    let update = repository_connection::Entity::update_many()
        .col_expr(
            repository_connection::Column::LastSyncAt,
            sea_orm::sea_query::Expr::val(Some(at)),
        )
        .filter(repository_connection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(repository_connection::Column::ConnectionId.eq(connection.as_uuid()));
    tenancy::write(db, tenant, async |db| {
        Ok(update.exec(db).await.map(|_| ())?)
    })
    .await
}

/// One page of the tenant's repository connections with their connection rows, oldest
/// first.
pub async fn list<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    page: Page,
) -> Result<PageResult<(repository_connection::Model, connection::Model)>> {
    let limit = page.effective_limit();
    let mut query = repository_connection::Entity::find()
        .filter(repository_connection::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(cursor) = page.after.as_deref() {
        let after = Position::decode(cursor)?;
        query = query.filter(
            repository_connection::Column::CreatedAt
                .gt(after.created_at)
                .or(repository_connection::Column::CreatedAt
                    .eq(after.created_at)
                    .and(repository_connection::Column::ConnectionId.gt(after.id))),
        );
    }
    let query = query
        .order_by_asc(repository_connection::Column::CreatedAt)
        .order_by_asc(repository_connection::Column::ConnectionId)
        .limit(limit + 1);
    let items = tenancy::read(db, tenant, async |db| {
        let rows = query.all(db).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.connection_id).collect();
        let conns = connection::Entity::find()
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.is_in(ids))
            .all(db)
            .await?;
        let joined: Vec<_> = rows
            .into_iter()
            .filter_map(|r| {
                let c = conns.iter().find(|c| c.id == r.connection_id)?.clone();
                Some((r, c))
            })
            .collect();
        Ok::<_, crate::error::Error>(joined)
    })
    .await?;
    Ok(page::finish(items, limit, |(r, _)| Position {
        created_at: r.created_at,
        id: r.connection_id,
    }))
}

/// What an inbound delivery may learn of a connection before its tenant is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookTarget {
    pub tenant: TenantId,
    pub provider_slug: String,
    pub status: ConnectionStatus,
}

/// The tenant, provider and status of the connection `id`, of whichever tenant. On
/// PostgreSQL through `connvault_webhook_connection`, which sees that one row only.
pub async fn webhook_target(
    db: &DatabaseConnection,
    id: ConnectionId,
) -> Result<Option<WebhookTarget>> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT o_tenant_id, o_provider_slug, o_status FROM connvault_webhook_connection($1)",
                [id.as_uuid().into()],
            ))
            .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("", "o_status")?;
        let status = match sea_orm::ActiveEnum::try_from_value(&status) {
            Ok(s) => s,
            Err(_) => return Ok(None),
        };
        return Ok(Some(WebhookTarget {
            tenant: TenantId::from_uuid(row.try_get("", "o_tenant_id")?),
            provider_slug: row.try_get("", "o_provider_slug")?,
            status,
        }));
    }
    let found = connection::Entity::find_by_id(id.as_uuid()).one(db).await?;
    Ok(found.map(|c| WebhookTarget {
        tenant: c.tenant(),
        provider_slug: c.provider_slug,
        status: c.status,
    }))
}
