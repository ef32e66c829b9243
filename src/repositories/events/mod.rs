//! Outbound events: the outbox ([`emit`], in the change's transaction), the endpoints
//! ([`endpoints`]) and the delivery ledger ([`deliveries`]).
//!
//! An endpoint belongs to a tenant or to the deployment ([`Owner`]). A tenant's rows
//! are reached through `tenancy`; the deployment's (no tenant) and the worker's view
//! across tenants through the transaction-local `connvault.event_scope` that only this
//! module sets on PostgreSQL (`deployment`: the rows of no tenant; `worker`: every row
//! of the four event tables), read by the `event_deployment` and `event_worker`
//! policies.

pub mod deliveries;
pub mod endpoints;

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DatabaseExecutor, DatabaseTransaction,
    DbBackend, DbErr, Set, Statement, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::begin_write;
use crate::error::Result;
use crate::events::{EventType, body};
use crate::models::{TenantId, event};
use crate::tenancy::{self, TenantScope};

/// Whose endpoint: a tenant's, or the deployment's (it receives every tenant's events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Tenant(TenantId),
    Deployment,
}

impl Owner {
    pub fn tenant_uuid(self) -> Option<Uuid> {
        match self {
            Owner::Tenant(t) => Some(t.as_uuid()),
            Owner::Deployment => None,
        }
    }
}

const SCOPE_SETTING: &str = "connvault.event_scope";

async fn set_scope<C: ConnectionTrait>(db: &C, scope: &str) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [SCOPE_SETTING.into(), scope.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Runs `work` on the owner's rows: a tenant's through `tenancy`, the deployment's in a
/// transaction with the `deployment` scope. Commits when `work` succeeds.
pub(crate) async fn in_scope<T>(
    db: &DatabaseConnection,
    owner: Owner,
    write: bool,
    work: impl AsyncFnOnce(&DatabaseExecutor<'_>) -> Result<T>,
) -> Result<T> {
    match owner {
        Owner::Tenant(t) if write => tenancy::write(db, t, async |s| work(s).await).await,
        Owner::Tenant(t) => tenancy::read(db, t, async |s| work(s).await).await,
        Owner::Deployment => {
            let txn = begin_write(db).await?;
            set_scope(&txn, "deployment").await?;
            let out = work(&DatabaseExecutor::Transaction(&txn)).await?;
            txn.commit().await?;
            Ok(out)
        }
    }
}

/// A transaction of the delivery worker: it sees and writes the event tables of every
/// tenant and of the deployment (and, through `tenancy`, may write a tenant's activity).
pub struct WorkerTxn(DatabaseTransaction);

impl WorkerTxn {
    pub async fn begin(db: &DatabaseConnection) -> Result<Self> {
        let txn = begin_write(db).await?;
        set_scope(&txn, "worker").await?;
        Ok(Self(txn))
    }

    pub async fn commit(self) -> Result<()> {
        Ok(self.0.commit().await?)
    }

    /// The transaction, for a tenant-scoped call (an activity entry) inside it.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.0
    }
}

/// Writes an event of `tenant` to the outbox, in the caller's transaction (the one of
/// the change it reports). `data` must hold no secret. Returns its id.
pub async fn emit<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    event_type: EventType,
    data: Value,
) -> Result<Uuid> {
    let row = new_event(Some(tenant.as_uuid()), event_type, data);
    let id = row.id.clone().unwrap();
    tenancy::write(db, tenant, async |db| row.insert(db).await.map(|_| ())).await?;
    Ok(id)
}

/// Writes an event from the worker (an endpoint it disabled): of a tenant, or of the
/// deployment (`None`).
pub async fn emit_as_worker(
    txn: &WorkerTxn,
    tenant: Option<Uuid>,
    event_type: EventType,
    data: Value,
) -> Result<Uuid> {
    let row = new_event(tenant, event_type, data);
    let id = row.id.clone().unwrap();
    row.insert(&txn.0).await?;
    Ok(id)
}

fn new_event(tenant: Option<Uuid>, event_type: EventType, data: Value) -> event::ActiveModel {
    let id = Uuid::new_v4();
    let now = super::now();
    event::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant),
        event_type: Set(event_type.as_str().to_owned()),
        body: Set(body(id, event_type, now, tenant, data)),
        created_at: Set(now),
        dispatched_at: Set(None),
    }
}

/// Every event of `tenant`, oldest first (for tests and tools: the outbox as it is).
pub async fn all_of_tenant<C: TenantScope>(db: &C, tenant: TenantId) -> Result<Vec<event::Model>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let query = event::Entity::find()
        .filter(event::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(event::Column::CreatedAt)
        .order_by_asc(event::Column::Id);
    tenancy::read(db, tenant, async |db| Ok(query.all(db).await?)).await
}

/// The key ids of every endpoint secret (current and previous), across tenants and
/// the deployment, with their counts: what key retirement must know.
pub async fn key_usage<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<Vec<(u32, u64)>> {
    use sea_orm::{EntityTrait, QuerySelect, TransactionSession};

    use crate::models::event_endpoint;
    let txn = db.begin().await?;
    set_scope(&txn, "worker").await?;
    let rows: Vec<(i32, Option<i32>)> = event_endpoint::Entity::find()
        .select_only()
        .column(event_endpoint::Column::SecretKeyId)
        .column(event_endpoint::Column::PreviousKeyId)
        .into_tuple()
        .all(&txn)
        .await?;
    // Inside a caller's transaction this is a savepoint: leave no scope behind.
    set_scope(&txn, "").await?;
    txn.commit().await?;
    let mut counts = std::collections::BTreeMap::<u32, u64>::new();
    for (current, previous) in rows {
        for key in std::iter::once(current).chain(previous) {
            *counts.entry(u32::try_from(key).unwrap_or(0)).or_default() += 1;
        }
    }
    Ok(counts.into_iter().collect())
}
