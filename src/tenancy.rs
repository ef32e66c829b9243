//! Which tenant a database session may see. On PostgreSQL, row-level security compares
//! every tenant table's `tenant_id` with the transaction-local setting
//! `connvault.tenant_id`, and this module is the only code that sets it (always with
//! `set_config(…, true)`, so nothing outlives the transaction on a pooled connection).
//! On SQLite the repositories' own `WHERE tenant_id = …` is the isolation.
//!
//! Tenant-scoped functions take any [`TenantScope`]: a pool (they open a scoped
//! transaction of their own), a plain transaction (they scope it), or a [`TenantTxn`]
//! (already scoped: no extra round trip). They reach the database only through
//! [`read`] and [`write`], which run a closure in the scope and commit a transaction
//! they opened exactly when the closure succeeds: there is nothing to forget.

use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, Statement, TransactionTrait,
};

use crate::db::local_writes;
use crate::models::TenantId;
use crate::repositories::begin_write;

/// The PostgreSQL setting the row-level security policies read.
pub const TENANT_SETTING: &str = "connvault.tenant_id";

/// Sets the tenant for the rest of the current transaction (PostgreSQL only).
async fn set_tenant<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [TENANT_SETTING.into(), tenant.as_uuid().to_string().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Proof that a scope is entered through [`read`] or [`write`]: it cannot be made
/// outside this module, so no caller can hold a [`Scoped`] whose end it must manage.
pub struct Entry(());

/// A database handle that can run queries for one tenant.
pub trait TenantScope: ConnectionTrait + Sync {
    /// A handle whose queries see `tenant`'s rows; only [`read`] and [`write`] call it.
    fn enter(
        &self,
        tenant: TenantId,
        write: bool,
        entry: Entry,
    ) -> impl Future<Output = Result<Scoped<'_>, DbErr>> + Send;

    /// The tenant this handle is bound to, when it is a [`TenantTxn`].
    fn bound_tenant(&self) -> Option<TenantId> {
        None
    }

    /// This handle, when it is a [`TenantTxn`].
    fn bound_tenant_txn(&self) -> Option<&TenantTxn> {
        None
    }
}

/// A handle scoped to one tenant, for the duration of one repository call.
pub struct Scoped<'a> {
    exec: DatabaseExecutor<'a>,
    tenant: TenantId,
}

impl<'a> Scoped<'a> {
    fn new(exec: DatabaseExecutor<'a>, tenant: TenantId) -> Self {
        Self { exec, tenant }
    }

    /// Commits the transaction this handle opened, if it opened one.
    async fn finish(self) -> Result<(), DbErr> {
        match self.exec {
            DatabaseExecutor::OwnedTransaction(txn) => txn.commit().await,
            _ => Ok(()),
        }
    }
}

/// Runs `work` with a handle that reads `tenant`'s rows. A transaction it had to open
/// (PostgreSQL, to set the tenant) ends when `work` does.
pub async fn read<C, T, E>(
    db: &C,
    tenant: TenantId,
    work: impl AsyncFnOnce(&Scoped<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    C: TenantScope,
    E: From<DbErr>,
{
    run(db, tenant, false, work).await
}

/// Runs `work` with a handle that writes `tenant`'s rows. A transaction it opened (on
/// a pool) commits when `work` succeeds and rolls back when it fails; inside a
/// caller's transaction, the caller's commit decides.
pub async fn write<C, T, E>(
    db: &C,
    tenant: TenantId,
    work: impl AsyncFnOnce(&Scoped<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    C: TenantScope,
    E: From<DbErr>,
{
    run(db, tenant, true, work).await
}

async fn run<C, T, E>(
    db: &C,
    tenant: TenantId,
    write: bool,
    work: impl AsyncFnOnce(&Scoped<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    C: TenantScope,
    E: From<DbErr>,
{
    let scope = db.enter(tenant, write, Entry(())).await?;
    let out = work(&scope).await?;
    scope.finish().await?;
    if write {
        if let Some(bound) = db.bound_tenant_txn() {
            bound.wrote.store(true, Ordering::Relaxed);
        }
        local_writes::announce(tenant);
    }
    Ok(out)
}

impl<'a> Deref for Scoped<'a> {
    type Target = DatabaseExecutor<'a>;

    fn deref(&self) -> &Self::Target {
        &self.exec
    }
}

/// Refuses a [`TenantTxn`] (or a scoped handle) of one tenant for another.
pub fn check_bound<C: TenantScope>(db: &C, tenant: TenantId) -> Result<(), DbErr> {
    match db.bound_tenant() {
        Some(bound) => check_same(bound, tenant),
        None => Ok(()),
    }
}

/// Refuses a handle of one tenant for another: fail closed on both backends.
fn check_same(bound: TenantId, asked: TenantId) -> Result<(), DbErr> {
    if bound == asked {
        Ok(())
    } else {
        Err(DbErr::Custom(format!(
            "a transaction of tenant {bound} cannot serve tenant {asked}"
        )))
    }
}

impl TenantScope for Scoped<'_> {
    async fn enter(&self, tenant: TenantId, write: bool, _: Entry) -> Result<Scoped<'_>, DbErr> {
        check_same(self.tenant, tenant)?;
        let exec = match &self.exec {
            DatabaseExecutor::Connection(db) if write => {
                DatabaseExecutor::OwnedTransaction(begin_write(*db).await?)
            }
            DatabaseExecutor::Connection(db) => DatabaseExecutor::Connection(db),
            DatabaseExecutor::Transaction(txn) => DatabaseExecutor::Transaction(txn),
            DatabaseExecutor::OwnedTransaction(txn) => DatabaseExecutor::Transaction(txn),
        };
        Ok(Scoped::new(exec, tenant))
    }

    fn bound_tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }
}

impl TenantScope for DatabaseConnection {
    async fn enter(&self, tenant: TenantId, write: bool, _: Entry) -> Result<Scoped<'_>, DbErr> {
        if self.get_database_backend() == DbBackend::Postgres || write {
            let txn = begin_write(self).await?;
            set_tenant(&txn, tenant).await?;
            Ok(Scoped::new(DatabaseExecutor::OwnedTransaction(txn), tenant))
        } else {
            // SQLite reads need no transaction: the WHERE clause is the scope.
            Ok(Scoped::new(DatabaseExecutor::Connection(self), tenant))
        }
    }
}

impl TenantScope for DatabaseTransaction {
    async fn enter(&self, tenant: TenantId, _write: bool, _: Entry) -> Result<Scoped<'_>, DbErr> {
        set_tenant(self, tenant).await?;
        Ok(Scoped::new(DatabaseExecutor::Transaction(self), tenant))
    }
}

/// A transaction bound to one tenant from its first statement to its end: the
/// service layer's unit of work. Repository calls inside it cost no extra round trip,
/// and a call for another tenant is refused.
pub struct TenantTxn {
    txn: DatabaseTransaction,
    tenant: TenantId,
    /// Whether a repository call wrote through it: its commit is then announced to
    /// this process's caches (`db::local_writes`).
    wrote: AtomicBool,
}

impl TenantTxn {
    /// A transaction that reads `tenant`'s rows. Begun inside another transaction it is
    /// a savepoint, and the tenant stays set in the outer transaction afterwards (as
    /// with [`TenantScope::enter`] on a plain transaction): scope the outer one instead.
    pub async fn begin<C>(db: &C, tenant: TenantId) -> Result<Self, DbErr>
    where
        C: TransactionTrait<Transaction = DatabaseTransaction>,
    {
        let txn = db.begin().await?;
        set_tenant(&txn, tenant).await?;
        Ok(Self {
            txn,
            tenant,
            wrote: AtomicBool::new(false),
        })
    }

    /// A transaction that will write `tenant`'s rows (on SQLite it takes the write
    /// lock at once).
    pub async fn begin_write<C>(db: &C, tenant: TenantId) -> Result<Self, DbErr>
    where
        C: TransactionTrait<Transaction = DatabaseTransaction>,
    {
        let txn = begin_write(db).await?;
        set_tenant(&txn, tenant).await?;
        Ok(Self {
            txn,
            tenant,
            wrote: AtomicBool::new(false),
        })
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        if self.wrote.load(Ordering::Relaxed) {
            local_writes::announce(self.tenant);
        }
        Ok(())
    }
}

impl TenantScope for TenantTxn {
    async fn enter(&self, tenant: TenantId, _write: bool, _: Entry) -> Result<Scoped<'_>, DbErr> {
        check_same(self.tenant, tenant)?;
        Ok(Scoped::new(
            DatabaseExecutor::Transaction(&self.txn),
            tenant,
        ))
    }

    fn bound_tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    fn bound_tenant_txn(&self) -> Option<&TenantTxn> {
        Some(self)
    }
}

/// Implements `ConnectionTrait` by delegating to the inner connection.
macro_rules! delegate_connection {
    ($ty:ty, $this:ident => $inner:expr) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $ty {
            fn get_database_backend(&self) -> DbBackend {
                let $this = self;
                $inner.get_database_backend()
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                let $this = self;
                $inner.execute_raw(stmt).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                let $this = self;
                $inner.execute_unprepared(sql).await
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                let $this = self;
                $inner.query_one_raw(stmt).await
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                let $this = self;
                $inner.query_all_raw(stmt).await
            }
        }
    };
}

delegate_connection!(TenantTxn, this => this.txn);
delegate_connection!(Scoped<'_>, this => this.exec);
