//! Keeping tokens alive: a credential read renews a token that expires within the
//! margin, and a background refresher renews tokens before they expire and those
//! not renewed for a long time, so that providers do not revoke them for disuse.
//!
//! Exactly one renewal per connection at a time, across processes, with no database
//! transaction open during the HTTP call:
//! 1. an in-process single-flight per connection queues the callers of one process;
//! 2. a lease on the connection row (`refresh_lease_until`, `refresh_lease_owner`) is
//!    taken by compare-and-swap, and only while the token is still due; a caller that
//!    finds the lease held waits and re-reads until the holder has stored the new token;
//! 3. the credential is re-read after taking the lease (the previous holder may have
//!    rotated the refresh token), the provider is called, and the new access token is
//!    stored together with the rotated refresh token (or the old one, when the response
//!    has none) in the transaction that releases the lease.
//!
//! Failures: a revoked grant (`invalid_grant`) sets the connection `needs_reauth` with
//! reason `refresh_token_revoked`; 5xx, 429 and timeouts are retried with back-off and
//! then mark the connection's health `degraded` without touching its status; the next
//! success records the recovery. A read never returns an expired token.
//!
//! Here: the read path and the renewal under a lease. `attempt` calls the provider and
//! classifies its answer; `scheduler` runs the background passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::models::connection::{self, ConnectionStatus};
use crate::models::{ConnectionId, ProviderSlug, TenantId};
use crate::oauth::{OAuthProfile, TokenClient, TokenError};
use crate::repositories::refresh_leases::{self, Due, Failure, Lease};
use crate::repositories::{self, connections};
use crate::sanitize;
use crate::services::credential_cache::{self, CredentialCache};
use crate::services::credentials::{self, Credential, CredentialRead};

mod attempt;
mod scheduler;
mod store;
mod validity;

use validity::{refreshable, still_valid, usable};

pub use scheduler::PassReport;

/// Name recorded as the actor of renewals.
pub const ACTOR: &str = "connvault refresher";

/// How renewals behave; every field has a default fit for production.
#[derive(Clone, Debug)]
pub struct RefreshOptions {
    /// Renew a token that expires within this margin (a provider's
    /// `refresh_margin_seconds` overrides it).
    pub margin: Duration,
    /// How long a lease lasts. It must outlast all attempts of one renewal.
    pub lease: Duration,
    /// Renew tokens not renewed for this long, even when they do not expire.
    pub idle_after: Duration,
    /// How often the background refresher looks for due connections.
    pub interval: Duration,
    /// Renewals the background refresher runs at once.
    pub concurrency: usize,
    /// Token-endpoint attempts per renewal when the provider fails transiently.
    pub attempts: u32,
    /// Longest a reader waits for another process's renewal.
    pub wait: Duration,
    /// Timeout of one HTTP request to a provider.
    pub http_timeout: Duration,
    /// Connections whose credential rows the read keeps in memory
    /// (`services::credential_cache`; 0: none).
    pub credential_cache_capacity: usize,
}

impl Default for RefreshOptions {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            idle_after: Duration::from_secs(14 * 24 * 3600),
            interval: Duration::from_secs(30),
            concurrency: 16,
            attempts: 3,
            wait: Duration::from_secs(30),
            http_timeout: Duration::from_secs(10),
            credential_cache_capacity: credential_cache::DEFAULT_CAPACITY,
        }
    }
}

/// What a background renewal of one connection came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewed {
    /// A new token was stored.
    Renewed,
    /// Nothing to do: another process holds the lease, or the token is not due.
    Skipped,
    /// The provider refused or failed; recorded on the connection.
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    Read,
    Background,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Read => "read",
            Trigger::Background => "background",
        }
    }
}

/// What one renewal came to, with what a reader gets.
enum Outcome {
    Renewed(CredentialRead),
    Current(CredentialRead),
    Failed(Result<CredentialRead>),
}

/// Renews tokens; cheap to clone, one per process.
#[derive(Clone)]
pub struct Refresher {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    keyring: Keyring,
    tokens: TokenClient,
    options: RefreshOptions,
    /// The read path's credential rows; serves only while watched.
    cache: CredentialCache,
    flights: Mutex<HashMap<Uuid, Weak<tokio::sync::Mutex<()>>>>,
    profiles: Mutex<HashMap<String, CachedProfile>>,
}

/// A provider's profile (`None`: not an OAuth provider) and when it was loaded.
type CachedProfile = (Instant, Option<Arc<OAuthProfile>>);

/// How long a provider profile is cached for margin lookups on the read path.
const PROFILE_TTL: Duration = Duration::from_secs(30);

/// A renewal under a lease: whose connection, its row as the lease returned it, and
/// the attempt id that owns the lease.
#[derive(Clone, Copy)]
struct Held<'a> {
    tenant: TenantId,
    row: &'a connection::Model,
    attempt: Uuid,
    trigger: Trigger,
}

impl Held<'_> {
    fn connection(&self) -> ConnectionId {
        self.row.connection_id()
    }
}

impl Refresher {
    pub fn new(db: DatabaseConnection, keyring: Keyring, options: RefreshOptions) -> Self {
        let tokens = TokenClient::new(options.http_timeout);
        Self {
            inner: Arc::new(Inner {
                db,
                keyring,
                tokens,
                cache: CredentialCache::new(options.credential_cache_capacity),
                options,
                flights: Mutex::new(HashMap::new()),
                profiles: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn options(&self) -> &RefreshOptions {
        &self.inner.options
    }

    pub fn tokens(&self) -> &TokenClient {
        &self.inner.tokens
    }

    /// The read path's cache of credential rows (`CredentialCache::watch`, started by
    /// `serve`, lets it serve).
    pub fn credential_cache(&self) -> &CredentialCache {
        &self.inner.cache
    }

    /// The connection's credential, renewed first when it expires within the margin:
    /// the rows from the credential cache (`services::credential_cache`) or one indexed
    /// read, and no write, when it does not. `None` when it has none.
    /// `ConnectionUnusable` when the connection needs re-authorization (or its token
    /// has expired and cannot be renewed), `ProviderUnavailable` when renewal failed and
    /// the current token has expired.
    pub async fn read(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
    ) -> Result<Option<CredentialRead>> {
        let rows = self
            .inner
            .cache
            .rows(&self.inner.db, tenant, connection)
            .await?;
        let Some(read) = credentials::open(&self.inner.keyring, tenant, connection, &rows).await?
        else {
            return Ok(None);
        };
        usable(&read)?;
        if !self.needs_refresh(&read).await {
            return Ok(Some(read));
        }
        match self.renew(tenant, connection, Trigger::Read).await? {
            Outcome::Renewed(read) | Outcome::Current(read) => Ok(Some(read)),
            Outcome::Failed(answer) => answer.map(Some),
        }
    }

    /// Renews the connection's token now if it is due for the background refresher
    /// (expiring within its provider's margin plus one interval, or idle), under the
    /// same lease. A failure that keeps the renewal from being attempted puts the
    /// connection off with a back-off, and is logged once.
    pub async fn refresh_if_due(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
    ) -> Result<Renewed> {
        match self.renew(tenant, connection, Trigger::Background).await {
            Ok(Outcome::Renewed(_)) => Ok(Renewed::Renewed),
            Ok(Outcome::Current(_)) => Ok(Renewed::Skipped),
            Ok(Outcome::Failed(_)) => Ok(Renewed::Failed),
            Err(err) => {
                tracing::warn!(
                    connection = %connection.as_uuid(),
                    error = %err,
                    "background renewal cannot be attempted; retrying later"
                );
                if let Err(defer) = self.defer(tenant, connection, &err).await {
                    tracing::error!(error = %defer, "cannot record a retry time");
                }
                Err(err)
            }
        }
    }

    /// Gives a connection whose renewal could not be attempted a retry time.
    async fn defer(&self, tenant: TenantId, connection: ConnectionId, err: &Error) -> Result<()> {
        let Some(row) = connections::get_by_id(&self.inner.db, tenant, connection).await? else {
            return Ok(());
        };
        let failures = row.refresh_failures.saturating_add(1);
        let reason_code = match err {
            Error::OAuthAppMissing(_) => "oauth_app_missing",
            Error::Decrypt | Error::MalformedCiphertext | Error::UnknownDataKey(_) => {
                "credential_unreadable"
            }
            Error::ConnectionUnusable { .. } | Error::NotFound(_) => return Ok(()),
            _ => "refresh_not_possible",
        };
        let failure = Failure {
            reason_code: reason_code.to_owned(),
            message: sanitize::message(&err.to_string(), connections::ERROR_MESSAGE_MAX_LEN),
            reauth: false,
            retry_at: Some(repositories::now() + to_delta(attempt::backoff(failures))),
            failures,
        };
        refresh_leases::defer(&self.inner.db, tenant, connection, failure).await?;
        Ok(())
    }

    /// The provider's refresh margin: its profile comes from a short-lived cache, so
    /// a read looks the provider up at most once per `PROFILE_TTL`.
    async fn margin_for(&self, provider: &str) -> chrono::TimeDelta {
        let cached = self
            .inner
            .profiles
            .lock()
            .expect("profile cache")
            .get(provider)
            .filter(|(at, _)| at.elapsed() < PROFILE_TTL)
            .map(|(_, p)| p.clone());
        let profile = match cached {
            Some(profile) => profile,
            None => self.load_profile(provider).await.ok(),
        };
        to_delta(self.margin(profile.as_deref()))
    }

    fn margin(&self, profile: Option<&OAuthProfile>) -> Duration {
        profile
            .and_then(|p| p.refresh_margin)
            .unwrap_or(self.inner.options.margin)
    }

    async fn load_profile(&self, slug: &str) -> Result<Arc<OAuthProfile>> {
        let parsed = ProviderSlug::parse(slug)?;
        let model = repositories::providers::get_by_slug(&self.inner.db, &parsed)
            .await?
            .ok_or_else(|| Error::UnknownProvider(slug.to_owned()))?;
        let profile = OAuthProfile::from_provider(&model).map(Arc::new);
        self.inner.profiles.lock().expect("profile cache").insert(
            slug.to_owned(),
            (Instant::now(), profile.as_ref().ok().cloned()),
        );
        profile
    }

    async fn needs_refresh(&self, read: &CredentialRead) -> bool {
        match &read.credential {
            // A client-credentials connection without a token yet gets one first.
            Credential::ClientCredentials {
                access_token: None, ..
            } => return true,
            c if refreshable(c) => {}
            _ => return false,
        }
        match read.token_expires_at {
            Some(at) => at - Utc::now() <= self.margin_for(&read.provider).await,
            None => false,
        }
    }

    fn flight(&self, connection: ConnectionId) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.inner.flights.lock().expect("flight map");
        if let Some(existing) = flights.get(&connection.as_uuid()).and_then(Weak::upgrade) {
            return existing;
        }
        flights.retain(|_, w| w.strong_count() > 0);
        let flight = Arc::new(tokio::sync::Mutex::new(()));
        flights.insert(connection.as_uuid(), Arc::downgrade(&flight));
        flight
    }

    async fn current(&self, tenant: TenantId, connection: ConnectionId) -> Result<CredentialRead> {
        let read =
            credentials::read_with_expiry(&self.inner.db, &self.inner.keyring, tenant, connection)
                .await?
                .ok_or(Error::NotFound("credential"))?;
        usable(&read)?;
        Ok(read)
    }

    async fn renew(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        trigger: Trigger,
    ) -> Result<Outcome> {
        let flight = self.flight(connection);
        let _turn = flight.lock().await;
        let deadline = Instant::now() + self.inner.options.wait;
        let mut pause = Duration::from_millis(20);
        loop {
            // Whoever renewed while this caller queued has already done the work.
            let read = self.current(tenant, connection).await?;
            let wanted = match trigger {
                Trigger::Read => self.needs_refresh(&read).await,
                Trigger::Background => refreshable(&read.credential),
            };
            if !wanted {
                return Ok(Outcome::Current(read));
            }
            let profile = self.load_profile(&read.provider).await?;
            let due = self.due_rule(trigger, &profile, &read);
            let until = repositories::now() + to_delta(self.inner.options.lease);
            let attempt = Uuid::new_v4();
            match refresh_leases::take(&self.inner.db, tenant, connection, attempt, until, due)
                .await?
            {
                Lease::Taken(row) => {
                    let fresh = self.current(tenant, connection).await?;
                    let held = Held {
                        tenant,
                        row: &row,
                        attempt,
                        trigger,
                    };
                    return self.renew_with_lease(&held, &profile, fresh).await;
                }
                Lease::NotDue => {
                    return Ok(Outcome::Current(self.current(tenant, connection).await?));
                }
                Lease::Unusable {
                    status,
                    reason_code,
                } => {
                    return Err(Error::ConnectionUnusable {
                        status,
                        reason_code,
                    });
                }
                Lease::Held => {
                    if trigger == Trigger::Background {
                        return Ok(Outcome::Current(read));
                    }
                    if Instant::now() >= deadline {
                        return Ok(Outcome::Failed(still_valid(
                            read,
                            "refresh_in_progress",
                            None,
                        )));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
            }
        }
    }

    /// When the lease may be taken: the read's rule (within the provider's margin), the
    /// background's (within margin plus one interval, or idle; the same rule the
    /// background selection uses), or always for a client-credentials connection
    /// without a token.
    fn due_rule(&self, trigger: Trigger, profile: &OAuthProfile, read: &CredentialRead) -> Due {
        let no_token = matches!(
            read.credential,
            Credential::ClientCredentials {
                access_token: None,
                ..
            }
        );
        let now = repositories::now();
        let margin = self.margin(Some(profile));
        match trigger {
            _ if no_token => Due::Always,
            Trigger::Read => Due::ExpiresBefore(now + to_delta(margin)),
            Trigger::Background => Due::ExpiresOrIdle {
                expires_before: now + to_delta(margin + self.inner.options.interval),
                idle_before: now - to_delta(self.inner.options.idle_after),
            },
        }
    }

    async fn renew_with_lease(
        &self,
        held: &Held<'_>,
        profile: &OAuthProfile,
        read: CredentialRead,
    ) -> Result<Outcome> {
        let outcome = self
            .call_provider(held.row, profile, &read.credential)
            .await;
        match outcome {
            Ok(Ok(tokens)) => self
                .store_success(held, profile, read, tokens)
                .await
                .map(Outcome::Renewed),
            Ok(Err(err)) => {
                if !self.store_failure(held, &read, &err).await? {
                    // The lease ran out and another attempt took over: what it stored
                    // is the truth.
                    let current = self.current(held.tenant, held.connection()).await?;
                    return Ok(Outcome::Failed(still_valid(
                        current,
                        "refresh_in_progress",
                        None,
                    )));
                }
                if attempt::sets_reauth(&read.credential, &err) {
                    return Ok(Outcome::Failed(Err(Error::ConnectionUnusable {
                        status: ConnectionStatus::NeedsReauth,
                        reason_code: Some(attempt::reason(&read.credential, &err).to_owned()),
                    })));
                }
                let (reason, retry_after) = match &err {
                    TokenError::Transient {
                        reason_code,
                        retry_after,
                        ..
                    } => (*reason_code, *retry_after),
                    _ => ("token_request_rejected", None),
                };
                Ok(Outcome::Failed(still_valid(read, reason, retry_after)))
            }
            Err(err) => {
                refresh_leases::release(
                    &self.inner.db,
                    held.tenant,
                    held.connection(),
                    held.attempt,
                )
                .await?;
                Err(err)
            }
        }
    }
}

fn to_delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}
