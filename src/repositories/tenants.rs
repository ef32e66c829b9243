//! Tenants: create, get, list.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, Set};

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
