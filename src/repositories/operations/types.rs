//! The registry of operation types (global, set by operators): put, get, list, delete.
//! A type with runs cannot be deleted (`Error::OperationTypeInUse`).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionSession, TransactionTrait,
};

use super::super::page::{self, Cursor, KeyPosition, Page, PageResult};
use crate::error::{Error, Result};
use crate::models::json::StringList;
use crate::models::operation_type::{self, OperationTypeName};
use crate::models::{ProviderSlug, operation_run};

/// Everything that defines an operation type, checked by the service before it
/// reaches here.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationTypeInput {
    pub name: OperationTypeName,
    pub provider: ProviderSlug,
    pub required_scopes: Vec<String>,
    pub module: String,
    pub max_attempts: i32,
    pub heartbeat_timeout_seconds: i32,
    pub dedupe: bool,
}

/// Creates the type or replaces its definition; `true` when it was created. The
/// provider must be in the catalog (`Error::UnknownProvider`).
pub async fn put<C: TransactionTrait>(
    db: &C,
    input: OperationTypeInput,
) -> Result<(operation_type::Model, bool)> {
    let txn = super::super::begin_write(db).await?;
    if super::super::providers::get_by_slug(&txn, &input.provider)
        .await?
        .is_none()
    {
        return Err(Error::UnknownProvider(input.provider.to_string()));
    }
    let now = super::super::now();
    let existing = get(&txn, input.name.as_str()).await?;
    let created = existing.is_none();
    let model = match existing {
        Some(existing) => {
            let mut row: operation_type::ActiveModel = existing.into();
            row.provider_slug = Set(input.provider.as_str().to_owned());
            row.required_scopes = Set(StringList(input.required_scopes));
            row.module = Set(input.module);
            row.max_attempts = Set(input.max_attempts);
            row.heartbeat_timeout_seconds = Set(input.heartbeat_timeout_seconds);
            row.dedupe = Set(input.dedupe);
            row.updated_at = Set(now);
            row.update(&txn).await?
        }
        None => {
            operation_type::ActiveModel {
                operation_type: Set(input.name.as_str().to_owned()),
                provider_slug: Set(input.provider.as_str().to_owned()),
                required_scopes: Set(StringList(input.required_scopes)),
                module: Set(input.module),
                max_attempts: Set(input.max_attempts),
                heartbeat_timeout_seconds: Set(input.heartbeat_timeout_seconds),
                dedupe: Set(input.dedupe),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    Ok((model, created))
}

pub async fn get<C: ConnectionTrait>(db: &C, name: &str) -> Result<Option<operation_type::Model>> {
    Ok(operation_type::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?)
}

/// One page of the registry, in name order.
pub async fn list_page<C: ConnectionTrait>(
    db: &C,
    page: Page,
) -> Result<PageResult<operation_type::Model>> {
    let limit = page.effective_limit();
    let mut query = operation_type::Entity::find();
    if let Some(cursor) = page.after.as_deref() {
        let after = KeyPosition::decode(cursor)?;
        query = query.filter(operation_type::Column::OperationType.gt(after.key));
    }
    let items = query
        .order_by_asc(operation_type::Column::OperationType)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(page::finish(items, limit, |t| KeyPosition {
        key: t.operation_type.clone(),
    }))
}

/// Deletes the type: `NotFound` when there is none, `OperationTypeInUse` while any
/// tenant has a run of it. On PostgreSQL the foreign key from the runs decides (its
/// check is not bound by row-level security); on SQLite the transaction holds the
/// write lock, so no run can be started between the check and the delete.
pub async fn delete<C: TransactionTrait>(db: &C, name: &str) -> Result<()> {
    let txn = super::super::begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Sqlite {
        let runs = operation_run::Entity::find()
            .filter(operation_run::Column::OperationType.eq(name))
            .limit(1)
            .count(&txn)
            .await?;
        if runs > 0 {
            return Err(Error::OperationTypeInUse(name.to_owned()));
        }
    }
    let deleted = operation_type::Entity::delete_by_id(name.to_owned())
        .exec(&txn)
        .await
        .map_err(|e| in_use(e, name))?;
    if deleted.rows_affected == 0 {
        return Err(Error::NotFound("operation type"));
    }
    txn.commit().await.map_err(|e| in_use(e, name))?;
    Ok(())
}

fn in_use(err: DbErr, name: &str) -> Error {
    match err.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
            Error::OperationTypeInUse(name.to_owned())
        }
        _ => Error::Database(err),
    }
}
