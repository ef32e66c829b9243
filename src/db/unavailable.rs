//! Which database failures mean "the database cannot serve now" (answered 503
//! `database_unavailable` with `Retry-After`) rather than a fault of this request, and
//! the one-line message for a database that cannot be opened at start-up.

use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};

/// PostgreSQL error codes (SQLSTATE) of a server that is going away, full, read-only
/// or missing this service's schema; a class is matched by its first two characters.
const PG_UNAVAILABLE: &[&str] = &[
    "08",    // connection exception (class)
    "53",    // insufficient resources (class): disk full, out of memory, too many connections
    "57P01", // admin_shutdown: the server, or someone, ended the session
    "57P02", // crash_shutdown
    "57P03", // cannot_connect_now: starting up or shutting down
    "3D000", // invalid_catalog_name: the database does not exist
    "3F000", // invalid_schema_name
    "42P01", // undefined_table: the schema is not migrated
    "42883", // undefined_function: the schema's functions are missing
    "25006", // read_only_sql_transaction: a standby after a fail-over
    "28000", // invalid_authorization_specification: the login role is gone
    "28P01", // invalid_password
];

/// SQLite primary result codes of a file that cannot be used.
const SQLITE_UNAVAILABLE: &[i64] = &[
    5,  // SQLITE_BUSY: still locked after the busy timeout
    10, // SQLITE_IOERR
    11, // SQLITE_CORRUPT
    13, // SQLITE_FULL
    14, // SQLITE_CANTOPEN
    26, // SQLITE_NOTADB
];

/// SQLITE_READONLY_DBMOVED: the file was moved or unlinked under an open connection.
const SQLITE_READONLY_DBMOVED: i64 = 1032;

/// Whether `err` says the database is down, unreachable or unusable (schema missing),
/// so that the same request may succeed once it is back.
pub fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailable(e)
        }
        _ => false,
    }
}

fn sqlx_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                Some(_) => sqlite_code_unavailable(&code, db.message()),
                None => pg_code_unavailable(&code),
            }
        }
        _ => false,
    }
}

/// A PostgreSQL SQLSTATE in [`PG_UNAVAILABLE`] (exactly, or by its class).
fn pg_code_unavailable(code: &str) -> bool {
    PG_UNAVAILABLE.iter().any(|c| {
        if c.len() == 2 {
            code.starts_with(c)
        } else {
            code == *c
        }
    })
}

/// An SQLite (extended) result code in [`SQLITE_UNAVAILABLE`], or a missing table.
fn sqlite_code_unavailable(code: &str, message: &str) -> bool {
    let Ok(code) = code.parse::<i64>() else {
        return false;
    };
    code == SQLITE_READONLY_DBMOVED
        || SQLITE_UNAVAILABLE.contains(&(code & 0xff))
        || (code & 0xff == 1 && message.starts_with("no such table"))
}

/// One line for a pool that could not be opened: the server (or file) and the cause,
/// never the password, never repeated.
pub fn describe_connect_failure(url: &str, err: &DbErr) -> String {
    let cause = match err {
        DbErr::Conn(RuntimeErr::SqlxError(e)) => sqlx_cause(e),
        DbErr::ConnectionAcquire(_) => "no connection within the acquire timeout".to_owned(),
        other => other.to_string(),
    };
    if url.starts_with("sqlite:") {
        let file = super::sqlite_file::target(url)
            .path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ":memory:".to_owned());
        return format!("cannot open the SQLite database {file}: {cause}");
    }
    format!(
        "cannot connect to PostgreSQL at {}: {cause}",
        server_of(url)
    )
}

/// The cause of a connection failure, without PostgreSQL's source-line suffix.
fn sqlx_cause(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::PoolTimedOut => format!(
            "no connection within {} s (is the server up and reachable?)",
            super::ACQUIRE_TIMEOUT.as_secs()
        ),
        sqlx::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// `host:port/database (user NAME)` of a PostgreSQL URL; never its password.
pub fn server_of(url: &str) -> String {
    let Ok(url) = url::Url::parse(url) else {
        return "<unparseable URL>".to_owned();
    };
    let host = url.host_str().unwrap_or("localhost");
    let port = url.port().unwrap_or(5432);
    let database = url.path().trim_start_matches('/');
    let mut out = format!("{host}:{port}/{database}");
    if !url.username().is_empty() {
        out.push_str(&format!(" (user {})", url.username()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_codes_of_an_outage_or_a_missing_schema_are_unavailable() {
        for code in [
            "08006", "08001", "57P01", "3D000", "42883", "42P01", "53300",
        ] {
            assert!(pg_code_unavailable(code), "{code}");
        }
        for code in ["23505", "23503", "42501", "22P02", "40001", ""] {
            assert!(!pg_code_unavailable(code), "{code}");
        }
    }

    #[test]
    fn sqlite_codes_of_a_lost_file_or_missing_table_are_unavailable() {
        assert!(sqlite_code_unavailable(
            "14",
            "unable to open database file"
        ));
        assert!(sqlite_code_unavailable(
            "1032",
            "attempt to write a readonly database"
        ));
        assert!(sqlite_code_unavailable("522", "disk I/O error")); // IOERR_SHORT_READ
        assert!(sqlite_code_unavailable("1", "no such table: tenants"));
        assert!(!sqlite_code_unavailable("1", "near \"x\": syntax error"));
        assert!(!sqlite_code_unavailable("2067", "UNIQUE constraint failed"));
        assert!(!sqlite_code_unavailable("x", ""));
    }

    #[test]
    fn pool_and_connection_failures_are_unavailable_other_errors_are_not() {
        use sea_orm::error::ConnAcquireErr;
        assert!(is_unavailable(&DbErr::ConnectionAcquire(
            ConnAcquireErr::Timeout
        )));
        assert!(is_unavailable(&DbErr::Query(RuntimeErr::SqlxError(
            std::sync::Arc::new(sqlx::Error::PoolTimedOut)
        ))));
        assert!(!is_unavailable(&DbErr::RecordNotFound("x".into())));
        assert!(!is_unavailable(&DbErr::Custom("x".into())));
    }

    #[test]
    fn the_server_is_named_without_the_password() {
        let shown = server_of("postgres://svc:Sup3rSecretPw@db.internal:6432/connvault");
        assert_eq!(shown, "db.internal:6432/connvault (user svc)");
        assert_eq!(server_of("postgres://db/x"), "db:5432/x");
        assert!(!server_of("postgres://u:pw@[::1/x").contains("pw"));
    }
}
