//! Scheduled health checks: when a connection is next due (`health_check_due_at`,
//! jittered by the service), and the lease that lets one process at a time check it
//! (`health_lease_until`, `health_lease_owner`). The selection of due connections and
//! the count by health run across tenants: on PostgreSQL as functions that step through
//! the tenants under the policy (only ids or counts come out); on SQLite as the
//! statements beside them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connections {
    Table,
    HealthCheckDueAt,
    HealthLeaseUntil,
    HealthLeaseOwner,
}

/// PostgreSQL: the ids of active connections whose provider has a health check, that
/// hold a credential, are due at `p_now` and whose lease has run out; at most
/// `p_limit`, one tenant at a time under the policy.
pub const DUE_HEALTH_CHECKS: &str = r#"
CREATE OR REPLACE FUNCTION connvault_due_health_checks(p_now timestamptz, p_limit integer)
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
              AND p.health_check IS NOT NULL
              AND (c.health_check_due_at IS NULL OR c.health_check_due_at <= p_now)
              AND (c.health_lease_until IS NULL OR c.health_lease_until < p_now)
              AND EXISTS (
                  SELECT 1 FROM credential_secrets s
                  WHERE s.tenant_id = c.tenant_id AND s.connection_id = c.id)
            ORDER BY c.health_check_due_at NULLS FIRST, c.id
            LIMIT p_limit - found;
        GET DIAGNOSTICS n = ROW_COUNT;
        found := found + n;
    END LOOP;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

/// SQLite: the same selection in one statement, parameters in the function's order.
pub const DUE_HEALTH_CHECKS_SQLITE: &str = "\
SELECT c.tenant_id AS o_tenant_id, c.id AS o_connection_id \
FROM connections c \
JOIN providers p ON p.slug = c.provider_slug \
WHERE c.status = 'active' \
  AND p.health_check IS NOT NULL AND p.health_check <> 'null' \
  AND (c.health_check_due_at IS NULL OR julianday(c.health_check_due_at) <= julianday(?1)) \
  AND (c.health_lease_until IS NULL OR julianday(c.health_lease_until) < julianday(?1)) \
  AND EXISTS (SELECT 1 FROM credential_secrets s \
      WHERE s.tenant_id = c.tenant_id AND s.connection_id = c.id) \
ORDER BY c.tenant_id, c.health_check_due_at NULLS FIRST, c.id \
LIMIT ?2";

/// PostgreSQL: how many connections (not revoked) have each health, counted one
/// tenant at a time under the policy. Only counts come out.
pub const CONNECTIONS_BY_HEALTH: &str = r#"
CREATE OR REPLACE FUNCTION connvault_connections_by_health()
RETURNS TABLE (o_health text, o_count bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    previous text := COALESCE(current_setting('connvault.tenant_id', true), '');
    t uuid;
BEGIN
    FOR t IN SELECT id FROM tenants ORDER BY id LOOP
        PERFORM set_config('connvault.tenant_id', t::text, true);
        RETURN QUERY
            SELECT c.health_status::text, count(*)
            FROM connections c
            WHERE c.tenant_id = t AND c.status <> 'revoked'
            GROUP BY c.health_status;
    END LOOP;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

/// SQLite: the same count.
pub const CONNECTIONS_BY_HEALTH_SQLITE: &str = "\
SELECT health_status AS o_health, count(*) AS o_count \
FROM connections WHERE status <> 'revoked' GROUP BY health_status";

fn nullable_timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            nullable_timestamp(Connections::HealthCheckDueAt),
            nullable_timestamp(Connections::HealthLeaseUntil),
            ColumnDef::new(Connections::HealthLeaseOwner)
                .uuid()
                .null()
                .to_owned(),
        ] {
            // SQLite alters one column per statement.
            manager
                .alter_table(
                    Table::alter()
                        .table(Connections::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(DUE_HEALTH_CHECKS).await?;
            db.execute_unprepared(CONNECTIONS_BY_HEALTH).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP FUNCTION connvault_connections_by_health(); \
                     DROP FUNCTION connvault_due_health_checks(timestamptz, integer)",
                )
                .await?;
        }
        for column in [
            Connections::HealthCheckDueAt,
            Connections::HealthLeaseUntil,
            Connections::HealthLeaseOwner,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Connections::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
