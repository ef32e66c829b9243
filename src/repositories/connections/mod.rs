//! A tenant's connections. Every function takes the tenant and filters on it, so a
//! call with another tenant's id finds nothing and changes nothing.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    TryInsertResult, UpdateMany,
};

use super::page::{self, Cursor, Page, PageResult, Position};
use crate::error::{Error, Result, is_unique_violation};
use crate::models::checks::{check_instant, check_metadata, check_scopes};
use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::ids::parse_name;
use crate::models::json::StringList;
use crate::models::{ConnectionId, ExternalId, ProviderSlug, TenantId, provider, tenant};
use crate::tenancy::{self, Scoped, TenantScope};

mod defaults;
mod gating;
mod status;

pub use defaults::{make_default, promote_default};
pub use gating::{GateRow, gate_candidates};
pub use status::{ConnectionError, TokenStatusPatch, update_tokens_status};

pub const DISPLAY_NAME_MAX_LEN: usize = 200;
pub const ERROR_MESSAGE_MAX_LEN: usize = 1000;

/// What it takes to create a connection; [`NewConnection::new`] fills the rest with
/// the defaults of a connection that has just been started.
#[derive(Clone, Debug, PartialEq)]
pub struct NewConnection {
    /// Chosen by the caller so that a credential can be encrypted for the row (the
    /// row id is part of the ciphertext's associated data) before it exists.
    pub id: ConnectionId,
    pub provider: ProviderSlug,
    pub external_id: ExternalId,
    pub display_name: Option<String>,
    pub status: ConnectionStatus,
    pub scopes_granted: Vec<String>,
    pub metadata: serde_json::Value,
    pub token_expires_at: Option<DateTime<Utc>>,
}

impl NewConnection {
    pub fn new(provider: ProviderSlug, external_id: ExternalId) -> Self {
        Self {
            id: ConnectionId::new_v4(),
            provider,
            external_id,
            display_name: None,
            status: ConnectionStatus::Pending,
            scopes_granted: Vec::new(),
            metadata: serde_json::Value::Object(Default::default()),
            token_expires_at: None,
        }
    }

    /// Checks every field the caller chose, before any query: [`create`] calls it,
    /// and a service may call it before it encrypts a credential for the row.
    pub fn check(&self) -> Result<()> {
        if let Some(name) = &self.display_name {
            parse_name("display_name", name, DISPLAY_NAME_MAX_LEN)?;
        }
        check_metadata("metadata", &self.metadata)?;
        check_scopes("scopes_granted", &self.scopes_granted)?;
        if let Some(at) = self.token_expires_at {
            check_instant("token_expires_at", at)?;
        }
        Ok(())
    }
}

/// Creates a connection in `tenant`. The first connection of a tenant to a provider
/// becomes that provider's default. Fails with `UnknownTenant`, `UnknownProvider` or
/// `DuplicateConnection` (naming the tenant's existing connection), writing nothing.
pub async fn create<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    input: NewConnection,
) -> Result<connection::Model> {
    input.check()?;
    let display_name = input
        .display_name
        .as_deref()
        .map(|n| parse_name("display_name", n, DISPLAY_NAME_MAX_LEN))
        .transpose()?;

    tenancy::write(db, tenant, async |txn| {
        insert(txn, tenant, input, display_name).await
    })
    .await
}

async fn insert(
    txn: &Scoped<'_>,
    tenant: TenantId,
    input: NewConnection,
    display_name: Option<String>,
) -> Result<connection::Model> {
    if tenant::Entity::find_by_id(tenant.as_uuid())
        .one(txn)
        .await?
        .is_none()
    {
        return Err(Error::UnknownTenant(tenant.as_uuid()));
    }
    if provider::Entity::find_by_id(input.provider.as_str())
        .one(txn)
        .await?
        .is_none()
    {
        return Err(Error::UnknownProvider(input.provider.to_string()));
    }

    let now = super::now();
    let id = input.id.as_uuid();
    let row = connection::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.as_uuid()),
        provider_slug: Set(input.provider.as_str().to_owned()),
        external_id: Set(input.external_id.as_str().to_owned()),
        display_name: Set(display_name),
        status: Set(input.status),
        health_status: Set(HealthStatus::Unknown),
        is_default: Set(false),
        scopes_granted: Set(StringList(input.scopes_granted)),
        token_expires_at: Set(input.token_expires_at),
        last_health_check_at: Set(None),
        last_error_reason_code: Set(None),
        last_error_message: Set(None),
        metadata: Set(input.metadata),
        created_at: Set(now),
        updated_at: Set(now),
        refresh_lease_until: Set(None),
        refresh_lease_owner: Set(None),
        last_refreshed_at: Set(input.token_expires_at.map(|_| now)),
        refresh_retry_at: Set(None),
        refresh_failures: Set(0),
        health_check_due_at: Set(None),
        health_lease_until: Set(None),
        health_lease_owner: Set(None),
    };
    // A row with the same (tenant, provider, external id) makes the insert do nothing
    // instead of failing, so the transaction stays usable to name that row: the
    // caller's own (the key starts with the tenant).
    let inserted = connection::Entity::insert(row)
        .on_conflict_do_nothing_on([
            connection::Column::TenantId,
            connection::Column::ProviderSlug,
            connection::Column::ExternalId,
        ])
        .exec_without_returning(txn)
        .await;
    let duplicate = |existing| Error::DuplicateConnection {
        provider: input.provider.to_string(),
        external_id: input.external_id.to_string(),
        existing,
    };
    match inserted {
        Ok(TryInsertResult::Inserted(n)) if n > 0 => {}
        Ok(_) => {
            let existing = find_by_unique(txn, tenant, &input.provider, &input.external_id)
                .await?
                .map(|c| c.connection_id());
            return Err(duplicate(existing));
        }
        Err(err) if is_unique_violation(&err) => return Err(duplicate(None)),
        Err(err) => return Err(err.into()),
    }

    // Become the default unless the provider already has one. A concurrent first
    // connection may win the race for the partial unique index; then this one simply
    // stays non-default, so the savepoint keeps the failed statement from aborting
    // the transaction.
    let has_default = Query::select()
        .expr(Expr::val(1))
        .from(connection::Entity)
        .and_where(connection::Column::TenantId.eq(tenant.as_uuid()))
        .and_where(connection::Column::ProviderSlug.eq(input.provider.as_str()))
        .and_where(connection::Column::IsDefault.eq(true))
        .to_owned();
    let savepoint = txn.begin().await?;
    let claimed = connection::Entity::update_many()
        .col_expr(connection::Column::IsDefault, Expr::val(true))
        .filter(connection::Column::Id.eq(id))
        .filter(Expr::exists(has_default).not())
        .exec(&savepoint)
        .await;
    match claimed {
        Ok(_) => savepoint.commit().await?,
        Err(err) if is_unique_violation(&err) => savepoint.rollback().await?,
        Err(err) => return Err(err.into()),
    }

    connection::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound("connection"))
}

fn scoped(tenant: TenantId) -> sea_orm::Select<connection::Entity> {
    connection::Entity::find().filter(connection::Column::TenantId.eq(tenant.as_uuid()))
}

/// The tenant's connection with this id, or `None` (also when it belongs to another tenant).
pub async fn get_by_id<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<connection::Model>> {
    let query = scoped(tenant).filter(connection::Column::Id.eq(id.as_uuid()));
    tenancy::read(db, tenant, async |db| Ok(query.one(db).await?)).await
}

/// The tenant's connection, locked for the rest of the transaction (`FOR UPDATE` on
/// PostgreSQL); `NotFound` when the tenant has none with this id.
pub async fn lock<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<connection::Model> {
    let query = scoped(tenant)
        .filter(connection::Column::Id.eq(id.as_uuid()))
        .lock_exclusive();
    tenancy::write(db, tenant, async |db| {
        query.one(db).await?.ok_or(Error::NotFound("connection"))
    })
    .await
}

/// The tenant's connection to this external account of this provider, if any.
pub async fn find_by_unique<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    provider: &ProviderSlug,
    external_id: &ExternalId,
) -> Result<Option<connection::Model>> {
    let query = scoped(tenant)
        .filter(connection::Column::ProviderSlug.eq(provider.as_str()))
        .filter(connection::Column::ExternalId.eq(external_id.as_str()));
    tenancy::read(db, tenant, async |db| Ok(query.one(db).await?)).await
}

/// Filters of a connection listing; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct ConnectionFilter {
    pub provider: Option<ProviderSlug>,
    pub status: Option<ConnectionStatus>,
    pub health: Option<HealthStatus>,
}

/// One page of the tenant's connections to a provider, oldest first (ties broken by id).
pub async fn list_by_tenant_provider<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    provider: &ProviderSlug,
    page: Page,
) -> Result<PageResult<connection::Model>> {
    let filter = ConnectionFilter {
        provider: Some(provider.clone()),
        ..Default::default()
    };
    list(db, tenant, &filter, page).await
}

/// One page of the tenant's connections matching `filter`, oldest first.
pub async fn list<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    filter: &ConnectionFilter,
    page: Page,
) -> Result<PageResult<connection::Model>> {
    let limit = page.effective_limit();
    let mut query = scoped(tenant);
    if let Some(provider) = &filter.provider {
        query = query.filter(connection::Column::ProviderSlug.eq(provider.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(connection::Column::Status.eq(status));
    }
    if let Some(health) = filter.health {
        query = query.filter(connection::Column::HealthStatus.eq(health));
    }
    if let Some(cursor) = page.after.as_deref() {
        let after = Position::decode(cursor)?;
        query = query.filter(
            connection::Column::CreatedAt
                .gt(after.created_at)
                .or(connection::Column::CreatedAt
                    .eq(after.created_at)
                    .and(connection::Column::Id.gt(after.id))),
        );
    }
    let query = query
        .order_by_asc(connection::Column::CreatedAt)
        .order_by_asc(connection::Column::Id)
        .limit(limit + 1);
    let items = tenancy::read(db, tenant, async |db| query.all(db).await).await?;
    Ok(page::finish(items, limit, |c| Position {
        created_at: c.created_at,
        id: c.id,
    }))
}

/// How many live (not revoked) connections the tenant has per provider.
pub async fn count_by_provider<C: TenantScope>(
    db: &C,
    tenant: TenantId,
) -> Result<Vec<(String, i64)>> {
    let query = scoped(tenant)
        .filter(connection::Column::Status.ne(ConnectionStatus::Revoked))
        .select_only()
        .column(connection::Column::ProviderSlug)
        .column_as(connection::Column::Id.count(), "n")
        .group_by(connection::Column::ProviderSlug)
        .into_tuple();
    tenancy::read(db, tenant, async |db| Ok(query.all(db).await?)).await
}

/// The tenant's default connection of each provider that has one.
pub async fn defaults<C: TenantScope>(db: &C, tenant: TenantId) -> Result<Vec<connection::Model>> {
    let query = scoped(tenant).filter(connection::Column::IsDefault.eq(true));
    tenancy::read(db, tenant, async |db| Ok(query.all(db).await?)).await
}

/// A change of a connection's descriptive fields. `display_name: Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetailsPatch {
    pub display_name: Option<Option<String>>,
    pub metadata: Option<serde_json::Value>,
    pub status: Option<ConnectionStatus>,
}

/// Applies `patch`; returns the row before and after. `NotFound` when the tenant has no
/// such connection.
pub async fn update_details<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    patch: DetailsPatch,
) -> Result<(connection::Model, connection::Model)> {
    let mut row = connection::ActiveModel {
        updated_at: Set(super::now()),
        ..Default::default()
    };
    if let Some(name) = patch.display_name {
        let name = name
            .as_deref()
            .map(|n| parse_name("display_name", n, DISPLAY_NAME_MAX_LEN))
            .transpose()?;
        row.display_name = Set(name);
    }
    if let Some(metadata) = patch.metadata {
        check_metadata("metadata", &metadata)?;
        row.metadata = Set(metadata);
    }
    if let Some(status) = patch.status {
        row.status = Set(status);
    }
    tenancy::write(db, tenant, async |db| {
        let before = get_by_id(db, tenant, id)
            .await?
            .ok_or(Error::NotFound("connection"))?;
        let after = update_one(db, tenant, id, connection::Entity::update_many().set(row)).await?;
        Ok((before, after))
    })
    .await
}

/// Marks the connection revoked and no longer the default; returns the updated row.
pub async fn revoke<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<connection::Model> {
    let revoke = connection::Entity::update_many()
        .col_expr(connection::Column::Status, Expr::val("revoked"))
        .col_expr(connection::Column::IsDefault, Expr::val(false))
        .col_expr(
            connection::Column::TokenExpiresAt,
            Expr::val(Option::<DateTime<Utc>>::None),
        )
        .col_expr(connection::Column::UpdatedAt, Expr::val(super::now()));
    update_one(db, tenant, id, revoke).await
}

/// Deletes the tenant's connection (its credential goes with it); returns the deleted
/// row, or `NotFound`.
pub async fn delete<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<connection::Model> {
    tenancy::write(db, tenant, async |db| {
        let row = get_by_id(db, tenant, id)
            .await?
            .ok_or(Error::NotFound("connection"))?;
        connection::Entity::delete_many()
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.eq(id.as_uuid()))
            .exec(db)
            .await?;
        Ok(row)
    })
    .await
}

/// Applies `update` to the tenant's connection `id` and returns the row as updated;
/// `NotFound` (and no change) when the tenant has no such connection.
pub(super) async fn update_one<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    update: UpdateMany<connection::Entity>,
) -> Result<connection::Model> {
    let update = update
        .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(connection::Column::Id.eq(id.as_uuid()));
    tenancy::write(db, tenant, async |db| {
        update
            .exec_with_returning(db)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::NotFound("connection"))
    })
    .await
}
