//! The background refresher selects exactly the connections it will renew: a
//! provider's own `refresh_margin_seconds` (catalog metadata) replaces the global margin
//! in the query, as it does when the lease is taken. The SQLite statement that mirrors
//! the PostgreSQL function lives here beside it; a test checks both return the same rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::m2025_11_05_090000_oauth as previous;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// PostgreSQL: the ids of connections whose token expires within their provider's
/// margin (else `p_margin_secs`) plus `p_ahead_secs` of `p_now`, or that were last
/// refreshed before `p_idle_before`; active, holding a refreshable credential, with
/// lease and back-off run out. One tenant at a time under the policy; only ids come out.
pub const DUE_REFRESHES: &str = r#"
CREATE OR REPLACE FUNCTION connvault_due_refreshes(
    p_now timestamptz, p_margin_secs double precision, p_ahead_secs double precision,
    p_idle_before timestamptz, p_limit integer)
RETURNS TABLE (o_tenant_id uuid, o_connection_id uuid)
LANGUAGE plpgsql
AS $$
DECLARE
    previous text := COALESCE(current_setting('connvault.tenant_id', true), '');
    t uuid;
    found integer := 0;
    n integer;
BEGIN
    FOR t IN SELECT id FROM tenants ORDER BY id LOOP
        EXIT WHEN found >= p_limit;
        PERFORM set_config('connvault.tenant_id', t::text, true);
        RETURN QUERY
            SELECT c.tenant_id, c.id
            FROM connections c
            JOIN providers p ON p.slug = c.provider_slug
            WHERE c.tenant_id = t
              AND c.status = 'active'
              AND (c.token_expires_at < p_now + make_interval(secs =>
                       COALESCE((p.metadata->>'refresh_margin_seconds')::double precision,
                                p_margin_secs) + p_ahead_secs)
                   OR COALESCE(c.last_refreshed_at, c.created_at) < p_idle_before)
              AND (c.refresh_lease_until IS NULL OR c.refresh_lease_until < p_now)
              AND (c.refresh_retry_at IS NULL OR c.refresh_retry_at <= p_now)
              AND EXISTS (
                  SELECT 1 FROM credential_secrets s
                  WHERE s.tenant_id = c.tenant_id AND s.connection_id = c.id
                    AND ((s.kind = 'oauth2' AND s.field = 'refresh_token')
                         OR (s.kind = 'client_credentials' AND s.field = 'client_secret')))
            ORDER BY c.token_expires_at NULLS FIRST, c.id
            LIMIT p_limit - found;
        GET DIAGNOSTICS n = ROW_COUNT;
        found := found + n;
    END LOOP;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

/// SQLite: the same selection in one statement (no row-level security to step
/// through), parameters in the function's order. Times are compared as Julian days,
/// which SQLite computes from the stored RFC 3339 text.
pub const DUE_REFRESHES_SQLITE: &str = "\
SELECT c.tenant_id AS o_tenant_id, c.id AS o_connection_id \
FROM connections c \
JOIN providers p ON p.slug = c.provider_slug \
WHERE c.status = 'active' \
  AND (julianday(c.token_expires_at) < julianday(?1) + \
           (COALESCE(json_extract(p.metadata, '$.refresh_margin_seconds'), ?2) + ?3) / 86400.0 \
       OR julianday(COALESCE(c.last_refreshed_at, c.created_at)) < julianday(?4)) \
  AND (c.refresh_lease_until IS NULL OR julianday(c.refresh_lease_until) < julianday(?1)) \
  AND (c.refresh_retry_at IS NULL OR julianday(c.refresh_retry_at) <= julianday(?1)) \
  AND EXISTS (SELECT 1 FROM credential_secrets s \
      WHERE s.tenant_id = c.tenant_id AND s.connection_id = c.id \
        AND ((s.kind = 'oauth2' AND s.field = 'refresh_token') \
             OR (s.kind = 'client_credentials' AND s.field = 'client_secret'))) \
ORDER BY c.tenant_id, c.token_expires_at NULLS FIRST, c.id \
LIMIT ?5";

const OLD_SIGNATURE: &str =
    "connvault_due_refreshes(timestamptz, timestamptz, timestamptz, integer)";
const NEW_SIGNATURE: &str = "connvault_due_refreshes(timestamptz, double precision, double precision, timestamptz, integer)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!("DROP FUNCTION {OLD_SIGNATURE}"))
            .await?;
        db.execute_unprepared(DUE_REFRESHES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!("DROP FUNCTION {NEW_SIGNATURE}"))
            .await?;
        db.execute_unprepared(previous::DUE_REFRESHES).await?;
        Ok(())
    }
}
