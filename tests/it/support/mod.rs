//! The test harness: every test gets its own database, a temp SQLite file or a fresh
//! PostgreSQL database on the local server (dropped afterwards), migrated and seeded.

#![allow(dead_code)]

use connvault::catalog::{self, Catalog};
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use connvault::db;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tempfile::TempDir;
use url::Url;

pub mod api;
pub mod http;
pub mod logs;
pub mod oidc;
pub mod secrets;
pub mod serve;

pub use logs::capture_logs;

/// The activity entries about connections, for `TestDb::count` (API-key changes are
/// recorded in the activity log too).
pub const CONNECTION_ACTIVITY: &str = "activity_log WHERE connection_id IS NOT NULL";

/// Where the tests find a PostgreSQL server allowed to create databases.
pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's own database.
pub struct TestDb {
    /// The service's pool: on PostgreSQL it logs in as the service role, bound by
    /// row-level security, exactly as `connvault serve` does.
    pub db: DatabaseConnection,
    /// The owner's pool (on PostgreSQL a superuser): for raw inspection and damage.
    pub owner: DatabaseConnection,
    /// The master key of [`TestDb::keyring`], base64 (tests only).
    pub master_key_b64: String,
    pub backend: Backend,
    /// The single URL a local set-up would be given (on PostgreSQL, the owner's).
    pub url: String,
    /// The URL the service's pool uses.
    pub service_url: String,
    dir: Option<TempDir>,
    pg_name: Option<String>,
}

/// A random master key in its base64 form.
pub fn random_master_key_b64() -> String {
    use aes_gcm::aead::OsRng;
    use aes_gcm::aead::rand_core::RngCore;
    use base64::Engine;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let key = base64::engine::general_purpose::STANDARD.encode(bytes);
    secrets::record(&key);
    key
}

impl TestDb {
    /// A keyring over this database with the test's master key.
    pub async fn keyring(&self) -> Keyring {
        self.keyring_with(KeyringOptions::default()).await
    }

    pub async fn keyring_with(&self, options: KeyringOptions) -> Keyring {
        Keyring::open(
            self.db.clone(),
            MasterKey::from_base64(&self.master_key_b64).expect("master key"),
            options,
        )
        .await
        .expect("keyring")
    }

    pub async fn sqlite() -> Self {
        Self::new(Backend::Sqlite).await
    }

    pub async fn postgres() -> Self {
        Self::new(Backend::Postgres).await
    }

    /// A migrated database with the built-in catalog seeded.
    pub async fn new(backend: Backend) -> Self {
        capture_logs();
        let mut t = Self::empty(backend).await;
        db::migrate(&t.owner).await.expect("migrate");
        if backend == Backend::Postgres {
            // Provisioned as a single-URL set-up does it (the URL has no password).
            let plan = db::Plan::derived(&t.url, db::roles::DEFAULT_SERVICE_ROLE).expect("plan");
            if let Some(password) = plan.role.as_ref().and_then(|r| r.password.as_ref()) {
                secrets::record(secrecy::ExposeSecret::expose_secret(password));
            }
            db::roles::provision(&t.owner, db::roles::DEFAULT_SERVICE_ROLE, None, false)
                .await
                .expect("provision the service role");
            t.db = db::connect(&plan.service_url, 10)
                .await
                .expect("connect as the service role");
            db::roles::self_check(&t.db).await.expect("self-check");
            t.service_url = plan.service_url;
        }
        catalog::seed(&t.db, &Catalog::builtin().expect("catalog"))
            .await
            .expect("seed");
        t
    }

    /// A database with nothing in it, not even the schema.
    pub async fn empty(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("connvault.db").display()
                );
                let db = db::connect(&url, 5).await.expect("connect sqlite");
                Self {
                    owner: db.clone(),
                    db,
                    service_url: url.clone(),
                    master_key_b64: random_master_key_b64(),
                    backend,
                    url,
                    dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = admin_database_url();
                let name = format!("cv_test_{}", uuid::Uuid::new_v4().simple());
                let server = Database::connect(&admin).await.expect("connect postgres");
                server
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create database");
                server.close().await.ok();
                let mut url = Url::parse(&admin).expect("TEST_DATABASE_URL");
                url.set_path(&format!("/{name}"));
                let url = url.to_string();
                let db = db::connect(&url, 10).await.expect("connect test db");
                Self {
                    owner: db.clone(),
                    db,
                    service_url: url.clone(),
                    master_key_b64: random_master_key_b64(),
                    backend,
                    url,
                    dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The SQLite file, for tests that look at raw bytes.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("connvault.db"))
    }

    pub fn db_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Runs raw SQL as the owner and returns the number of affected rows, or the error.
    pub async fn exec(&self, sql: &str) -> Result<u64, sea_orm::DbErr> {
        self.owner
            .execute_raw(Statement::from_string(self.db_backend(), sql))
            .await
            .map(|r| r.rows_affected())
    }

    /// `SELECT COUNT(*) FROM table`, as the owner (every tenant's rows).
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .owner
            .query_one_raw(Statement::from_string(
                self.db_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop the database from a runtime of its own: the test's runtime may be
        // shutting down, and async drop does not exist.
        let admin = admin_database_url();
        let dropper = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(server) = Database::connect(&admin).await {
                    let _ = server
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    server.close().await.ok();
                }
            });
        });
        let _ = dropper.join();
    }
}

/// Generates, for each named `async fn(TestDb)`, one test on SQLite and one on
/// PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::TestDb::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::TestDb::postgres().await).await
                }
            )*
        }
    };
}

/// Waits until a watched cache's first check has passed (`trusted` says so).
pub async fn until_trusted(trusted: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !trusted() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the first check passes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A fresh tenant.
pub async fn tenant(t: &TestDb) -> connvault::models::TenantId {
    connvault::repositories::tenants::create(&t.db, "Tenant")
        .await
        .expect("tenant")
        .tenant_id()
}

/// A connection input for `provider` and `external_id`.
pub fn new_connection(
    provider: &str,
    external_id: &str,
) -> connvault::repositories::connections::NewConnection {
    connvault::repositories::connections::NewConnection::new(
        connvault::models::ProviderSlug::parse(provider).expect("slug"),
        connvault::models::ExternalId::parse(external_id).expect("external id"),
    )
}

/// Creates a connection and returns it.
pub async fn connection(
    t: &TestDb,
    tenant: connvault::models::TenantId,
    provider: &str,
    external_id: &str,
) -> connvault::models::connection::Model {
    connvault::repositories::connections::create(
        &t.db,
        tenant,
        new_connection(provider, external_id),
    )
    .await
    .expect("create connection")
}
