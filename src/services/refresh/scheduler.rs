//! The background refresher: passes that renew every connection whose token is due
//! (within its provider's margin plus one interval) or idle, `concurrency` at a time.
//! A pass selects exactly what it will renew, gives every failure a retry time, and
//! ends.

use super::{Refresher, Renewed, to_delta};
use crate::error::Result;
use crate::models::{ConnectionId, TenantId};
use crate::repositories::{self, refresh_leases};
use crate::services::passes;

/// Connections selected per query of a pass.
const BATCH: u32 = 500;

/// What a background pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Connections selected as due.
    pub due: u64,
    /// Tokens renewed at the provider.
    pub refreshed: u64,
    /// Connections another process was renewing, or that someone renewed meanwhile.
    pub skipped: u64,
    /// Renewals that failed (each now has a retry time, or needs a new consent).
    pub failed: u64,
}

impl Refresher {
    /// The connections the background refresher should renew now, across tenants, at
    /// most `limit`.
    pub async fn due(&self, limit: u32) -> Result<Vec<(TenantId, ConnectionId)>> {
        let options = &self.inner.options;
        let now = repositories::now();
        refresh_leases::due(
            &self.inner.db,
            refresh_leases::DueQuery {
                now,
                margin: to_delta(options.margin),
                ahead: to_delta(options.interval),
                idle_before: now - to_delta(options.idle_after),
                limit,
            },
        )
        .await
    }

    /// One background pass: renews every due connection, `concurrency` at a time, until
    /// none is left. A connection is attempted at most once per pass, so the pass ends
    /// even if one were selected again.
    pub async fn pass(&self) -> Result<PassReport> {
        let mut report = PassReport::default();
        report.due = passes::run(
            self.inner.options.concurrency,
            BATCH,
            |batch| self.due(batch),
            |tenant, connection| {
                let this = self.clone();
                async move { this.refresh_if_due(tenant, connection).await }
            },
            |joined| match joined {
                Ok(Ok(Renewed::Renewed)) => report.refreshed += 1,
                Ok(Ok(Renewed::Skipped)) => report.skipped += 1,
                Ok(Ok(Renewed::Failed)) => report.failed += 1,
                Ok(Err(err)) => {
                    report.failed += 1;
                    tracing::debug!(error = %err, "background renewal did not complete");
                }
                Err(err) => {
                    report.failed += 1;
                    tracing::error!(error = %err, "background renewal task failed");
                }
            },
        )
        .await?;
        Ok(report)
    }

    /// One pass, logged: the `refresh` job of `serve`.
    pub async fn logged_pass(&self) -> Result<()> {
        let report = self.pass().await?;
        if report.due > 0 {
            tracing::info!(
                due = report.due,
                refreshed = report.refreshed,
                skipped = report.skipped,
                failed = report.failed,
                "background refresh pass"
            );
        }
        Ok(())
    }
}
