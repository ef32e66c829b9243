//! Workers: a deployment-wide key role (`operator_keys.role` is `operator` or `worker`)
//! and the narrow paths across tenants a worker's calls need on PostgreSQL, where
//! `operation_runs` is under forced row-level security:
//!
//! - a claim locks the oldest queued runs of the asked-for types, whatever their
//!   tenant (`connvault_claim_queued`: `FOR UPDATE SKIP LOCKED`), and returns them; the
//!   caller then moves each to `running` (or `blocked`) in that run's own tenant scope,
//!   in the same transaction;
//! - the rescuer locks running runs whose heartbeat is older than their timeout
//!   (`connvault_stale_runs`), and handles each the same way;
//! - a claim token finds its run (`connvault_find_claim`), as an API key's secret finds
//!   its key: visible only to whoever holds the token.
//!
//! Each function sets a transaction-local setting that one policy reads, and clears it
//! before it returns; the policies only ever let rows be seen and locked, never
//! written (every write goes through the tenant's own policy).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OperatorKeys {
    Table,
    Role,
}

/// The roles of a key that belongs to no tenant.
pub const DEPLOYMENT_ROLES: [&str; 2] = ["operator", "worker"];

/// Authentication returns the deployment-wide key's own role now.
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
        SELECT o.id, NULL::uuid, o.role::text, o.name::text
        FROM operator_keys o
        WHERE o.secret_hash = p_hash AND o.revoked_at IS NULL;
    PERFORM set_config('connvault.api_key_hash', '', true);
END
$$
"#;

/// The version before this migration (for `down`).
const AUTHENTICATE_BEFORE: &str = r#"
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

/// While `connvault.operation_queue` is `claim`, queued runs of every tenant may be
/// seen and locked; while it is `rescue`, running ones. `WITH CHECK (false)`: nothing
/// is ever written through these policies.
const QUEUE_POLICIES: &str = r#"
CREATE POLICY operation_queue ON operation_runs FOR SELECT
USING ((status = 'queued' AND current_setting('connvault.operation_queue', true) = 'claim')
    OR (status = 'running' AND current_setting('connvault.operation_queue', true) = 'rescue'));
CREATE POLICY operation_queue_lock ON operation_runs FOR UPDATE
USING ((status = 'queued' AND current_setting('connvault.operation_queue', true) = 'claim')
    OR (status = 'running' AND current_setting('connvault.operation_queue', true) = 'rescue'))
WITH CHECK (false);
CREATE POLICY operation_claim_lookup ON operation_runs FOR SELECT
USING (claim_token_hash = decode(NULLIF(current_setting('connvault.claim_token_hash', true), ''), 'hex'));
"#;

/// Locks up to `p_limit` queued runs of the types in `p_types` (a JSON array of
/// strings), oldest first, skipping runs another claim holds, and returns them. The
/// locks last until the caller's transaction ends.
const CLAIM_QUEUED: &str = r#"
CREATE OR REPLACE FUNCTION connvault_claim_queued(p_types json, p_limit integer)
RETURNS SETOF operation_runs
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM set_config('connvault.operation_queue', 'claim', true);
    RETURN QUERY
        SELECT r.* FROM operation_runs r
        WHERE r.status = 'queued'
          AND r.operation_type IN (SELECT json_array_elements_text(p_types))
        ORDER BY r.created_at, r.id
        LIMIT p_limit
        FOR UPDATE OF r SKIP LOCKED;
    PERFORM set_config('connvault.operation_queue', '', true);
END
$$
"#;

/// Locks up to `p_limit` running runs whose heartbeat is older than their own timeout
/// at `p_now`, stalest first, skipping runs locked elsewhere, and returns them.
const STALE_RUNS: &str = r#"
CREATE OR REPLACE FUNCTION connvault_stale_runs(p_now timestamptz, p_limit integer)
RETURNS SETOF operation_runs
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM set_config('connvault.operation_queue', 'rescue', true);
    RETURN QUERY
        SELECT r.* FROM operation_runs r
        WHERE r.status = 'running'
          AND COALESCE(r.heartbeat_at, r.updated_at)
              < p_now - make_interval(secs => r.heartbeat_timeout_seconds)
        ORDER BY r.heartbeat_at NULLS FIRST, r.id
        LIMIT p_limit
        FOR UPDATE OF r SKIP LOCKED;
    PERFORM set_config('connvault.operation_queue', '', true);
END
$$
"#;

/// The tenant and id of the run a claim token (its SHA-256) holds, if any.
const FIND_CLAIM: &str = r#"
CREATE OR REPLACE FUNCTION connvault_find_claim(p_hash bytea)
RETURNS TABLE (o_tenant_id uuid, o_id uuid)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM set_config('connvault.claim_token_hash', encode(p_hash, 'hex'), true);
    RETURN QUERY
        SELECT r.tenant_id, r.id FROM operation_runs r WHERE r.claim_token_hash = p_hash;
    PERFORM set_config('connvault.claim_token_hash', '', true);
END
$$
"#;

/// SQLite: the rescuer's selection (no row-level security to step through; the write
/// lock the caller holds keeps it to one rescuer at a time). Parameters: now, limit.
pub const STALE_RUNS_SQLITE: &str = "\
SELECT * FROM operation_runs \
WHERE status = 'running' \
  AND julianday(COALESCE(heartbeat_at, updated_at)) + heartbeat_timeout_seconds / 86400.0 \
      < julianday(?1) \
ORDER BY heartbeat_at, id \
LIMIT ?2";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OperatorKeys::Table)
                    .add_column(
                        ColumnDef::new(OperatorKeys::Role)
                            .string_len(16)
                            .not_null()
                            .default("operator")
                            .check(Expr::col(OperatorKeys::Role).is_in(DEPLOYMENT_ROLES)),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(AUTHENTICATE).await?;
        db.execute_unprepared(QUEUE_POLICIES).await?;
        // `migrate fresh` drops tables, not functions.
        db.execute_unprepared(
            "DROP FUNCTION IF EXISTS connvault_claim_queued(json, integer); \
             DROP FUNCTION IF EXISTS connvault_stale_runs(timestamptz, integer); \
             DROP FUNCTION IF EXISTS connvault_find_claim(bytea)",
        )
        .await?;
        db.execute_unprepared(CLAIM_QUEUED).await?;
        db.execute_unprepared(STALE_RUNS).await?;
        db.execute_unprepared(FIND_CLAIM).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP FUNCTION connvault_find_claim(bytea); \
                 DROP FUNCTION connvault_stale_runs(timestamptz, integer); \
                 DROP FUNCTION connvault_claim_queued(json, integer); \
                 DROP POLICY operation_claim_lookup ON operation_runs; \
                 DROP POLICY operation_queue_lock ON operation_runs; \
                 DROP POLICY operation_queue ON operation_runs",
            )
            .await?;
            db.execute_unprepared(AUTHENTICATE_BEFORE).await?;
        }
        // Worker keys cannot become operators: they go.
        db.execute_unprepared("DELETE FROM operator_keys WHERE role <> 'operator'")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OperatorKeys::Table)
                    .drop_column(OperatorKeys::Role)
                    .to_owned(),
            )
            .await
    }
}
