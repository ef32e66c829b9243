//! PostgreSQL roles. Migrations run as the owning role; the service logs in as a role
//! that owns nothing, is neither superuser nor `BYPASSRLS`, and holds only the grants
//! listed here. [`provision`] (run by the owner after migrating) creates that role
//! when needed and sets its grants; [`self_check`] (run by the service before it
//! serves) refuses a role or a schema that would let row-level security be bypassed.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionSession, TransactionTrait};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The tenant-owned tables: each has a `tenant_id` and forced row-level security.
pub use migration::TENANT_TABLES;

/// The service role's privileges, table by table: no more than the code uses. The
/// activity log is append-only for it.
pub const SERVICE_GRANTS: &[(&str, &str)] = &[
    ("tenants", "SELECT, INSERT"),
    ("providers", "SELECT, INSERT, UPDATE"),
    ("connections", "SELECT, INSERT, UPDATE, DELETE"),
    ("credential_secrets", "SELECT, INSERT, UPDATE, DELETE"),
    ("encryption_keys", "SELECT, INSERT, UPDATE, DELETE"),
    ("api_keys", "SELECT, INSERT, UPDATE"),
    ("operator_keys", "SELECT, INSERT, UPDATE"),
    ("api_key_epoch", "SELECT"),
    ("credential_epoch", "SELECT"),
    ("activity_log", "SELECT, INSERT"),
    ("oauth_apps", "SELECT, INSERT, UPDATE, DELETE"),
    ("connect_sessions", "SELECT, INSERT, UPDATE, DELETE"),
    ("operation_types", "SELECT, INSERT, UPDATE, DELETE"),
    ("operation_runs", "SELECT, INSERT, UPDATE, DELETE"),
    ("repository_connections", "SELECT, INSERT, UPDATE, DELETE"),
    ("webhook_events", "SELECT, INSERT, DELETE"),
    ("event_endpoints", "SELECT, INSERT, UPDATE, DELETE"),
    ("events", "SELECT, INSERT, UPDATE, DELETE"),
    ("event_deliveries", "SELECT, INSERT, UPDATE, DELETE"),
    ("event_attempts", "SELECT, INSERT, DELETE"),
    ("console_session_revocations", "SELECT, INSERT, DELETE"),
];

/// The login role a single-URL set-up makes for the service.
pub const DEFAULT_SERVICE_ROLE: &str = "connvault_service";

/// A role name we are willing to put in SQL: lower-case letters, digits and `_`.
pub fn check_role_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "service role",
            "use 1 to 63 characters of a-z, 0-9 and _, not starting with a digit or pg_",
        ))
    }
}

/// The service role's password in a single-URL set-up: derived from the owner's, so
/// every replica computes the same one and nobody has to store it. `None` when the
/// owner has no password (trust or peer authentication).
pub fn derived_password(owner_password: Option<&str>, role: &str) -> Option<SecretString> {
    let owner = owner_password.filter(|p| !p.is_empty())?;
    let owner = zeroize::Zeroizing::new(url_password(owner));
    let mut mac = Hmac::<Sha256>::new_from_slice(owner.as_bytes()).ok()?;
    mac.update(b"connvault service role password v1\0");
    mac.update(role.as_bytes());
    Some(SecretString::from(
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()),
    ))
}

/// A password as it appears in a URL (percent-encoded), as the server expects it.
pub fn url_password(encoded: &str) -> String {
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned()
}

/// A SCRAM-SHA-256 verifier for `password`, in PostgreSQL's stored form, so that the
/// password itself never appears in a statement (or the server's log).
fn scram_verifier(password: &SecretString) -> String {
    const ITERATIONS: u32 = 4096;
    let mut salt = [0u8; 16];
    aes_gcm::aead::rand_core::RngCore::fill_bytes(&mut aes_gcm::aead::OsRng, &mut salt);
    let mut salted = zeroize::Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.expose_secret().as_bytes(),
        &salt,
        ITERATIONS,
        salted.as_mut(),
    );
    let hmac = |key: &[u8], msg: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(msg);
        mac.finalize().into_bytes()
    };
    let client_key = hmac(salted.as_ref(), b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(salted.as_ref(), b"Server Key");
    format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

async fn exec<C: ConnectionTrait>(db: &C, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

/// Makes `role` a login role with exactly [`SERVICE_GRANTS`] on this database (run as
/// the owner, after migrating). Creates the role when it does not exist, and sets its
/// password when the role is new or `always_set_password`. PostgreSQL only; a no-op
/// elsewhere.
pub async fn provision<C: ConnectionTrait + TransactionTrait>(
    owner: &C,
    role: &str,
    password: Option<&SecretString>,
    always_set_password: bool,
) -> Result<()> {
    if owner.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    check_role_name(role)?;
    // One transaction, one provisioner at a time: a replica starting meanwhile never
    // sees the service role between the REVOKE and the GRANTs.
    let txn = owner.begin().await?;
    exec(
        &txn,
        "SELECT pg_advisory_xact_lock(hashtext('connvault: provision service role'))",
    )
    .await?;
    let existing = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT r.rolsuper, r.rolbypassrls, r.rolname = current_user AS is_owner, \
               EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid) AS owns \
             FROM pg_roles r WHERE r.rolname = $1",
            [role.into()],
        ))
        .await?;
    if let Some(row) = &existing {
        let refuse = |why: &str| {
            Err(Error::Isolation(format!(
                "role {role:?} exists and {why}; it cannot be the service role"
            )))
        };
        if row.try_get::<bool>("", "rolsuper")? {
            return refuse("is a superuser");
        }
        if row.try_get::<bool>("", "rolbypassrls")? {
            return refuse("has BYPASSRLS");
        }
        if row.try_get::<bool>("", "is_owner")? || row.try_get::<bool>("", "owns")? {
            return refuse("owns tables (is it the migration role?)");
        }
    }
    let exists = existing.is_some();
    if !exists {
        // Another database's provisioner may be creating it at the same moment.
        exec(
            &txn,
            &format!(
                "DO $$ BEGIN \
                   CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ),
        )
        .await
        .map_err(|e| {
            Error::Isolation(format!(
                "cannot create the service role {role:?} ({e}); create it, or give the migration role CREATEROLE"
            ))
        })?;
    }
    if let Some(password) = password.filter(|_| always_set_password || !exists) {
        exec(
            &txn,
            &format!(
                "ALTER ROLE \"{role}\" LOGIN PASSWORD '{}'",
                scram_verifier(password)
            ),
        )
        .await
        .map_err(|e| Error::Isolation(format!("cannot set the service role's password ({e})")))?;
    }
    exec(
        &txn,
        &format!(
            "DO $$ BEGIN \
               EXECUTE format('GRANT CONNECT ON DATABASE %I TO \"{role}\"', current_database()); \
               EXECUTE format('GRANT USAGE ON SCHEMA %I TO \"{role}\"', current_schema()); \
               EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM \"{role}\"', current_schema()); \
               EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM \"{role}\"', current_schema()); \
             END $$"
        ),
    )
    .await?;
    for (table, privileges) in SERVICE_GRANTS {
        exec(
            &txn,
            &format!("GRANT {privileges} ON {table} TO \"{role}\""),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Refuses to serve over a PostgreSQL session that could see past row-level security:
/// a superuser or `BYPASSRLS` role, a role that owns (or may become the owner of) a
/// table, or a tenant table without forced row-level security and its policy. The
/// error lists every problem found. A no-op on SQLite.
pub async fn self_check<C: ConnectionTrait>(db: &C) -> Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let mut problems = Vec::new();
    let role = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_user::text AS name, rolsuper, rolbypassrls \
             FROM pg_roles WHERE rolname = current_user",
        ))
        .await?
        .ok_or_else(|| Error::Isolation("the current role is not in pg_roles".to_owned()))?;
    let name: String = role.try_get("", "name")?;
    if role.try_get::<bool>("", "rolsuper")? {
        problems.push(format!("role {name:?} is a superuser"));
    }
    if role.try_get::<bool>("", "rolbypassrls")? {
        problems.push(format!("role {name:?} has BYPASSRLS"));
    }
    let owned = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text AS relname FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm') \
             AND pg_has_role(current_user, c.relowner, 'MEMBER') ORDER BY 1",
        ))
        .await?;
    for row in owned {
        let table: String = row.try_get("", "relname")?;
        problems.push(format!("role {name:?} owns table {table}"));
    }
    // Membership in a superuser or BYPASSRLS role is as good as being one (SET ROLE).
    let powerful = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT r.rolname::text AS rolname FROM pg_roles r \
             WHERE (r.rolsuper OR r.rolbypassrls) AND r.rolname <> current_user \
             AND pg_has_role(current_user, r.oid, 'MEMBER') ORDER BY 1",
        ))
        .await?;
    for row in powerful {
        let other: String = row.try_get("", "rolname")?;
        problems.push(format!(
            "role {name:?} is a member of {other:?}, which bypasses row-level security"
        ));
    }
    // Every table with a tenant_id column, and every table the code calls tenant-owned.
    let tables = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT t.name AS relname, c.oid IS NOT NULL AS present, \
               COALESCE(c.relrowsecurity AND c.relforcerowsecurity, false) AS forced, \
               EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = current_schema() \
                       AND p.tablename = t.name AND p.policyname = 'tenant_isolation' \
                       AND p.permissive = 'PERMISSIVE' AND p.cmd = 'ALL' \
                       AND p.qual = '(tenant_id = connvault_current_tenant())' \
                       AND p.with_check = p.qual) AS has_policy, \
               COALESCE((SELECT string_agg(p.policyname::text, ', ') FROM pg_policies p \
                 WHERE p.schemaname = current_schema() AND p.tablename = t.name \
                 AND p.permissive = 'PERMISSIVE' AND p.policyname <> 'tenant_isolation' \
                 AND NOT (p.tablename = 'api_keys' AND p.policyname = 'api_key_lookup' \
                          AND p.cmd = 'SELECT' AND p.qual LIKE '%connvault.api_key_hash%') \
                 AND NOT (p.tablename = 'repository_connections' AND p.policyname = 'webhook_lookup' \
                          AND p.cmd = 'SELECT' AND p.qual LIKE '%connvault.webhook_connection%') \
                 AND NOT (p.tablename = 'operation_runs' AND p.policyname = 'operation_queue' \
                          AND p.cmd = 'SELECT' AND p.qual LIKE '%connvault.operation_queue%') \
                 AND NOT (p.tablename = 'operation_runs' AND p.policyname = 'operation_queue_lock' \
                          AND p.cmd = 'UPDATE' AND p.qual LIKE '%connvault.operation_queue%' \
                          AND p.with_check = 'false') \
                 AND NOT (p.tablename = 'operation_runs' AND p.policyname = 'operation_claim_lookup' \
                          AND p.cmd = 'SELECT' AND p.qual LIKE '%connvault.claim_token_hash%') \
                 AND NOT (p.tablename IN ('event_endpoints', 'events', 'event_deliveries', 'event_attempts') \
                          AND p.policyname IN ('event_deployment', 'event_worker') \
                          AND p.cmd = 'ALL' AND p.qual LIKE '%connvault.event_scope%')), '') \
                 AS other_policies, \
               c.oid IS NOT NULL AND has_table_privilege(current_user, c.oid, 'TRUNCATE') \
                 AS can_truncate \
             FROM (SELECT unnest($1::text[]) AS name \
                   UNION SELECT c2.relname::text FROM pg_class c2 \
                   JOIN pg_namespace n2 ON n2.oid = c2.relnamespace \
                   JOIN pg_attribute a ON a.attrelid = c2.oid \
                   WHERE n2.nspname = current_schema() AND c2.relkind IN ('r', 'p') \
                   AND a.attname = 'tenant_id' AND NOT a.attisdropped) t \
             LEFT JOIN pg_class c ON c.relname = t.name \
               AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
             ORDER BY 1",
            [TENANT_TABLES
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .into()],
        ))
        .await?;
    for row in tables {
        let table: String = row.try_get("", "relname")?;
        if !row.try_get::<bool>("", "present")? {
            problems.push(format!(
                "tenant table {table} is missing (migrations not run?)"
            ));
        } else if !row.try_get::<bool>("", "forced")? {
            problems.push(format!(
                "tenant table {table} lacks forced row-level security"
            ));
        } else if !row.try_get::<bool>("", "has_policy")? {
            problems.push(format!(
                "tenant table {table} has no tenant_isolation policy, or an altered one"
            ));
        }
        let others: String = row.try_get("", "other_policies")?;
        if !others.is_empty() {
            problems.push(format!(
                "tenant table {table} has other permissive policies: {others}"
            ));
        }
        if row.try_get::<bool>("", "can_truncate")? {
            problems.push(format!(
                "role {name:?} may TRUNCATE tenant table {table} (row-level security does not cover it)"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Isolation(problems.join("; ")))
    }
}
