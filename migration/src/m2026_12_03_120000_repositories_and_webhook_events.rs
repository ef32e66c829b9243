//! Repository connections and the webhook events they receive (both tenant-owned,
//! forced row-level security on PostgreSQL).
//!
//! A repository connection is a `connections` row of provider github, gitlab or
//! bitbucket whose external id is the canonical repository URL; `repository_connections`
//! holds what only such a connection has (the webhook's id at the provider, the last
//! delivery's time), one row per connection. Its token and webhook secret are the
//! connection's credential (`credential_secrets`, encrypted like every credential).
//!
//! `webhook_events` keeps each verified delivery once: a unique index on (connection,
//! delivery id) decides, so a delivery and its concurrent redelivery store one event.
//!
//! PostgreSQL: an inbound delivery names only its connection id, before any tenant is
//! known. `connvault_webhook_connection(id)` finds that repository connection's tenant
//! through the `webhook_lookup` policy on `repository_connections`, which shows a row
//! only while the function has put its id in `connvault.webhook_connection` (the
//! pattern of `api_key_lookup`), then reads provider and status in that tenant's scope.
//! A `SECURITY DEFINER` function would not do: forced row-level security binds the
//! owner too. The policy sits on the small `repository_connections`, not on
//! `connections`, whose every query would otherwise carry its `OR`.
//! `connvault_purge_webhook_events` deletes old events tenant by tenant under the policy.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RepositoryConnections {
    Table,
    ConnectionId,
    TenantId,
    WebhookId,
    LastSyncAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookEvents {
    Table,
    Id,
    TenantId,
    ConnectionId,
    DeliveryId,
    EventType,
    Headers,
    Payload,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    TenantId,
    Id,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

const LOOKUP_POLICY: &str = r#"
CREATE POLICY webhook_lookup ON repository_connections FOR SELECT
USING (connection_id = NULLIF(current_setting('connvault.webhook_connection', true), '')::uuid)
"#;

/// What verifying a delivery needs to know of a repository connection before its
/// tenant is known, and nothing more: its tenant (found through the lookup policy),
/// then, in that tenant's scope, its provider and status. The caller's settings are
/// put back.
const WEBHOOK_CONNECTION: &str = r#"
CREATE OR REPLACE FUNCTION connvault_webhook_connection(p_id uuid)
RETURNS TABLE (o_tenant_id uuid, o_provider_slug text, o_status text)
LANGUAGE plpgsql
AS $$
DECLARE
    previous text := COALESCE(current_setting('connvault.tenant_id', true), '');
    t uuid;
BEGIN
    PERFORM set_config('connvault.webhook_connection', p_id::text, true);
    SELECT r.tenant_id INTO t FROM repository_connections r WHERE r.connection_id = p_id;
    PERFORM set_config('connvault.webhook_connection', '', true);
    IF t IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('connvault.tenant_id', t::text, true);
    RETURN QUERY
        SELECT c.tenant_id, c.provider_slug::text, c.status::text
        FROM connections c
        WHERE c.tenant_id = t AND c.id = p_id;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

const PURGE: &str = r#"
CREATE OR REPLACE FUNCTION connvault_purge_webhook_events(p_before timestamptz)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    previous text := COALESCE(current_setting('connvault.tenant_id', true), '');
    t uuid;
    total bigint := 0;
    n bigint;
BEGIN
    FOR t IN SELECT id FROM tenants ORDER BY id LOOP
        PERFORM set_config('connvault.tenant_id', t::text, true);
        DELETE FROM webhook_events WHERE tenant_id = t AND received_at < p_before;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    PERFORM set_config('connvault.tenant_id', previous, true);
    RETURN total;
END
$$
"#;

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RepositoryConnections::Table)
                    .col(
                        ColumnDef::new(RepositoryConnections::ConnectionId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RepositoryConnections::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RepositoryConnections::WebhookId)
                            .string_len(200)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(RepositoryConnections::LastSyncAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(timestamp(RepositoryConnections::CreatedAt))
                    .col(timestamp(RepositoryConnections::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_repository_connections_connection")
                            .from(
                                RepositoryConnections::Table,
                                (
                                    RepositoryConnections::TenantId,
                                    RepositoryConnections::ConnectionId,
                                ),
                            )
                            .to(Connections::Table, (Connections::TenantId, Connections::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_repository_connections_tenant")
                            .from(
                                RepositoryConnections::Table,
                                RepositoryConnections::TenantId,
                            )
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A tenant's repositories by keyset.
        manager
            .create_index(
                Index::create()
                    .name("ix_repository_connections_tenant_created")
                    .table(RepositoryConnections::Table)
                    .col(RepositoryConnections::TenantId)
                    .col(RepositoryConnections::CreatedAt)
                    .col(RepositoryConnections::ConnectionId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookEvents::Table)
                    .col(
                        ColumnDef::new(WebhookEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(WebhookEvents::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(WebhookEvents::ConnectionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEvents::DeliveryId)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEvents::EventType)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookEvents::Headers).json().not_null())
                    .col(ColumnDef::new(WebhookEvents::Payload).json().not_null())
                    .col(timestamp(WebhookEvents::ReceivedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_events_connection")
                            .from(
                                WebhookEvents::Table,
                                (WebhookEvents::TenantId, WebhookEvents::ConnectionId),
                            )
                            .to(Connections::Table, (Connections::TenantId, Connections::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_events_tenant")
                            .from(WebhookEvents::Table, WebhookEvents::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One event per delivery of a connection: the dedupe.
        manager
            .create_index(
                Index::create()
                    .name("ux_webhook_events_delivery")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::ConnectionId)
                    .col(WebhookEvents::DeliveryId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A tenant's events by keyset, and the retention purge.
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_events_tenant_received")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::TenantId)
                    .col(WebhookEvents::ReceivedAt)
                    .col(WebhookEvents::Id)
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in ["repository_connections", "webhook_events"] {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; \
                 ALTER TABLE {table} FORCE ROW LEVEL SECURITY; \
                 CREATE POLICY tenant_isolation ON {table} FOR ALL \
                 USING (tenant_id = connvault_current_tenant()) \
                 WITH CHECK (tenant_id = connvault_current_tenant())"
            ))
            .await?;
        }
        db.execute_unprepared(LOOKUP_POLICY).await?;
        db.execute_unprepared(WEBHOOK_CONNECTION).await?;
        db.execute_unprepared(PURGE).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP FUNCTION connvault_purge_webhook_events(timestamptz); \
                     DROP FUNCTION connvault_webhook_connection(uuid); \
                     DROP POLICY webhook_lookup ON repository_connections",
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(WebhookEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RepositoryConnections::Table).to_owned())
            .await
    }
}
