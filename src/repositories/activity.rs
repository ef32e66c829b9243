//! The activity log: append (inside the transaction of the change it records) and list.

use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::page::{self, Cursor, Page, PageResult, Position};
use crate::error::Result;
use crate::models::TenantId;
use crate::models::activity::{self, Action};
use crate::tenancy::{self, TenantScope};

/// Who did it: the API key (or `None` for the CLI), with its name copied in so the
/// entry stays readable after the key is revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub key_id: Option<Uuid>,
    pub name: String,
}

impl Actor {
    pub fn system(name: &str) -> Self {
        Self {
            key_id: None,
            name: name.to_owned(),
        }
    }
}

/// One entry to append. `details` must hold no secret.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    pub connection_id: Option<Uuid>,
    pub provider_slug: Option<&'a str>,
    pub action: Action,
    pub details: serde_json::Value,
}

pub async fn record<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    actor: &Actor,
    entry: Entry<'_>,
) -> Result<activity::Model> {
    // The outbound event this entry reports, if any: written with it, in the change's
    // transaction (the outbox), so neither exists without the other.
    let event = crate::events::from_activity(
        entry.action,
        entry.connection_id,
        entry.provider_slug,
        &actor.name,
        &entry.details,
    );
    let row = activity::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(tenant.as_uuid()),
        connection_id: Set(entry.connection_id),
        provider_slug: Set(entry.provider_slug.map(str::to_owned)),
        action: Set(entry.action),
        actor_key_id: Set(actor.key_id),
        actor_name: Set(actor.name.clone()),
        details: Set(entry.details),
        created_at: Set(super::now()),
    };
    tenancy::write(db, tenant, async |db| {
        let row = row.insert(db).await?;
        if let Some((event_type, data)) = event {
            super::events::emit(db, tenant, event_type, data).await?;
        }
        Ok(row)
    })
    .await
}

/// Filters of the activity list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub connection_id: Option<Uuid>,
    pub action: Option<Action>,
}

/// A page of the tenant's activity, newest first.
pub async fn list<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    filter: Filter,
    page: Page,
) -> Result<PageResult<activity::Model>> {
    let limit = page.effective_limit();
    let mut query =
        activity::Entity::find().filter(activity::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(c) = filter.connection_id {
        query = query.filter(activity::Column::ConnectionId.eq(c));
    }
    if let Some(a) = filter.action {
        query = query.filter(activity::Column::Action.eq(a));
    }
    if let Some(cursor) = page.after.as_deref() {
        let after = Position::decode(cursor)?;
        query = query.filter(
            activity::Column::CreatedAt
                .lt(after.created_at)
                .or(activity::Column::CreatedAt
                    .eq(after.created_at)
                    .and(activity::Column::Id.lt(after.id))),
        );
    }
    let query = query
        .order_by_desc(activity::Column::CreatedAt)
        .order_by_desc(activity::Column::Id)
        .limit(limit + 1);
    let items = tenancy::read(db, tenant, async |db| query.all(db).await).await?;
    Ok(page::finish(items, limit, |a| Position {
        created_at: a.created_at,
        id: a.id,
    }))
}
