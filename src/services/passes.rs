//! The shape every periodic pass over connections shares (background refresh, scheduled
//! health checks): select due connections in batches, work on each at most once per
//! pass, `concurrency` at a time, and tally what each piece of work returned.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinError;

use crate::error::Result;
use crate::models::{ConnectionId, TenantId};

/// Runs one pass: `due(batch)` selects up to `batch` connections, `work` runs on each
/// one not yet seen in this pass (at most `concurrency` at once), and `tally` receives
/// each result. The pass ends when a selection holds nothing new or is not full.
/// Returns how many connections were selected.
pub async fn run<T, Due, DueFut, Work, WorkFut>(
    concurrency: usize,
    batch: u32,
    mut due: Due,
    work: Work,
    mut tally: impl FnMut(std::result::Result<Result<T>, JoinError>),
) -> Result<u64>
where
    T: Send + 'static,
    Due: FnMut(u32) -> DueFut,
    DueFut: Future<Output = Result<Vec<(TenantId, ConnectionId)>>>,
    Work: Fn(TenantId, ConnectionId) -> WorkFut,
    WorkFut: Future<Output = Result<T>> + Send + 'static,
{
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut seen: HashSet<ConnectionId> = HashSet::new();
    let mut selected = 0;
    loop {
        let rows = due(batch).await?;
        let full = rows.len() == batch as usize;
        let fresh: Vec<_> = rows.into_iter().filter(|(_, c)| seen.insert(*c)).collect();
        if fresh.is_empty() {
            break;
        }
        selected += fresh.len() as u64;
        let mut tasks = tokio::task::JoinSet::new();
        for (tenant, connection) in fresh {
            let permit = limit.clone().acquire_owned().await.expect("semaphore open");
            let job = work(tenant, connection);
            tasks.spawn(async move {
                let result = job.await;
                drop(permit);
                result
            });
        }
        while let Some(joined) = tasks.join_next().await {
            tally(joined);
        }
        if !full {
            break;
        }
    }
    Ok(selected)
}
