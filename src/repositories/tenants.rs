//! Tenants: create, get, list.

use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::page::{self, Cursor, Page, PageResult, Position};
use crate::error::Result;
use crate::models::ids::parse_name;
use crate::models::{TenantId, tenant};

pub const NAME_MAX_LEN: usize = 200;

pub async fn create<C: ConnectionTrait>(db: &C, name: &str) -> Result<tenant::Model> {
    let name = parse_name("name", name, NAME_MAX_LEN)?;
    let model = tenant::ActiveModel {
        id: Set(TenantId::new_v4().as_uuid()),
        name: Set(name),
        created_at: Set(super::now()),
    };
    Ok(model.insert(db).await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: TenantId) -> Result<Option<tenant::Model>> {
    Ok(tenant::Entity::find_by_id(id.as_uuid()).one(db).await?)
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<tenant::Model>> {
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::CreatedAt)
        .order_by_asc(tenant::Column::Id)
        .all(db)
        .await?)
}

/// One page of the tenants, oldest first.
pub async fn list_page<C: ConnectionTrait>(
    db: &C,
    page: Page,
) -> Result<PageResult<tenant::Model>> {
    let limit = page.effective_limit();
    let mut query = tenant::Entity::find();
    if let Some(cursor) = page.after.as_deref() {
        let after = Position::decode(cursor)?;
        query = query.filter(
            tenant::Column::CreatedAt
                .gt(after.created_at)
                .or(tenant::Column::CreatedAt
                    .eq(after.created_at)
                    .and(tenant::Column::Id.gt(after.id))),
        );
    }
    let items = query
        .order_by_asc(tenant::Column::CreatedAt)
        .order_by_asc(tenant::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(page::finish(items, limit, |t| Position {
        created_at: t.created_at,
        id: t.id,
    }))
}
