//! Configuration: one typed struct per concern, filled from flags and environment
//! variables (documented in `.env.example`), passed down explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// The deployment profile: what start-up may do on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// A developer's machine: SQLite by default, the catalog seeded at start-up.
    Local,
    /// Automated tests: like `local`.
    Test,
    /// Production: explicit database, nothing seeded behind the operator's back.
    Production,
}

impl Profile {
    /// Whether `serve` upserts the built-in catalog at start-up.
    pub fn seeds_catalog_at_startup(self) -> bool {
        matches!(self, Profile::Local | Profile::Test)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The SQLite file used when no database is configured, in the current directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://connvault.db?mode=rwc";

/// Settings every subcommand shares. `Debug` hides the database password.
#[derive(Args, Clone)]
pub struct GlobalArgs {
    /// Database to use: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    /// Defaults to `connvault.db` in the current directory (not in production).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL only: the role that owns the schema and runs migrations. With it,
    /// `DATABASE_URL` names the service's login role (no ownership, no BYPASSRLS).
    /// Without it, `DATABASE_URL` is the owner and the service logs in as
    /// `CONNVAULT_SERVICE_ROLE`, which connvault creates (not in production).
    #[arg(
        long,
        env = "MIGRATION_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub migration_database_url: Option<String>,

    /// PostgreSQL, single-URL set-up: the login role the service uses.
    #[arg(
        long,
        env = "CONNVAULT_SERVICE_ROLE",
        default_value = crate::db::roles::DEFAULT_SERVICE_ROLE,
        global = true
    )]
    pub service_role: String,

    /// Deployment profile.
    #[arg(
        long,
        env = "CONNVAULT_PROFILE",
        value_enum,
        default_value = "local",
        global = true
    )]
    pub profile: Profile,

    /// Provider catalog file to use instead of the built-in one.
    #[arg(long, env = "CONNVAULT_CATALOG", global = true)]
    pub catalog: Option<PathBuf>,

    /// Log format on standard error.
    #[arg(
        long,
        env = "CONNVAULT_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Also append the audit trail (target `connvault::audit`: credential reads, API-key
    /// changes) to this file, as JSON lines.
    #[arg(long, env = "CONNVAULT_AUDIT_LOG", global = true)]
    pub audit_log: Option<PathBuf>,

    /// File holding the base64 master key (instead of `CONNVAULT_MASTER_KEY`).
    #[arg(long, env = "CONNVAULT_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,

    /// Make a new data key after this many encryptions under the active one.
    #[arg(long, env = "CONNVAULT_KEY_ROTATE_AFTER", default_value_t = crate::crypto::KeyringOptions::DEFAULT_ROTATE_AFTER, global = true)]
    pub key_rotate_after: u64,

    /// Largest number of pooled database connections.
    #[arg(
        long,
        env = "CONNVAULT_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,
}

impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalArgs")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field(
                "migration_database_url",
                &self.migration_database_url.as_deref().map(redact_url),
            )
            .field("service_role", &self.service_role)
            .field("profile", &self.profile)
            .field("catalog", &self.catalog)
            .field("log_format", &self.log_format)
            .field("audit_log", &self.audit_log)
            .field("master_key_file", &self.master_key_file)
            .field("key_rotate_after", &self.key_rotate_after)
            .field("db_max_connections", &self.db_max_connections)
            .finish()
    }
}

/// A database URL with its password, if any, replaced.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) => "<unparseable>".to_owned(),
    }
}

impl GlobalArgs {
    pub fn keyring_options(&self) -> crate::crypto::KeyringOptions {
        crate::crypto::KeyringOptions {
            rotate_after: self.key_rotate_after,
        }
    }

    /// The database URL to use; production must name one explicitly.
    pub fn database_url(&self) -> anyhow::Result<String> {
        match (&self.database_url, self.profile) {
            (Some(url), _) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
            (_, Profile::Production) => Err(anyhow::anyhow!(
                "DATABASE_URL is required with the production profile"
            )),
            _ => Ok(DEFAULT_DATABASE_URL.to_owned()),
        }
    }
}

/// A public URL end users can be sent to: `http` or `https` with a host, no user
/// information, query or fragment (paths are appended to it); in production `https`,
/// unless the host is a loopback address.
pub fn check_public_url(url: &url::Url, profile: Profile) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".to_owned());
    }
    let Some(host) = url.host() else {
        return Err("must name a host".to_owned());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not carry a query or a fragment".to_owned());
    }
    let loopback = match host {
        url::Host::Domain(name) => name == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    if profile == Profile::Production && url.scheme() != "https" && !loopback {
        return Err(
            "must be https:// in the production profile (OAuth redirect URIs and connect links)"
                .to_owned(),
        );
    }
    Ok(())
}

impl GlobalArgs {
    /// What start-up can check of these settings before anything is touched (the
    /// database plan and the master key are checked by their own functions).
    pub fn validate(&self) -> anyhow::Result<()> {
        let max = crate::crypto::KeyringOptions::MAX_ROTATE_AFTER;
        if !(1..=max).contains(&self.key_rotate_after) {
            anyhow::bail!("CONNVAULT_KEY_ROTATE_AFTER must be between 1 and {max}");
        }
        Ok(())
    }

    /// Who connects for what: see [`crate::db::Plan`].
    pub fn database_plan(&self) -> anyhow::Result<crate::db::Plan> {
        let url = self.database_url()?;
        if crate::db::backend_of(&url)? != sea_orm::DbBackend::Postgres {
            return Ok(crate::db::Plan::single(&url));
        }
        match self.migration_database_url.as_deref().map(str::trim) {
            Some(owner) if !owner.is_empty() => Ok(crate::db::Plan::separate(&url, owner)?),
            _ if self.profile == Profile::Production => Err(anyhow::anyhow!(
                "the production profile needs MIGRATION_DATABASE_URL (the role that owns the \
                 schema) besides DATABASE_URL (the service's login role)"
            )),
            _ => Ok(crate::db::Plan::derived(&url, &self.service_role)?),
        }
    }
}

/// Settings of `connvault serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "CONNVAULT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Base URL end users reach this service at: connect links and the OAuth redirect
    /// URIs (`<public-url>/oauth/callback/<provider>`) start with it. Defaults to
    /// `http://<bind>`.
    #[arg(long, env = "CONNVAULT_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// Renew a token that expires within this many seconds (a provider's
    /// `refresh_margin_seconds` metadata overrides it).
    #[arg(long, env = "CONNVAULT_REFRESH_MARGIN_SECS", default_value_t = 300)]
    pub refresh_margin_secs: u64,
    /// Seconds between background refresh passes; 0 turns the background refresher off.
    #[arg(long, env = "CONNVAULT_REFRESH_INTERVAL_SECS", default_value_t = 30)]
    pub refresh_interval_secs: u64,
    /// Renew tokens not renewed for this many seconds, so providers do not revoke them
    /// for disuse (default 14 days).
    #[arg(long, env = "CONNVAULT_REFRESH_IDLE_AFTER_SECS", default_value_t = 14 * 24 * 3600)]
    pub refresh_idle_after_secs: u64,
    /// Renewals the background refresher runs at once.
    #[arg(long, env = "CONNVAULT_REFRESH_CONCURRENCY", default_value_t = 16)]
    pub refresh_concurrency: usize,
    /// Timeout of one request to a provider's token or identity endpoint, in seconds.
    #[arg(long, env = "CONNVAULT_OAUTH_TIMEOUT_SECS", default_value_t = 10)]
    pub oauth_timeout_secs: u64,
    /// Largest inbound webhook delivery accepted, in bytes (larger: 413).
    #[arg(long, env = "CONNVAULT_WEBHOOK_MAX_BYTES", default_value_t = crate::services::inbound::DEFAULT_MAX_BYTES,
          value_parser = clap::value_parser!(usize))]
    pub webhook_max_bytes: usize,
    /// Days a webhook event is kept before the periodic purge deletes it.
    #[arg(long, env = "CONNVAULT_WEBHOOK_RETENTION_DAYS", default_value_t = crate::services::inbound::DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub webhook_retention_days: u32,
    /// Seconds from one scheduled health check of a connection to the next (jittered by
    /// a tenth either way); 0 turns scheduled checks off.
    #[arg(long, env = "CONNVAULT_HEALTH_CHECK_INTERVAL_SECS", default_value_t = 6 * 3600)]
    pub health_check_interval_secs: u64,
    /// Scheduled health checks run at once.
    #[arg(long, env = "CONNVAULT_HEALTH_CHECK_CONCURRENCY", default_value_t = 8)]
    pub health_check_concurrency: usize,
    /// Timeout of a health check's request to a provider, in milliseconds.
    #[arg(
        long,
        env = "CONNVAULT_HEALTH_CHECK_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub health_check_timeout_ms: u64,
    /// Outbound events: allow endpoint URLs that resolve to loopback, private,
    /// link-local or metadata addresses in the production profile (always allowed in
    /// `local` and `test`, as is http).
    #[arg(long, env = "CONNVAULT_EVENT_ALLOW_PRIVATE", default_value_t = false)]
    pub event_allow_private: bool,
    /// Days an outbound event, with its deliveries, is kept before the purge.
    #[arg(long, env = "CONNVAULT_EVENT_RETENTION_DAYS", default_value_t = crate::services::events::DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub event_retention_days: u32,
    /// Delays before each delivery attempt, comma-separated (`ms`, `s`, `m`, `h`);
    /// after the last, a delivery fails. Compress it for tests.
    #[arg(
        long,
        env = "CONNVAULT_EVENT_RETRY_SCHEDULE",
        default_value = "0,5s,5m,30m,2h,5h,10h,10h"
    )]
    pub event_retry_schedule: String,
    /// Timeout of one delivery attempt, in milliseconds.
    #[arg(long, env = "CONNVAULT_EVENT_TIMEOUT_MS", default_value_t = 15_000)]
    pub event_timeout_ms: u64,
    /// An endpoint whose attempts all failed for this many seconds is disabled (5 days).
    #[arg(long, env = "CONNVAULT_EVENT_DISABLE_AFTER_SECS", default_value_t = 5 * 24 * 3600)]
    pub event_disable_after_secs: u64,
    /// Seconds a rotated-out signing secret keeps signing beside the new one (24 h).
    #[arg(long, env = "CONNVAULT_EVENT_SECRET_OVERLAP_SECS", default_value_t = 24 * 3600)]
    pub event_secret_overlap_secs: u64,
    /// Milliseconds between the delivery worker's passes.
    #[arg(long, env = "CONNVAULT_EVENT_POLL_MS", default_value_t = 1000)]
    pub event_poll_ms: u64,
    /// Delivery attempts one process sends at once.
    #[arg(long, env = "CONNVAULT_EVENT_CONCURRENCY", default_value_t = 16)]
    pub event_concurrency: usize,
    /// API keys kept in memory after their first use (an LRU; 0 turns the cache off).
    /// A revocation reaches every replica within a second.
    #[arg(long, env = "CONNVAULT_KEY_CACHE_CAPACITY", default_value_t = crate::services::key_cache::DEFAULT_CAPACITY)]
    pub key_cache_capacity: usize,
    /// Connections whose credential ciphertext the read keeps in memory (an LRU; 0
    /// turns the cache off). A credential replaced, disconnected or re-encrypted
    /// through any replica is not served stale after a second.
    #[arg(long, env = "CONNVAULT_CREDENTIAL_CACHE_CAPACITY", default_value_t = crate::services::credential_cache::DEFAULT_CAPACITY)]
    pub credential_cache_capacity: usize,
    /// The CSP `frame-ancestors` sources allowed to embed the connect page and the
    /// console (for example `https://app.example.com`); `'none'` forbids embedding.
    #[arg(long, env = "CONNVAULT_WEB_FRAME_ANCESTORS", default_value = "'none'")]
    pub web_frame_ancestors: String,
    /// A console session ends after this many seconds without a request.
    #[arg(long, env = "CONNVAULT_CONSOLE_IDLE_SECS", default_value_t = 30 * 60)]
    pub console_idle_secs: u64,
    /// A console session ends this many seconds after sign-in.
    #[arg(long, env = "CONNVAULT_CONSOLE_MAX_SECS", default_value_t = 12 * 3600)]
    pub console_max_secs: u64,
}

impl ServeArgs {
    /// The refresher's options from these settings. The lease outlasts every attempt
    /// of one renewal with its back-off.
    pub fn refresh_options(&self) -> crate::services::refresh::RefreshOptions {
        use std::time::Duration;
        let defaults = crate::services::refresh::RefreshOptions::default();
        let timeout = Duration::from_secs(self.oauth_timeout_secs.max(1));
        let lease =
            (timeout + Duration::from_secs(5)) * defaults.attempts + Duration::from_secs(10);
        crate::services::refresh::RefreshOptions {
            margin: Duration::from_secs(self.refresh_margin_secs),
            lease,
            idle_after: Duration::from_secs(self.refresh_idle_after_secs.max(60)),
            interval: Duration::from_secs(self.refresh_interval_secs.max(1)),
            concurrency: self.refresh_concurrency.max(1),
            http_timeout: timeout,
            wait: lease,
            credential_cache_capacity: self.credential_cache_capacity,
            ..defaults
        }
    }

    /// The health checker's options from these settings.
    pub fn health_options(&self) -> crate::services::health::HealthOptions {
        use std::time::Duration;
        crate::services::health::HealthOptions {
            interval: Duration::from_secs(self.health_check_interval_secs),
            timeout: Duration::from_millis(self.health_check_timeout_ms.max(1)),
            concurrency: self.health_check_concurrency.max(1),
        }
    }

    /// The outbound events' options from these settings and the profile.
    pub fn event_options(
        &self,
        profile: Profile,
    ) -> anyhow::Result<crate::services::events::EventOptions> {
        use std::time::Duration;

        use crate::services::events::EventOptions;
        let schedule = crate::events::RetrySchedule::parse(&self.event_retry_schedule)
            .map_err(|why| anyhow::anyhow!("CONNVAULT_EVENT_RETRY_SCHEDULE: {why}"))?;
        Ok(EventOptions {
            url_policy: EventOptions::url_policy_for(profile, self.event_allow_private),
            schedule,
            timeout: Duration::from_millis(self.event_timeout_ms.clamp(1, 60_000)),
            disable_after: Duration::from_secs(self.event_disable_after_secs.max(1)),
            secret_overlap: Duration::from_secs(self.event_secret_overlap_secs),
            concurrency: self.event_concurrency.max(1),
            poll: Duration::from_millis(self.event_poll_ms.max(10)),
            retention_days: self.event_retention_days,
            ..EventOptions::default()
        })
    }

    /// The web pages' options from these settings.
    pub fn web_options(&self) -> crate::web::WebOptions {
        use std::time::Duration;
        crate::web::WebOptions {
            frame_ancestors: self.web_frame_ancestors.trim().to_owned(),
            idle: Duration::from_secs(self.console_idle_secs.max(60)),
            absolute: Duration::from_secs(self.console_max_secs.max(60)),
        }
    }

    /// What start-up can check of these settings before anything is touched.
    pub fn validate(&self, profile: Profile) -> anyhow::Result<()> {
        self.event_options(profile)?;
        let ancestors = self.web_frame_ancestors.trim();
        if ancestors.is_empty()
            || ancestors
                .chars()
                .any(|c| c.is_control() || matches!(c, ';' | ',' | '"'))
        {
            anyhow::bail!(
                "CONNVAULT_WEB_FRAME_ANCESTORS must be CSP sources separated by spaces ('none', 'self', https://app.example.com)"
            );
        }
        if self.webhook_max_bytes == 0 {
            anyhow::bail!("CONNVAULT_WEBHOOK_MAX_BYTES must be at least 1");
        }
        if let Some(url) = &self.public_url {
            check_public_url(url, profile)
                .map_err(|why| anyhow::anyhow!("CONNVAULT_PUBLIC_URL {why}"))?;
        }
        Ok(())
    }

    /// The public URL, or `http://<bind>`.
    pub fn public_url(&self) -> url::Url {
        self.public_url.clone().unwrap_or_else(|| {
            url::Url::parse(&format!("http://{}", self.bind)).expect("a socket address makes a URL")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Profile, check_public_url};

    fn check(url: &str, profile: Profile) -> Result<(), String> {
        check_public_url(&url::Url::parse(url).unwrap(), profile)
    }

    #[test]
    fn a_public_url_is_http_or_https_with_a_host_and_nothing_else() {
        assert_eq!(
            check("https://vault.example.com/base", Profile::Production),
            Ok(())
        );
        assert_eq!(check("http://vault.example.com", Profile::Local), Ok(()));
        assert_eq!(check("http://127.0.0.1:8080", Profile::Production), Ok(()));
        assert_eq!(check("http://localhost:8080", Profile::Production), Ok(()));
        for bad in [
            "ftp://vault.example.com",
            "https://user:pw@vault.example.com",
            "https://vault.example.com/?x=1",
            "https://vault.example.com/#top",
            "unix:/run/connvault.sock",
        ] {
            assert!(check(bad, Profile::Local).is_err(), "{bad}");
        }
        let err = check("http://vault.example.com", Profile::Production).unwrap_err();
        assert!(err.contains("https"), "{err}");
    }
}
