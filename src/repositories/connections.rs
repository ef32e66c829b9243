//! A tenant's connections. Every function takes the tenant and filters on it, so a
//! call with another tenant's id finds nothing and changes nothing.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    TryInsertResult, UpdateMany,
};
use uuid::Uuid;

use super::page::{self, Cursor, Page, PageResult, Position};
use crate::error::{Error, Result, is_unique_violation};
use crate::models::checks::{check_instant, check_metadata, check_scopes};
use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::ids::parse_name;
use crate::models::json::StringList;
use crate::models::{ConnectionId, ExternalId, ProviderSlug, TenantId, provider, tenant};
use crate::sanitize;
use crate::tenancy::{self, Scoped, TenantScope};

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

/// The last error seen on a connection: a stable reason code and a sanitized message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionError {
    pub reason_code: String,
    pub message: String,
}

/// A partial update of a connection's token metadata and state (the credential itself
/// is stored through `services::credentials`). `None` leaves a field as it
/// is; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenStatusPatch {
    pub token_expires_at: Option<Option<DateTime<Utc>>>,
    pub scopes_granted: Option<Vec<String>>,
    pub status: Option<ConnectionStatus>,
    pub health_status: Option<HealthStatus>,
    pub last_health_check_at: Option<Option<DateTime<Utc>>>,
    pub last_error: Option<Option<ConnectionError>>,
}

fn check_error(error: &ConnectionError) -> Result<String> {
    let code = &error.reason_code;
    let valid_code = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid_code {
        return Err(Error::invalid(
            "last_error.reason_code",
            "use 1 to 64 characters of a-z, 0-9 and '_'",
        ));
    }
    Ok(sanitize::message(&error.message, ERROR_MESSAGE_MAX_LEN))
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

/// Applies `patch` to the tenant's connection and returns the updated row;
/// `NotFound` (and no change) when the tenant has no such connection.
pub async fn update_tokens_status<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    patch: TokenStatusPatch,
) -> Result<connection::Model> {
    let mut row = connection::ActiveModel {
        updated_at: Set(super::now()),
        ..Default::default()
    };
    if let Some(v) = patch.token_expires_at {
        if let Some(at) = v {
            check_instant("token_expires_at", at)?;
        }
        row.token_expires_at = Set(v);
    }
    if let Some(v) = patch.scopes_granted {
        check_scopes("scopes_granted", &v)?;
        row.scopes_granted = Set(StringList(v));
    }
    if let Some(v) = patch.status {
        row.status = Set(v);
    }
    if let Some(v) = patch.health_status {
        row.health_status = Set(v);
    }
    if let Some(v) = patch.last_health_check_at {
        if let Some(at) = v {
            check_instant("last_health_check_at", at)?;
        }
        row.last_health_check_at = Set(v);
    }
    if let Some(error) = patch.last_error {
        match error {
            Some(error) => {
                let message = check_error(&error)?;
                row.last_error_reason_code = Set(Some(error.reason_code));
                row.last_error_message = Set(Some(message));
            }
            None => {
                row.last_error_reason_code = Set(None);
                row.last_error_message = Set(None);
            }
        }
    }
    update_one(db, tenant, id, connection::Entity::update_many().set(row)).await
}

/// Applies `update` to the tenant's connection `id` and returns the row as updated;
/// `NotFound` (and no change) when the tenant has no such connection.
async fn update_one<C: TenantScope>(
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
            .col_expr(connection::Column::UpdatedAt, Expr::val(super::now()))
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
        let now = super::now();
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
