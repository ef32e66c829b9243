//! Connecting to the database (SQLite file or PostgreSQL) and migrating it; [`roles`]
//! holds the PostgreSQL roles and the start-up self-check, [`readiness`] what `/readyz`
//! checks, [`unavailable`] which failures mean the database cannot serve now,
//! [`local_writes`] the in-process news of tenant writes for caches.

pub mod local_writes;
pub mod readiness;
pub mod roles;
pub mod sqlite_file;
pub mod unavailable;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteSynchronous;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

pub use unavailable::is_unavailable;

/// How long an SQLite writer waits for the lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a caller waits for a pooled connection (or a new one) before the database
/// counts as unavailable: a request answers 503 within this time when the server is
/// down or the pool cannot open a connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// Which backend a database URL selects; anything else is refused.
pub fn backend_of(url: &str) -> Result<DbBackend, DbErr> {
    if url.starts_with("sqlite:") {
        Ok(DbBackend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DbBackend::Postgres)
    } else {
        Err(DbErr::Custom(
            "unsupported DATABASE_URL: use sqlite://FILE?mode=rwc or postgres://…".to_owned(),
        ))
    }
}

/// Opens a pool. A database that cannot be opened is
/// [`crate::Error::DatabaseUnavailable`], one line naming the file or the server.
///
/// On SQLite every pooled connection gets WAL, foreign keys and a busy timeout; the
/// file must exist (`mode=rwc` creates it first) and the pool never creates it again:
/// a connection is handed out only while the path names the file opened here.
///
/// A connection is awaited for [`ACQUIRE_TIMEOUT`]. On PostgreSQL the server sends no
/// notices below `WARNING` (such as the `already exists, skipping` of the
/// migrator's `CREATE TABLE IF NOT EXISTS`, which sqlx would log at `INFO`).
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, crate::Error> {
    let backend = backend_of(url)?;
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(max_connections.max(1))
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false);
    match backend {
        DbBackend::Sqlite => {
            let guard = sqlite_file::prepare(url)?;
            // No `journal_mode` here: WAL is set once below and stays with the file, so
            // a connection the guard refuses has neither read nor written anything.
            opts.map_sqlx_sqlite_opts(|o| {
                o.foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .synchronous(SqliteSynchronous::Normal)
                    .create_if_missing(false)
            });
            if let Some(guard) = guard {
                let before = guard.clone();
                opts.map_sqlx_sqlite_before_acquire(move |_, _| {
                    let checked = before.check_sqlx();
                    Box::pin(async move { checked.map(|()| true) })
                });
                opts.map_sqlx_sqlite_pool_opts(move |pool| {
                    let guard = guard.clone();
                    pool.after_connect(move |_, _| {
                        let checked = guard.check_sqlx();
                        Box::pin(async move { checked })
                    })
                });
            }
        }
        _ => {
            opts.map_sqlx_postgres_opts(|o| o.options([("client_min_messages", "warning")]));
        }
    }
    let unavailable = |e: DbErr| {
        crate::Error::DatabaseUnavailable(unavailable::describe_connect_failure(url, &e))
    };
    let db = Database::connect(opts).await.map_err(unavailable)?;
    if backend == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL")
            .await
            .map_err(unavailable)?;
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Where the service and its migrations connect. On SQLite both are the same file. On
/// PostgreSQL the owner migrates and provisions the service role; the service logs in
/// as that role and never holds the owner's privileges.
pub struct Plan {
    /// The service's database URL (may hold a password: never log it).
    pub service_url: String,
    /// The owner's URL, when this process may migrate.
    pub owner_url: Option<String>,
    /// The service role to provision (PostgreSQL).
    pub role: Option<ServiceRole>,
}

/// The service's login role, as the owner should provision it.
pub struct ServiceRole {
    pub name: String,
    pub password: Option<secrecy::SecretString>,
    /// Set the password even when the role exists (a derived password, which the
    /// single-URL set-up owns), rather than only when creating it.
    pub always_set_password: bool,
}

impl Plan {
    /// SQLite, or a database whose schema and roles someone else manages.
    pub fn single(url: &str) -> Self {
        Self {
            service_url: url.to_owned(),
            owner_url: Some(url.to_owned()),
            role: None,
        }
    }

    /// PostgreSQL with one URL, the owner's: the service logs in as `role` on the same
    /// server and database, with a password derived from the owner's.
    pub fn derived(owner_url: &str, role: &str) -> Result<Self, crate::Error> {
        roles::check_role_name(role)?;
        let mut url = url::Url::parse(owner_url)
            .map_err(|_| crate::Error::invalid("DATABASE_URL", "not a valid URL"))?;
        let password = roles::derived_password(url.password(), role);
        let bad = |_| crate::Error::invalid("DATABASE_URL", "cannot carry a user name");
        url.set_username(role).map_err(bad)?;
        url.set_password(password.as_ref().map(secrecy::ExposeSecret::expose_secret))
            .map_err(bad)?;
        Ok(Self {
            service_url: url.to_string(),
            owner_url: Some(owner_url.to_owned()),
            role: Some(ServiceRole {
                name: role.to_owned(),
                password,
                always_set_password: true,
            }),
        })
    }

    /// PostgreSQL with two URLs: `owner_url` migrates, the user of `service_url` serves.
    pub fn separate(service_url: &str, owner_url: &str) -> Result<Self, crate::Error> {
        if backend_of(owner_url).ok() != Some(DbBackend::Postgres)
            || url::Url::parse(owner_url).is_err()
        {
            return Err(crate::Error::invalid(
                "MIGRATION_DATABASE_URL",
                "must be a postgres:// URL on the server of DATABASE_URL",
            ));
        }
        let url = url::Url::parse(service_url)
            .map_err(|_| crate::Error::invalid("DATABASE_URL", "not a valid URL"))?;
        let name = url.username().to_owned();
        roles::check_role_name(&name)?;
        Ok(Self {
            service_url: service_url.to_owned(),
            owner_url: Some(owner_url.to_owned()),
            role: Some(ServiceRole {
                name,
                password: url
                    .password()
                    .map(|p| secrecy::SecretString::from(roles::url_password(p))),
                always_set_password: false,
            }),
        })
    }
}

/// Migrates and provisions as the owner (when the plan has one), then opens the
/// service's pool and, on PostgreSQL, refuses it unless row-level security binds it.
pub async fn open(plan: &Plan, max_connections: u32) -> Result<DatabaseConnection, crate::Error> {
    let same = plan.owner_url.as_deref() == Some(plan.service_url.as_str());
    if let Some(owner_url) = plan.owner_url.as_deref().filter(|_| !same) {
        let owner = connect(owner_url, 2).await?;
        migrate(&owner).await?;
        if let Some(role) = &plan.role {
            roles::provision(
                &owner,
                &role.name,
                role.password.as_ref(),
                role.always_set_password,
            )
            .await?;
        }
        owner.close().await?;
    }
    let db = connect(&plan.service_url, max_connections).await?;
    if same {
        migrate(&db).await?;
    }
    roles::self_check(&db).await?;
    Ok(db)
}
