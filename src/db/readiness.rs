//! What serving needs of the database beyond answering, for `/readyz`: every migration
//! this binary knows is applied, and on PostgreSQL the functions the service calls
//! exist and the service may execute them. Each check says what is wrong in one line.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The PostgreSQL functions the service calls (made by the migrations).
pub const SERVICE_FUNCTIONS: &[&str] = &[
    "connvault_applied_migrations",
    "connvault_authenticate",
    "connvault_claim_queued",
    "connvault_connections_by_health",
    "connvault_current_tenant",
    "connvault_due_health_checks",
    "connvault_due_refreshes",
    "connvault_expire_connect_sessions",
    "connvault_find_claim",
    "connvault_key_usage",
    "connvault_purge_webhook_events",
    "connvault_read_credentials",
    "connvault_reencrypt_rows",
    "connvault_stale_runs",
    "connvault_webhook_connection",
];

/// Why the database cannot serve although it answers, or `Ok`.
pub async fn schema<C: ConnectionTrait>(db: &C) -> Result<(), String> {
    let missing = missing_migrations(db).await?;
    if let Some(first) = missing.first() {
        return Err(format!(
            "{} of {} migrations are not applied (first: {first}); run `connvault migrate up`",
            missing.len(),
            Migrator::migrations().len()
        ));
    }
    if db.get_database_backend() == DbBackend::Postgres {
        let absent = missing_functions(db).await.map_err(|e| problem(&e))?;
        if !absent.is_empty() {
            return Err(format!(
                "functions missing or not executable by the service role: {}",
                absent.join(", ")
            ));
        }
    }
    Ok(())
}

/// The migrations this binary knows that the database has not applied, in order. On
/// PostgreSQL the service reads them through `connvault_applied_migrations()`: it holds
/// no privilege on the migration table.
async fn missing_migrations<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT connvault_applied_migrations() AS version",
        _ => "SELECT version FROM seaql_migrations",
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .map_err(|e| {
            if is_not_migrated(&e) {
                "the schema is not migrated; run `connvault migrate up`".to_owned()
            } else {
                problem(&e)
            }
        })?;
    let applied: std::collections::HashSet<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "version").ok())
        .collect();
    Ok(Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect())
}

/// The names in [`SERVICE_FUNCTIONS`] with no function in the current schema that the
/// current role may execute.
async fn missing_functions<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT f.name FROM unnest($1::text[]) AS f(name) \
             WHERE NOT EXISTS (SELECT 1 FROM pg_proc p \
               JOIN pg_namespace n ON n.oid = p.pronamespace \
               WHERE n.nspname = current_schema() AND p.proname = f.name \
               AND has_function_privilege(p.oid, 'EXECUTE')) \
             ORDER BY 1",
            [SERVICE_FUNCTIONS
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String>("", "name"))
        .collect()
}

/// The migration table (SQLite) or the function that reads it (PostgreSQL) is missing.
fn is_not_migrated(err: &DbErr) -> bool {
    let text = err.to_string();
    (text.contains("seaql_migrations") || text.contains("connvault_applied_migrations"))
        && (text.contains("no such table") || text.contains("does not exist"))
}

/// A failed check's error in one line, without PostgreSQL's source-line suffix.
fn problem(err: &DbErr) -> String {
    one_line(&err.to_string())
}

/// The first line of `text`, without PostgreSQL's ` at line N` suffix.
pub fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.rfind(" at line ") {
        Some(i) => line[..i].to_owned(),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reason_is_one_line_without_the_servers_source_line() {
        assert_eq!(
            super::one_line("function x(bytea) does not exist at line 636\nHINT: …"),
            "function x(bytea) does not exist"
        );
        assert_eq!(super::one_line("plain"), "plain");
    }
}
