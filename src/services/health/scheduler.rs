//! Scheduled checks: passes that test every active connection whose check is due,
//! `concurrency` at a time, each under a lease so that two processes never check the
//! same connection at once. A pass tests a connection at most once and ends.

use chrono::TimeDelta;
use uuid::Uuid;

use super::HealthChecker;
use crate::error::{Error, Result};
use crate::models::{ConnectionId, TenantId};
use crate::repositories::{self, health_checks};
use crate::services::passes;

/// Connections selected per query of a pass.
const BATCH: u32 = 200;

/// What a scheduled pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Connections selected as due.
    pub due: u64,
    /// Connections checked (any verdict).
    pub checked: u64,
    /// Checks with a healthy verdict.
    pub healthy: u64,
    /// Connections another process was checking, or that were checked meanwhile.
    pub skipped: u64,
    /// Connections that could not be checked (put off until the next interval).
    pub failed: u64,
}

enum One {
    Checked { healthy: bool },
    Skipped,
    Failed,
}

impl HealthChecker {
    /// One scheduled pass; nothing when the interval is 0 (checks turned off).
    pub async fn pass(&self) -> Result<PassReport> {
        let mut report = PassReport::default();
        if self.inner.options.interval.is_zero() {
            return Ok(report);
        }
        let db = self.inner.db.clone();
        let concurrency = self.inner.options.concurrency;
        report.due = passes::run(
            concurrency,
            BATCH,
            |batch| health_checks::due_checks(&db, repositories::now(), batch),
            |tenant, connection| {
                let this = self.clone();
                async move { this.check_scheduled(tenant, connection).await }
            },
            |joined| match joined {
                Ok(Ok(One::Checked { healthy })) => {
                    report.checked += 1;
                    report.healthy += u64::from(healthy);
                }
                Ok(Ok(One::Skipped)) => report.skipped += 1,
                Ok(Ok(One::Failed)) => report.failed += 1,
                Ok(Err(err)) => {
                    report.failed += 1;
                    tracing::warn!(error = %err, "scheduled health check did not complete");
                }
                Err(err) => {
                    report.failed += 1;
                    tracing::error!(error = %err, "scheduled health check task failed");
                }
            },
        )
        .await?;
        Ok(report)
    }

    /// One pass, logged: the `health_checks` job of `serve`.
    pub async fn logged_pass(&self) -> Result<()> {
        let report = self.pass().await?;
        if report.due > 0 {
            tracing::info!(
                due = report.due,
                checked = report.checked,
                healthy = report.healthy,
                skipped = report.skipped,
                failed = report.failed,
                "scheduled health check pass"
            );
        }
        Ok(())
    }

    async fn check_scheduled(&self, tenant: TenantId, connection: ConnectionId) -> Result<One> {
        let db = &self.inner.db;
        let owner = Uuid::new_v4();
        let now = repositories::now();
        let lease = TimeDelta::from_std(self.inner.options.lease()).unwrap_or(TimeDelta::MAX);
        let until = now
            .checked_add_signed(lease)
            .unwrap_or(crate::models::checks::latest_instant());
        let Some(row) =
            health_checks::take_lease(db, tenant, connection, owner, now, until).await?
        else {
            return Ok(One::Skipped);
        };
        match self.run(tenant, row, Some(owner), None).await {
            Ok(Some(report)) => Ok(One::Checked {
                healthy: report.verdict.is_healthy(),
            }),
            Ok(None) => Ok(One::Skipped),
            Err(err) => {
                // Put it off a whole interval: what kept it from being checked (no
                // credential, no check in the catalog) rarely changes sooner.
                let due_at = self.next_due(repositories::now());
                health_checks::release(db, tenant, connection, owner, due_at).await?;
                if matches!(err, Error::ConnectionNotTestable(_)) {
                    Ok(One::Failed)
                } else {
                    Err(err)
                }
            }
        }
    }
}
