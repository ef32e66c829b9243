//! A tenant's webhook events: stored once per (connection, delivery id), listed newest
//! first, purged after the retention period.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::page::{self, Cursor, Page, PageResult, Position};
use crate::error::Result;
use crate::models::{ConnectionId, TenantId, webhook_event};
use crate::tenancy::{self, TenantScope};

/// A verified delivery to store.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub connection: ConnectionId,
    pub delivery_id: String,
    pub event_type: String,
    pub headers: serde_json::Value,
    pub payload: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

/// Stores the event unless the connection has one with this delivery id already (the
/// unique index decides, also between concurrent copies). The new event's id, or
/// `None` for a duplicate.
pub async fn insert<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    event: NewEvent,
) -> Result<Option<Uuid>> {
    let id = Uuid::new_v4();
    let row = webhook_event::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.as_uuid()),
        connection_id: Set(event.connection.as_uuid()),
        delivery_id: Set(event.delivery_id),
        event_type: Set(event.event_type),
        headers: Set(event.headers),
        payload: Set(event.payload),
        received_at: Set(event.received_at),
    };
    let insert = webhook_event::Entity::insert(row).on_conflict(
        OnConflict::columns([
            webhook_event::Column::ConnectionId,
            webhook_event::Column::DeliveryId,
        ])
        .do_nothing()
        .to_owned(),
    );
    let stored = tenancy::write(db, tenant, async |db| {
        insert.exec_without_returning(db).await
    })
    .await?;
    Ok((stored == 1).then_some(id))
}

/// Filters of the event list; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub connection: Option<ConnectionId>,
    pub event_type: Option<String>,
}

/// One page of the tenant's events, newest first (ties broken by id).
pub async fn list<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    filter: &EventFilter,
    page: Page,
) -> Result<PageResult<webhook_event::Model>> {
    let limit = page.effective_limit();
    let mut query =
        webhook_event::Entity::find().filter(webhook_event::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(connection) = filter.connection {
        query = query.filter(webhook_event::Column::ConnectionId.eq(connection.as_uuid()));
    }
    if let Some(event) = &filter.event_type {
        query = query.filter(webhook_event::Column::EventType.eq(event.as_str()));
    }
    if let Some(cursor) = page.after.as_deref() {
        let after = Position::decode(cursor)?;
        query = query.filter(
            webhook_event::Column::ReceivedAt.lt(after.created_at).or(
                webhook_event::Column::ReceivedAt
                    .eq(after.created_at)
                    .and(webhook_event::Column::Id.lt(after.id)),
            ),
        );
    }
    let query = query
        .order_by_desc(webhook_event::Column::ReceivedAt)
        .order_by_desc(webhook_event::Column::Id)
        .limit(limit + 1);
    let items = tenancy::read(db, tenant, async |db| query.all(db).await).await?;
    Ok(page::finish(items, limit, |e| Position {
        created_at: e.received_at,
        id: e.id,
    }))
}

/// Deletes every tenant's events received before `before`; returns how many. On
/// PostgreSQL `connvault_purge_webhook_events` visits the tenants one at a time under
/// the policy.
pub async fn purge(db: &DatabaseConnection, before: DateTime<Utc>) -> Result<u64> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT connvault_purge_webhook_events($1) AS n",
                [before.into()],
            ))
            .await?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    let result = webhook_event::Entity::delete_many()
        .filter(webhook_event::Column::ReceivedAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
