//! Connection tests and health checks: the provider's catalog `health_check` request
//! sent with the connection's credential, its answer classified (`classify`), and the
//! result recorded on the connection (`record`, under the rules of `rules`): `healthy`;
//! `unhealthy` with `credential_rejected` (and the connection `needs_reauth` for OAuth,
//! `error` for static keys); `degraded` with `provider_unavailable`,
//! `provider_rate_limited` or `provider_timeout`. On demand ([`HealthChecker::test_connection`]),
//! on a schedule ([`HealthChecker::pass`]), or for a credential not yet stored
//! ([`HealthChecker::test_credential`], which writes nothing). Redirects are never
//! followed with the credential.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::json::HealthCheck;
use crate::models::{ConnectionId, ProviderSlug, TenantId};
use crate::repositories::activity::Actor;
use crate::repositories::{self, connections, providers};
use crate::services::credentials::{self, Credential};
use crate::services::refresh::Refresher;

pub mod classify;
pub mod credential;
mod obtain;
mod probe;
mod record;
pub mod rules;
mod scheduler;

pub use classify::{Answer, Verdict};
pub use scheduler::PassReport;

/// Name recorded as the actor of scheduled checks.
pub const ACTOR: &str = "connvault health checker";

/// How checks behave; every field has a default fit for production.
#[derive(Clone, Debug)]
pub struct HealthOptions {
    /// How long after a check the next scheduled one is due (jittered by a tenth);
    /// zero turns scheduled checks off.
    pub interval: Duration,
    /// Timeout of the health check's request.
    pub timeout: Duration,
    /// Checks a scheduled pass runs at once.
    pub concurrency: usize,
}

impl Default for HealthOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(6 * 3600),
            timeout: Duration::from_secs(10),
            concurrency: 8,
        }
    }
}

impl HealthOptions {
    /// How long a scheduled check's lease lasts: it outlasts the request (and a token
    /// renewal before it) with room to spare.
    pub fn lease(&self) -> Duration {
        self.timeout * 4 + Duration::from_secs(60)
    }

    /// How often `serve` looks for due connections.
    pub fn poll(&self) -> Duration {
        self.interval
            .clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// What an on-demand test found and recorded.
#[derive(Clone, Debug)]
pub struct TestReport {
    /// The connection as the test left it.
    pub connection: connection::Model,
    pub verdict: Verdict,
    pub checked_at: DateTime<Utc>,
}

/// Tests connections; cheap to clone, one per process.
#[derive(Clone)]
pub struct HealthChecker {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    keyring: Keyring,
    refresher: Refresher,
    http: reqwest::Client,
    options: HealthOptions,
    system: Actor,
}

/// The credential to test with, or a verdict reached before any request.
enum Fetched {
    Credential(Credential),
    Verdict(Verdict),
}

impl HealthChecker {
    pub fn new(
        db: DatabaseConnection,
        keyring: Keyring,
        refresher: Refresher,
        options: HealthOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: probe::client(options.timeout),
                db,
                keyring,
                refresher,
                options,
                system: Actor::system(ACTOR),
            }),
        }
    }

    pub fn options(&self) -> &HealthOptions {
        &self.inner.options
    }

    /// Tests the tenant's connection now and records the result, with `actor` named in
    /// its activity entries. `ConnectionNotTestable` when it is disconnected or not yet
    /// connected, its provider has no health check, or it has no credential.
    pub async fn test_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        actor: &Actor,
    ) -> Result<TestReport> {
        let row = connections::get_by_id(&self.inner.db, tenant, id)
            .await?
            .ok_or(Error::NotFound("connection"))?;
        self.run(tenant, row, None, Some(actor))
            .await?
            .ok_or(Error::ConnectionNotTestable("disconnected"))
    }

    /// Tests `credential` against `provider`'s health check without storing anything
    /// (the connect form checks a key before saving it). Client credentials without a
    /// token get one from the provider's token endpoint first: a refused client is
    /// rejected even when the provider has no health check.
    pub async fn test_credential(
        &self,
        provider: &ProviderSlug,
        credential: &Credential,
    ) -> Result<Verdict> {
        credential.validate()?;
        let provider = providers::get_by_slug(&self.inner.db, provider)
            .await?
            .ok_or_else(|| Error::UnknownProvider(provider.as_str().to_owned()))?;
        let obtained;
        let credential = match credential {
            Credential::ClientCredentials {
                client_id,
                client_secret,
                access_token: None,
            } if provider.token_url.is_some() => {
                let tokens = self.inner.refresher.tokens();
                match obtain::token_first(tokens, &provider, client_id, client_secret).await? {
                    Ok(with_token) => obtained = with_token,
                    Err(verdict) => return Ok(verdict),
                }
                if provider.health_check.is_none() {
                    return Ok(Verdict::healthy(None));
                }
                &obtained
            }
            other => other,
        };
        let check = provider
            .health_check
            .as_ref()
            .ok_or(Error::ConnectionNotTestable("no_health_check"))?;
        self.probe(check, credential, &provider.metadata).await
    }

    async fn probe(
        &self,
        check: &HealthCheck,
        credential: &Credential,
        metadata: &serde_json::Value,
    ) -> Result<Verdict> {
        let header = credential::header(credential, metadata).map_err(|why| match why {
            credential::Unsendable::NoToken => Error::ConnectionNotTestable("no_credential"),
            credential::Unsendable::BadHeader => {
                Error::ConnectionNotTestable("unsendable_credential")
            }
        })?;
        let answer = probe::send(&self.inner.http, check, header).await;
        Ok(classify::classify(check, &answer))
    }

    /// Tests `row` and writes the result (under the lease of `owner`, if given); `None`
    /// when it was disconnected (or the lease lost) while the check ran.
    async fn run(
        &self,
        tenant: TenantId,
        row: connection::Model,
        owner: Option<Uuid>,
        requested_by: Option<&Actor>,
    ) -> Result<Option<TestReport>> {
        let db = &self.inner.db;
        match row.status {
            ConnectionStatus::Active | ConnectionStatus::Error | ConnectionStatus::NeedsReauth => {}
            ConnectionStatus::Revoked => return Err(Error::ConnectionNotTestable("disconnected")),
            ConnectionStatus::Pending | ConnectionStatus::NeedsConsent => {
                return Err(Error::ConnectionNotTestable("not_connected"));
            }
        }
        let slug = ProviderSlug::parse(&row.provider_slug)?;
        let provider = providers::get_by_slug(db, &slug)
            .await?
            .ok_or_else(|| Error::UnknownProvider(row.provider_slug.clone()))?;
        let check = provider
            .health_check
            .ok_or(Error::ConnectionNotTestable("no_health_check"))?;
        let id = row.connection_id();
        let (verdict, oauth) = match self.credential(tenant, &row).await? {
            None => return Err(Error::ConnectionNotTestable("no_credential")),
            Some(Fetched::Verdict(verdict)) => (verdict, true),
            Some(Fetched::Credential(credential)) => {
                let oauth = matches!(
                    credential,
                    Credential::Oauth2 { .. } | Credential::ClientCredentials { .. }
                );
                let verdict = self.probe(&check, &credential, &provider.metadata).await?;
                (verdict, oauth)
            }
        };
        let at = repositories::now();
        let checked = record::Checked {
            tenant,
            id,
            owner,
            verdict: &verdict,
            oauth,
            at,
            next_due_at: self.next_due(at),
            requested_by,
            system: &self.inner.system,
        };
        let Some(after) = record::write(db, checked).await? else {
            return Ok(None);
        };
        log(&after, &verdict);
        Ok(Some(TestReport {
            connection: after,
            verdict,
            checked_at: at,
        }))
    }

    /// The credential of an active connection comes through the refresher, so that an
    /// expiring token is renewed first rather than reported as rejected; a token that
    /// cannot be renewed is a verdict of its own.
    async fn credential(
        &self,
        tenant: TenantId,
        row: &connection::Model,
    ) -> Result<Option<Fetched>> {
        let id = row.connection_id();
        if row.status != ConnectionStatus::Active {
            let read = credentials::read(&self.inner.db, &self.inner.keyring, tenant, id).await?;
            return Ok(read.map(Fetched::Credential));
        }
        match self.inner.refresher.read(tenant, id).await {
            Ok(read) => Ok(read.map(|r| Fetched::Credential(r.credential))),
            Err(Error::ConnectionUnusable { reason_code, .. }) => {
                let reason = reason_code.unwrap_or_else(|| classify::CREDENTIAL_REJECTED.into());
                Ok(Some(Fetched::Verdict(Verdict::failed(
                    HealthStatus::Unhealthy,
                    &reason,
                    "the token has expired and cannot be renewed",
                    None,
                ))))
            }
            Err(Error::ProviderUnavailable { reason_code, .. }) => {
                Ok(Some(Fetched::Verdict(Verdict::failed(
                    HealthStatus::Degraded,
                    &reason_code,
                    "the provider could not renew the token",
                    None,
                ))))
            }
            Err(err) => Err(err),
        }
    }

    fn next_due(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        // A random fraction from the random bits of a v4 UUID.
        let random = (Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
        rules::next_due(now, self.inner.options.interval, random)
    }
}

/// How many connections (not revoked) have each health, across tenants; every health
/// is listed, with 0 when none has it.
pub async fn connections_by_health(db: &DatabaseConnection) -> Result<Vec<(&'static str, i64)>> {
    let counts = repositories::health_checks::count_by_health(db).await?;
    Ok(["unknown", "healthy", "degraded", "unhealthy"]
        .into_iter()
        .map(|h| {
            let n = counts.iter().find(|(c, _)| c == h).map_or(0, |(_, n)| *n);
            (h, n)
        })
        .collect())
}

fn log(after: &connection::Model, verdict: &Verdict) {
    if verdict.is_healthy() {
        tracing::debug!(connection = %after.id, "health check: healthy");
    } else {
        tracing::info!(
            connection = %after.id,
            health = ?verdict.health,
            reason_code = verdict.reason_code.as_deref().unwrap_or(""),
            http_status = verdict.http_status,
            "health check: not healthy"
        );
    }
}
