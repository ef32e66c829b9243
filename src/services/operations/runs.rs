//! Reading and cancelling a tenant's runs. Cancelling a queued or running run
//! completes it as `cancelled` (a worker holding it loses its claim) and records
//! `operation_cancelled` in the same transaction.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::activity::record_run;
use crate::error::{Error, Result};
use crate::models::TenantId;
use crate::models::activity::Action;
use crate::models::operation_run;
use crate::repositories::activity::Actor;
use crate::repositories::operations::runs::{self, Filter};
use crate::repositories::{Page, PageResult};
use crate::tenancy::TenantTxn;

pub use crate::repositories::operations::runs::Filter as RunFilter;

/// The tenant's run `id`; `NotFound` when the tenant has none.
pub async fn get(
    db: &DatabaseConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<operation_run::Model> {
    runs::get(db, tenant, id)
        .await?
        .ok_or(Error::NotFound("operation run"))
}

/// A page of the tenant's runs, newest first, with the filters given.
pub async fn list(
    db: &DatabaseConnection,
    tenant: TenantId,
    filter: Filter,
    page: Page,
) -> Result<PageResult<operation_run::Model>> {
    runs::list(db, tenant, filter, page).await
}

/// Cancels a queued or running run. `NotFound` for no such run of the tenant,
/// `OperationFinished` for a completed one (nothing changes).
pub async fn cancel(
    db: &DatabaseConnection,
    tenant: TenantId,
    actor: &Actor,
    id: Uuid,
) -> Result<operation_run::Model> {
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let run = runs::cancel(&txn, tenant, id).await?;
    record_run(&txn, actor, &run, Action::OperationCancelled).await?;
    txn.commit().await?;
    Ok(run)
}
