//! Tenant isolation in the database. Operator keys move to a table of their own (they
//! belong to no tenant), so that every table with a `tenant_id` is tenant-owned. On
//! PostgreSQL every tenant-owned table gets forced row-level security: a row is visible
//! and writable only while the transaction's `connvault.tenant_id` setting names its
//! tenant, and an unset or empty setting matches nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OperatorKeys {
    Table,
    Id,
    Name,
    Prefix,
    SecretHash,
    CreatedAt,
    RevokedAt,
}

/// The tenant-owned tables when this migration was written: each has a `tenant_id` and
/// is forced under the policy. Later tables join `crate::TENANT_TABLES`.
pub const TENANT_TABLES: [&str; 4] = [
    "connections",
    "credential_secrets",
    "activity_log",
    "api_keys",
];

/// The transaction's tenant, or NULL (which equals nothing) when unset or empty.
const CURRENT_TENANT: &str = r#"
CREATE OR REPLACE FUNCTION connvault_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('connvault.tenant_id', true), '')::uuid $$
"#;

/// API-key authentication happens before the tenant is known: a key row is also
/// visible to whoever already holds its secret (the setting carries its SHA-256).
const KEY_LOOKUP_POLICY: &str = r#"
CREATE POLICY api_key_lookup ON api_keys FOR SELECT
USING (secret_hash = decode(NULLIF(current_setting('connvault.api_key_hash', true), ''), 'hex'))
"#;

/// One statement per authentication: tenant keys through the lookup policy, operator
/// keys from their own table.
const AUTHENTICATE: &str = r#"
CREATE OR REPLACE FUNCTION connvault_authenticate(p_hash bytea)
RETURNS TABLE (o_id uuid, o_tenant_id uuid, o_role text, o_name text)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM set_config('connvault.api_key_hash', encode(p_hash, 'hex'), true);
    RETURN QUERY
        SELECT k.id, k.tenant_id, k.role::text, k.name::text
        FROM api_keys k
        WHERE k.secret_hash = p_hash AND k.revoked_at IS NULL
        UNION ALL
        SELECT o.id, NULL::uuid, 'operator'::text, o.name::text
        FROM operator_keys o
        WHERE o.secret_hash = p_hash AND o.revoked_at IS NULL;
    PERFORM set_config('connvault.api_key_hash', '', true);
END
$$
"#;

/// The hot credential read in one round trip: scope to the tenant, read under the
/// policy, and put back whatever the caller's transaction had set.
pub(crate) const READ_CREDENTIALS: &str = r#"
CREATE OR REPLACE FUNCTION connvault_read_credentials(p_tenant uuid, p_connection uuid)
RETURNS TABLE (o_field text, o_kind text, o_ciphertext bytea, o_token_expires_at timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
    previous text := COALESCE(current_setting('connvault.tenant_id', true), '');
BEGIN
    PERFORM set_config('connvault.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT s.field::text, s.kind::text, s.ciphertext, c.token_expires_at
        FROM credential_secrets s
        JOIN connections c ON c.tenant_id = s.tenant_id AND c.id = s.connection_id
        WHERE s.tenant_id = p_tenant AND s.connection_id = p_connection;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

/// The operators' narrow path across tenants: how many ciphertexts each tenant has
/// under each data key, counted one tenant at a time under the policy. Only counts
/// leave it; the caller's tenant setting is restored afterwards.
pub(crate) const KEY_USAGE: &str = r#"
CREATE OR REPLACE FUNCTION connvault_key_usage()
RETURNS TABLE (o_tenant_id uuid, o_key_id integer, o_count bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    previous text := COALESCE(current_setting('connvault.tenant_id', true), '');
    t uuid;
BEGIN
    FOR t IN SELECT id FROM tenants ORDER BY id LOOP
        PERFORM set_config('connvault.tenant_id', t::text, true);
        RETURN QUERY
            SELECT t, s.key_id, count(*)
            FROM credential_secrets s
            WHERE s.tenant_id = t
            GROUP BY s.key_id;
    END LOOP;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

/// Re-encryption's write across tenants in one statement: row by row (a primary-key
/// update each), scoped to the row's tenant, and only if the row's revision and old
/// ciphertext still match. Bytes travel as hex in the JSON; the caller's setting is
/// restored.
const REENCRYPT_ROWS: &str = r#"
CREATE OR REPLACE FUNCTION connvault_reencrypt_rows(p_rows json)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    previous text := COALESCE(current_setting('connvault.tenant_id', true), '');
    scoped uuid;
    r record;
    written bigint := 0;
    step bigint;
BEGIN
    FOR r IN SELECT * FROM json_to_recordset(p_rows) AS v(tenant_id uuid, connection_id uuid,
            field text, revision bigint, ciphertext text, key_id integer, old text)
            ORDER BY 1 LOOP
        IF scoped IS DISTINCT FROM r.tenant_id THEN
            PERFORM set_config('connvault.tenant_id', r.tenant_id::text, true);
            scoped := r.tenant_id;
        END IF;
        UPDATE credential_secrets s
        SET ciphertext = decode(r.ciphertext, 'hex'), key_id = r.key_id, revision = s.revision + 1
        WHERE s.tenant_id = r.tenant_id AND s.connection_id = r.connection_id
          AND s.field = r.field AND s.revision = r.revision
          AND s.ciphertext = decode(r.old, 'hex');
        GET DIAGNOSTICS step = ROW_COUNT;
        written := written + step;
    END LOOP;
    PERFORM set_config('connvault.tenant_id', previous, true);
    RETURN written;
END
$$
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OperatorKeys::Table)
                    .col(
                        ColumnDef::new(OperatorKeys::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OperatorKeys::Name)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OperatorKeys::Prefix)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OperatorKeys::SecretHash)
                            .binary_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OperatorKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OperatorKeys::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_operator_keys_secret_hash")
                    .table(OperatorKeys::Table)
                    .col(OperatorKeys::SecretHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO operator_keys (id, name, prefix, secret_hash, created_at, revoked_at) \
             SELECT id, name, prefix, secret_hash, created_at, revoked_at \
             FROM api_keys WHERE tenant_id IS NULL",
        )
        .await?;
        db.execute_unprepared("DELETE FROM api_keys WHERE tenant_id IS NULL")
            .await?;

        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared("ALTER TABLE api_keys ALTER COLUMN tenant_id SET NOT NULL")
            .await?;
        db.execute_unprepared(CURRENT_TENANT).await?;
        for table in TENANT_TABLES {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; \
                 ALTER TABLE {table} FORCE ROW LEVEL SECURITY; \
                 CREATE POLICY tenant_isolation ON {table} FOR ALL \
                 USING (tenant_id = connvault_current_tenant()) \
                 WITH CHECK (tenant_id = connvault_current_tenant())"
            ))
            .await?;
        }
        db.execute_unprepared(KEY_LOOKUP_POLICY).await?;
        db.execute_unprepared(AUTHENTICATE).await?;
        // `migrate fresh` drops tables, not functions: a later migration's version of
        // this function (another return type) may still be there.
        db.execute_unprepared("DROP FUNCTION IF EXISTS connvault_read_credentials(uuid, uuid)")
            .await?;
        db.execute_unprepared(READ_CREDENTIALS).await?;
        db.execute_unprepared(KEY_USAGE).await?;
        db.execute_unprepared(REENCRYPT_ROWS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP FUNCTION connvault_reencrypt_rows(json); \
                 DROP FUNCTION connvault_key_usage(); \
                 DROP FUNCTION connvault_read_credentials(uuid, uuid); \
                 DROP FUNCTION connvault_authenticate(bytea); \
                 DROP POLICY api_key_lookup ON api_keys",
            )
            .await?;
            for table in TENANT_TABLES {
                db.execute_unprepared(&format!(
                    "DROP POLICY tenant_isolation ON {table}; \
                     ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY; \
                     ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"
                ))
                .await?;
            }
            db.execute_unprepared(
                "DROP FUNCTION connvault_current_tenant(); \
                 ALTER TABLE api_keys ALTER COLUMN tenant_id DROP NOT NULL",
            )
            .await?;
        }
        db.execute_unprepared(
            "INSERT INTO api_keys (id, tenant_id, role, name, prefix, secret_hash, created_at, revoked_at) \
             SELECT id, NULL, 'operator', name, prefix, secret_hash, created_at, revoked_at \
             FROM operator_keys",
        )
        .await?;
        manager
            .drop_table(Table::drop().table(OperatorKeys::Table).to_owned())
            .await
    }
}
