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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, Set, Statement,
};
use secrecy::ExposeSecret;
use serde_json::json;
use uuid::Uuid;

use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::models::activity::Action;
use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::{ConnectionId, ProviderSlug, TenantId, provider};
use crate::oauth::{ClientSecret, Grant, OAuthProfile, TokenClient, TokenError, TokenSet};
use crate::repositories::activity::{self, Actor, Entry};
use crate::repositories::{self, oauth_apps};
use crate::services::credentials::{self, Credential, CredentialRead};
use crate::tenancy::{TenantScope, TenantTxn};

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
        }
    }
}

/// What a background pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Connect sessions that expired unfinished, now failed.
    pub sessions_expired: u64,
    pub due: u64,
    pub refreshed: u64,
    pub failed: u64,
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
    flights: Mutex<HashMap<Uuid, Weak<tokio::sync::Mutex<()>>>>,
    profiles: Mutex<HashMap<String, CachedProfile>>,
}

/// A provider's profile (`None`: not an OAuth provider) and when it was loaded.
type CachedProfile = (Instant, Option<Arc<OAuthProfile>>);

/// How long a provider profile is cached for margin lookups on the read path.
const PROFILE_TTL: Duration = Duration::from_secs(30);

/// A token valid for less than this is never handed out.
const MIN_VALIDITY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

impl Refresher {
    pub fn new(db: DatabaseConnection, keyring: Keyring, options: RefreshOptions) -> Self {
        let tokens = TokenClient::new(options.http_timeout);
        Self {
            inner: Arc::new(Inner {
                db,
                keyring,
                tokens,
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

    /// The connection's credential, renewed first when it expires within the margin:
    /// one indexed read and no write when it does not. `None` when it has none.
    /// `ConnectionUnusable` when the connection needs re-authorization (or its token
    /// has expired and cannot be renewed), `ProviderUnavailable` when renewal failed and
    /// the current token has expired.
    pub async fn read(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
    ) -> Result<Option<CredentialRead>> {
        let db = &self.inner.db;
        let Some(read) =
            credentials::read_with_expiry(db, &self.inner.keyring, tenant, connection).await?
        else {
            return Ok(None);
        };
        usable(&read)?;
        if !self.needs_refresh(&read).await {
            return Ok(Some(read));
        }
        self.renew(tenant, connection, Trigger::Read)
            .await
            .map(Some)
    }

    /// Renews the connection's token now if it is due for the background refresher
    /// (expiring within margin plus one interval, or idle), under the same lease.
    pub async fn refresh_if_due(&self, tenant: TenantId, connection: ConnectionId) -> Result<()> {
        self.renew(tenant, connection, Trigger::Background)
            .await
            .map(|_| ())
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
        let margin = profile
            .and_then(|p| p.refresh_margin)
            .unwrap_or(self.inner.options.margin);
        chrono::TimeDelta::from_std(margin).unwrap_or(chrono::TimeDelta::MAX)
    }

    async fn load_profile(&self, slug: &str) -> Result<Arc<OAuthProfile>> {
        let parsed = ProviderSlug::parse(slug)?;
        let model: provider::Model = repositories::providers::get_by_slug(&self.inner.db, &parsed)
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

    async fn renew(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        trigger: Trigger,
    ) -> Result<CredentialRead> {
        let db = &self.inner.db;
        let keyring = &self.inner.keyring;
        let flight = self.flight(connection);
        let _turn = flight.lock().await;
        let deadline = Instant::now() + self.inner.options.wait;
        let mut pause = Duration::from_millis(20);
        loop {
            // Whoever renewed while this caller queued has already done the work.
            let read = credentials::read_with_expiry(db, keyring, tenant, connection)
                .await?
                .ok_or(Error::NotFound("credential"))?;
            usable(&read)?;
            let wanted = match trigger {
                Trigger::Read => self.needs_refresh(&read).await,
                Trigger::Background => refreshable(&read.credential),
            };
            if !wanted {
                return Ok(read);
            }
            let profile = self.load_profile(&read.provider).await?;
            let margin = profile.refresh_margin.unwrap_or(self.inner.options.margin);
            match self
                .take_lease(tenant, connection, trigger, margin, &read)
                .await?
            {
                LeaseOutcome::Taken { attempt, row } => {
                    let fresh = credentials::read_with_expiry(db, keyring, tenant, connection)
                        .await?
                        .ok_or(Error::NotFound("credential"))?;
                    let held = Held {
                        tenant,
                        row: &row,
                        attempt,
                        trigger,
                    };
                    return self.renew_with_lease(&held, &profile, fresh).await;
                }
                LeaseOutcome::NotDue => {
                    let read = credentials::read_with_expiry(db, keyring, tenant, connection)
                        .await?
                        .ok_or(Error::NotFound("credential"))?;
                    usable(&read)?;
                    return Ok(read);
                }
                LeaseOutcome::Held => {
                    if trigger == Trigger::Background {
                        return Ok(read);
                    }
                    if Instant::now() >= deadline {
                        return still_valid(read, "refresh_in_progress", None);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
            }
        }
    }

    /// Takes the lease if the token is still due and nobody holds it.
    async fn take_lease(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        trigger: Trigger,
        margin: Duration,
        read: &CredentialRead,
    ) -> Result<LeaseOutcome> {
        let now = repositories::now();
        let until = now + to_delta(self.inner.options.lease);
        let attempt = Uuid::new_v4();
        let no_token = matches!(
            read.credential,
            Credential::ClientCredentials {
                access_token: None,
                ..
            }
        );
        let due = match trigger {
            // A client-credentials connection without a token is always due.
            _ if no_token => Condition::all(),
            Trigger::Read => {
                Condition::any().add(connection::Column::TokenExpiresAt.lt(now + to_delta(margin)))
            }
            Trigger::Background => {
                let ahead = now + to_delta(margin + self.inner.options.interval);
                let idle = now - to_delta(self.inner.options.idle_after);
                Condition::any()
                    .add(connection::Column::TokenExpiresAt.lt(ahead))
                    .add(sea_orm::ExprTrait::lt(
                        sea_orm::ExprTrait::if_null(
                            Expr::col(connection::Column::LastRefreshedAt),
                            Expr::col(connection::Column::CreatedAt),
                        ),
                        idle,
                    ))
            }
        };
        let scope = self.inner.db.enter(tenant, true).await?;
        let taken = connection::Entity::update_many()
            .set(connection::ActiveModel {
                refresh_lease_until: Set(Some(until)),
                refresh_lease_owner: Set(Some(attempt)),
                ..Default::default()
            })
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.eq(connection.as_uuid()))
            .filter(connection::Column::Status.eq(ConnectionStatus::Active))
            .filter(
                Condition::any()
                    .add(connection::Column::RefreshLeaseUntil.is_null())
                    .add(connection::Column::RefreshLeaseUntil.lt(now)),
            )
            .filter(due)
            .exec_with_returning(&scope)
            .await?
            .into_iter()
            .next();
        let outcome = match taken {
            Some(row) => LeaseOutcome::Taken {
                attempt,
                row: Box::new(row),
            },
            None => {
                let row = connection::Entity::find()
                    .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
                    .filter(connection::Column::Id.eq(connection.as_uuid()))
                    .one(&scope)
                    .await?
                    .ok_or(Error::NotFound("connection"))?;
                if row.status != ConnectionStatus::Active {
                    scope.finish().await?;
                    return Err(Error::ConnectionUnusable {
                        status: row.status.to_value(),
                        reason_code: row.last_error_reason_code,
                    });
                }
                match row.refresh_lease_until {
                    Some(t) if t >= now => LeaseOutcome::Held,
                    _ => LeaseOutcome::NotDue,
                }
            }
        };
        scope.finish().await?;
        Ok(outcome)
    }

    async fn renew_with_lease(
        &self,
        held: &Held<'_>,
        profile: &OAuthProfile,
        read: CredentialRead,
    ) -> Result<CredentialRead> {
        let outcome = self
            .call_provider(held.row, profile, &read.credential)
            .await;
        match outcome {
            Ok(Ok(tokens)) => self.store_success(held, profile, read, tokens).await,
            Ok(Err(err)) => {
                self.store_failure(held, &read, &err).await?;
                if failure_sets_reauth(&read.credential, &err) {
                    return Err(Error::ConnectionUnusable {
                        status: "needs_reauth".to_owned(),
                        reason_code: Some(failure_reason(&read.credential, &err).to_owned()),
                    });
                }
                let (reason, retry_after) = match &err {
                    TokenError::Transient {
                        reason_code,
                        retry_after,
                        ..
                    } => (*reason_code, *retry_after),
                    _ => ("token_request_rejected", None),
                };
                still_valid(read, reason, retry_after)
            }
            Err(err) => {
                self.release(held).await?;
                Err(err)
            }
        }
    }

    /// Calls the token endpoint, retrying transient failures with back-off. The outer
    /// error is ours (configuration, database); the inner one is the provider's.
    async fn call_provider(
        &self,
        row: &connection::Model,
        profile: &OAuthProfile,
        credential: &Credential,
    ) -> Result<std::result::Result<TokenSet, TokenError>> {
        let (client_id, client_secret, refresh_token) = match credential {
            Credential::Oauth2 {
                refresh_token: Some(rt),
                ..
            } => {
                let app = oauth_apps::get(&self.inner.db, &profile.slug)
                    .await?
                    .ok_or_else(|| Error::OAuthAppMissing(profile.slug.clone()))?;
                let secret = oauth_apps::client_secret(&self.inner.keyring, &app).await?;
                (app.client_id, secret, Some(rt))
            }
            Credential::ClientCredentials {
                client_id,
                client_secret,
                ..
            } => (
                client_id.expose_secret().to_owned(),
                client_secret.clone(),
                None,
            ),
            _ => return Err(Error::NotFound("refreshable credential")),
        };
        let scope = if !row.scopes_granted.0.is_empty() {
            Some(profile.join_scopes(&row.scopes_granted.0))
        } else {
            profile.client_credentials_scope.clone()
        };
        let grant = match refresh_token {
            Some(refresh_token) => Grant::RefreshToken { refresh_token },
            None => Grant::ClientCredentials {
                scope: scope.as_deref(),
            },
        };
        let url = profile.token_url_for(Some(&row.external_id))?;
        let secret = ClientSecret {
            id: &client_id,
            secret: &client_secret,
        };
        let attempts = Ord::max(self.inner.options.attempts, 1);
        let mut last = None;
        for i in 0..attempts {
            match self
                .inner
                .tokens
                .request(&url, &secret, profile.client_auth, &grant)
                .await
            {
                Ok(tokens) => return Ok(Ok(tokens)),
                Err(TokenError::Transient {
                    reason_code,
                    retry_after,
                    message,
                }) => {
                    if i + 1 < attempts {
                        let backoff = Duration::from_millis(200 << i);
                        let wait = retry_after.unwrap_or(backoff).min(Duration::from_secs(5));
                        tokio::time::sleep(wait).await;
                    }
                    last = Some(TokenError::Transient {
                        reason_code,
                        retry_after,
                        message,
                    });
                }
                Err(other) => return Ok(Err(other)),
            }
        }
        Ok(Err(last.expect("at least one attempt")))
    }

    async fn store_success(
        &self,
        held: &Held<'_>,
        profile: &OAuthProfile,
        read: CredentialRead,
        tokens: TokenSet,
    ) -> Result<CredentialRead> {
        let Held {
            tenant,
            row,
            attempt,
            trigger,
        } = *held;
        let rotated = tokens.refresh_token.is_some();
        let credential = match read.credential {
            Credential::Oauth2 { refresh_token, .. } => Credential::Oauth2 {
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token.or(refresh_token),
            },
            Credential::ClientCredentials {
                client_id,
                client_secret,
                ..
            } => Credential::ClientCredentials {
                client_id,
                client_secret,
                access_token: Some(tokens.access_token),
            },
            _ => return Err(Error::NotFound("refreshable credential")),
        };
        let connection = row.connection_id();
        let sealed =
            credentials::seal(&self.inner.keyring, tenant, connection, &credential).await?;
        let now = repositories::now();
        let expires_at = tokens
            .expires_in
            .map(|s| now + chrono::TimeDelta::seconds(Ord::max(s, 0)));
        let recovered = row.refresh_failures > 0 || row.health_status == HealthStatus::Degraded;
        let txn = TenantTxn::begin_write(&self.inner.db, tenant).await?;
        let current = repositories::connections::lock(&txn, tenant, connection).await?;
        if current.refresh_lease_owner != Some(attempt) {
            tracing::warn!(
                connection = %connection.as_uuid(),
                "refresh lease expired before the new token was stored; storing it anyway, as the provider has rotated the old one"
            );
        }
        credentials::write_sealed(&txn, sealed).await?;
        let mut update = repositories::connections::tokens_renewed(now, expires_at);
        if let Some(scope) = &tokens.scope {
            update.scopes_granted =
                Set(crate::models::json::StringList(profile.split_scopes(scope)));
        }
        connection::Entity::update_many()
            .set(update)
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.eq(connection.as_uuid()))
            .exec(&txn)
            .await?;
        let action = if recovered {
            Action::RefreshRecovered
        } else {
            Action::Refreshed
        };
        record(
            &txn,
            row,
            action,
            json!({
                "trigger": trigger.as_str(),
                "refresh_token_rotated": rotated,
                "token_expires_at": expires_at,
            }),
        )
        .await?;
        txn.commit().await?;
        tracing::info!(connection = %connection.as_uuid(), trigger = trigger.as_str(), "token renewed");
        Ok(CredentialRead {
            credential,
            token_expires_at: expires_at,
            status: ConnectionStatus::Active,
            reason_code: None,
            provider: read.provider,
        })
    }

    async fn store_failure(
        &self,
        held: &Held<'_>,
        read: &CredentialRead,
        err: &TokenError,
    ) -> Result<()> {
        let Held {
            tenant,
            row,
            attempt,
            trigger,
        } = *held;
        let now = repositories::now();
        let reason = failure_reason(&read.credential, err);
        let reauth = failure_sets_reauth(&read.credential, err);
        let failures = row.refresh_failures.saturating_add(1);
        let backoff = Duration::from_secs(30)
            .saturating_mul(1u32 << failures.clamp(0, 7) as u32)
            .min(Duration::from_secs(3600));
        let mut update = connection::ActiveModel {
            refresh_lease_until: Set(None),
            refresh_lease_owner: Set(None),
            last_error_reason_code: Set(Some(reason.to_owned())),
            last_error_message: Set(Some(err.message().to_owned())),
            updated_at: Set(now),
            ..Default::default()
        };
        if reauth {
            update.status = Set(ConnectionStatus::NeedsReauth);
            update.health_status = Set(HealthStatus::Unhealthy);
        } else {
            update.health_status = Set(HealthStatus::Degraded);
            update.refresh_failures = Set(failures);
            update.refresh_retry_at = Set(Some(now + to_delta(backoff)));
        }
        let txn = TenantTxn::begin_write(&self.inner.db, tenant).await?;
        connection::Entity::update_many()
            .set(update)
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.eq(row.id))
            .filter(connection::Column::RefreshLeaseOwner.eq(attempt))
            .exec(&txn)
            .await?;
        let mut details = json!({
            "trigger": trigger.as_str(),
            "reason_code": reason,
            "transient": matches!(err, TokenError::Transient { .. }),
        });
        if let Some(code) = err.provider_code() {
            details["provider_error"] = json!(crate::models::ids::shorten(code));
        }
        record(&txn, row, Action::RefreshFailed, details).await?;
        if reauth {
            record(
                &txn,
                row,
                Action::StatusChanged,
                json!({"from": "active", "to": "needs_reauth", "reason_code": reason}),
            )
            .await?;
        }
        txn.commit().await?;
        tracing::warn!(connection = %row.id, reason_code = reason, "token renewal failed");
        Ok(())
    }

    /// Gives the lease back without changing anything else.
    async fn release(&self, held: &Held<'_>) -> Result<()> {
        let Held {
            tenant,
            row,
            attempt,
            ..
        } = *held;
        let scope = self.inner.db.enter(tenant, true).await?;
        connection::Entity::update_many()
            .set(connection::ActiveModel {
                refresh_lease_until: Set(None),
                refresh_lease_owner: Set(None),
                ..Default::default()
            })
            .filter(connection::Column::TenantId.eq(tenant.as_uuid()))
            .filter(connection::Column::Id.eq(row.id))
            .filter(connection::Column::RefreshLeaseOwner.eq(attempt))
            .exec(&scope)
            .await?;
        scope.finish().await?;
        Ok(())
    }

    /// The connections the background refresher should renew now, across tenants, at
    /// most `limit`.
    pub async fn due(&self, limit: u32) -> Result<Vec<(TenantId, ConnectionId)>> {
        let now = repositories::now();
        let before = now + to_delta(self.inner.options.margin + self.inner.options.interval);
        let idle_before = now - to_delta(self.inner.options.idle_after);
        let db = &self.inner.db;
        let backend = db.get_database_backend();
        let stmt = match backend {
            DbBackend::Postgres => Statement::from_sql_and_values(
                backend,
                "SELECT o_tenant_id, o_connection_id \
                 FROM connvault_due_refreshes($1, $2, $3, $4)",
                [
                    now.into(),
                    before.into(),
                    idle_before.into(),
                    (limit as i32).into(),
                ],
            ),
            _ => Statement::from_sql_and_values(
                backend,
                "SELECT c.tenant_id AS o_tenant_id, c.id AS o_connection_id \
                 FROM connections c \
                 WHERE c.status = 'active' \
                   AND (c.token_expires_at < ?2 \
                        OR COALESCE(c.last_refreshed_at, c.created_at) < ?3) \
                   AND (c.refresh_lease_until IS NULL OR c.refresh_lease_until < ?1) \
                   AND (c.refresh_retry_at IS NULL OR c.refresh_retry_at <= ?1) \
                   AND EXISTS (SELECT 1 FROM credential_secrets s \
                       WHERE s.tenant_id = c.tenant_id AND s.connection_id = c.id \
                         AND ((s.kind = 'oauth2' AND s.field = 'refresh_token') \
                              OR (s.kind = 'client_credentials' AND s.field = 'client_secret'))) \
                 ORDER BY c.token_expires_at LIMIT ?4",
                [
                    now.into(),
                    before.into(),
                    idle_before.into(),
                    (limit as i32).into(),
                ],
            ),
        };
        let rows = db.query_all_raw(stmt).await?;
        rows.iter()
            .map(|r| {
                let t: Uuid = r.try_get("", "o_tenant_id")?;
                let c: Uuid = r.try_get("", "o_connection_id")?;
                Ok((TenantId::from_uuid(t), ConnectionId::from_uuid(c)))
            })
            .collect::<std::result::Result<_, sea_orm::DbErr>>()
            .map_err(Into::into)
    }

    /// One background pass: renews every due connection, `concurrency` at a time,
    /// until none is left.
    pub async fn pass(&self) -> Result<PassReport> {
        const BATCH: u32 = 500;
        let mut report = PassReport {
            sessions_expired: crate::services::connect::expire_sessions(&self.inner.db).await?,
            ..PassReport::default()
        };
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.inner.options.concurrency.max(1),
        ));
        loop {
            let due = self.due(BATCH).await?;
            let n = due.len();
            report.due += n as u64;
            let mut tasks = tokio::task::JoinSet::new();
            for (tenant, connection) in due {
                let permit = limit.clone().acquire_owned().await.expect("semaphore open");
                let this = self.clone();
                tasks.spawn(async move {
                    let result = this.refresh_if_due(tenant, connection).await;
                    drop(permit);
                    result
                });
            }
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok(Ok(())) => report.refreshed += 1,
                    Ok(Err(err)) => {
                        report.failed += 1;
                        tracing::debug!(error = %err, "background renewal did not complete");
                    }
                    Err(err) => {
                        report.failed += 1;
                        tracing::error!(error = %err, "background renewal task failed");
                    }
                }
            }
            if n < BATCH as usize {
                break;
            }
        }
        Ok(report)
    }

    /// Runs background passes every `interval` until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.pass().await {
                Ok(report) if report.due > 0 || report.sessions_expired > 0 => {
                    tracing::info!(
                        due = report.due,
                        refreshed = report.refreshed,
                        failed = report.failed,
                        "background refresh pass"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "background refresh pass failed"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(self.inner.options.interval) => {}
            }
        }
    }
}

/// A renewal under a lease: whose connection, its row as the lease returned it, and
/// the attempt id that owns the lease.
#[derive(Clone, Copy)]
struct Held<'a> {
    tenant: TenantId,
    row: &'a connection::Model,
    attempt: Uuid,
    trigger: Trigger,
}

enum LeaseOutcome {
    Taken {
        attempt: Uuid,
        row: Box<connection::Model>,
    },
    Held,
    NotDue,
}

fn to_delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

fn refreshable(credential: &Credential) -> bool {
    matches!(
        credential,
        Credential::Oauth2 {
            refresh_token: Some(_),
            ..
        } | Credential::ClientCredentials { .. }
    )
}

/// Whether a connection's credential may be handed out at all.
fn usable(read: &CredentialRead) -> Result<()> {
    match read.status {
        ConnectionStatus::NeedsReauth | ConnectionStatus::Revoked | ConnectionStatus::Error => {
            Err(Error::ConnectionUnusable {
                status: read.status.to_value(),
                reason_code: read.reason_code.clone(),
            })
        }
        _ => {
            let expired = read
                .token_expires_at
                .is_some_and(|at| at - Utc::now() < MIN_VALIDITY);
            let renewable = refreshable(&read.credential);
            if expired && !renewable && matches!(read.credential, Credential::Oauth2 { .. }) {
                return Err(Error::ConnectionUnusable {
                    status: read.status.to_value(),
                    reason_code: Some("token_expired".to_owned()),
                });
            }
            Ok(())
        }
    }
}

/// The current token when it is still valid for a while, else `ProviderUnavailable`.
fn still_valid(
    read: CredentialRead,
    reason_code: &str,
    retry_after: Option<Duration>,
) -> Result<CredentialRead> {
    let has_token = !matches!(
        read.credential,
        Credential::ClientCredentials {
            access_token: None,
            ..
        }
    );
    let valid = has_token
        && read
            .token_expires_at
            .is_none_or(|at: DateTime<Utc>| at - Utc::now() >= MIN_VALIDITY);
    if valid {
        Ok(read)
    } else {
        Err(Error::ProviderUnavailable {
            reason_code: reason_code.to_owned(),
            retry_after_secs: retry_after.map(|d| Ord::max(d.as_secs(), 1)),
        })
    }
}

/// Whether a provider's answer means only a new consent (or new client credentials)
/// helps.
fn failure_sets_reauth(credential: &Credential, err: &TokenError) -> bool {
    match err {
        TokenError::Revoked { .. } => true,
        TokenError::Rejected { code, .. } => {
            matches!(credential, Credential::ClientCredentials { .. })
                && matches!(code.as_str(), "invalid_client" | "unauthorized_client")
        }
        TokenError::Transient { .. } => false,
    }
}

fn failure_reason<'a>(credential: &Credential, err: &'a TokenError) -> &'a str {
    if failure_sets_reauth(credential, err) && matches!(err, TokenError::Rejected { .. }) {
        "client_credentials_rejected"
    } else {
        err.reason_code()
    }
}

async fn record(
    txn: &TenantTxn,
    row: &connection::Model,
    action: Action,
    details: serde_json::Value,
) -> Result<()> {
    activity::record(
        txn,
        txn.tenant(),
        &Actor::system(ACTOR),
        Entry {
            connection_id: Some(row.id),
            provider_slug: Some(&row.provider_slug),
            action,
            details,
        },
    )
    .await?;
    Ok(())
}
