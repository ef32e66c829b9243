//! OAuth 2.0: the deployment's OAuth apps (one per provider, client secret encrypted),
//! tenant-scoped connect sessions (PKCE verifier encrypted, state and token stored only
//! as hashes), and the columns that let exactly one process refresh a connection's
//! token at a time (a lease taken by compare-and-swap) and back off after failures.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::m2025_11_01_102600_create_tenants::Tenants;
use crate::m2025_11_02_090000_create_encryption_keys::EncryptionKeys;
use crate::m2025_11_04_090000_tenant_isolation as previous;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthApps {
    Table,
    Id,
    ProviderSlug,
    ClientId,
    SecretCiphertext,
    SecretKeyId,
    SecretMask,
    AllowedReturnUrls,
    Revision,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ConnectSessions {
    Table,
    Id,
    TenantId,
    ProviderSlug,
    TokenHash,
    StateHash,
    VerifierCiphertext,
    VerifierKeyId,
    ReturnUrl,
    Scopes,
    EndUserLabel,
    Status,
    ConnectionId,
    ErrorCode,
    ActorKeyId,
    ActorName,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    TenantId,
    TokenExpiresAt,
    RefreshLeaseUntil,
    RefreshLeaseOwner,
    LastRefreshedAt,
    RefreshRetryAt,
    RefreshFailures,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Slug,
}

/// Connect-session lifecycle: `created` (link not yet opened) → `started` (sent to
/// the provider) → `exchanging` (state consumed, code being exchanged) → `completed`
/// or `failed`. Each step is a compare-and-swap, so a link or a state works once.
pub const SESSION_STATUSES: [&str; 5] = ["created", "started", "exchanging", "completed", "failed"];

/// The credential read, now with what the caller needs to decide whether the token
/// must be refreshed first or must not be handed out: the connection's status, last
/// reason code and provider.
const READ_CREDENTIALS: &str = r#"
CREATE FUNCTION connvault_read_credentials(p_tenant uuid, p_connection uuid)
RETURNS TABLE (o_field text, o_kind text, o_ciphertext bytea, o_token_expires_at timestamptz,
               o_status text, o_reason text, o_provider text)
LANGUAGE plpgsql
AS $$
DECLARE
    previous text := COALESCE(current_setting('connvault.tenant_id', true), '');
BEGIN
    PERFORM set_config('connvault.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT s.field::text, s.kind::text, s.ciphertext, c.token_expires_at,
               c.status::text, c.last_error_reason_code::text, c.provider_slug::text
        FROM credential_secrets s
        JOIN connections c ON c.tenant_id = s.tenant_id AND c.id = s.connection_id
        WHERE s.tenant_id = p_tenant AND s.connection_id = p_connection;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

/// Ciphertexts per tenant and key now include the PKCE verifiers of open connect
/// sessions, so a key is not retired under a flow in progress.
const KEY_USAGE: &str = r#"
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
            SELECT t, u.key_id, count(*)
            FROM (
                SELECT s.key_id FROM credential_secrets s WHERE s.tenant_id = t
                UNION ALL
                SELECT cs.verifier_key_id FROM connect_sessions cs
                WHERE cs.tenant_id = t AND cs.verifier_key_id IS NOT NULL
            ) u
            GROUP BY u.key_id;
    END LOOP;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

/// The background refresher's narrow path across tenants: the ids of connections whose
/// token expires before `p_before`, or that were last refreshed before `p_idle_before`,
/// that hold a refreshable credential, and whose lease and back-off have run out. One
/// tenant at a time under the policy; only ids come out.
pub(crate) const DUE_REFRESHES: &str = r#"
CREATE OR REPLACE FUNCTION connvault_due_refreshes(
    p_now timestamptz, p_before timestamptz, p_idle_before timestamptz, p_limit integer)
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
            WHERE c.tenant_id = t
              AND c.status = 'active'
              AND (c.token_expires_at < p_before
                   OR COALESCE(c.last_refreshed_at, c.created_at) < p_idle_before)
              AND (c.refresh_lease_until IS NULL OR c.refresh_lease_until < p_now)
              AND (c.refresh_retry_at IS NULL OR c.refresh_retry_at <= p_now)
              AND EXISTS (
                  SELECT 1 FROM credential_secrets s
                  WHERE s.tenant_id = c.tenant_id AND s.connection_id = c.id
                    AND ((s.kind = 'oauth2' AND s.field = 'refresh_token')
                         OR (s.kind = 'client_credentials' AND s.field = 'client_secret')))
            ORDER BY c.token_expires_at NULLS FIRST
            LIMIT p_limit - found;
        GET DIAGNOSTICS n = ROW_COUNT;
        found := found + n;
    END LOOP;
    PERFORM set_config('connvault.tenant_id', previous, true);
END
$$
"#;

/// Connect sessions past their expiry that were never completed become `failed` with
/// `session_expired`, and lose their PKCE verifier (so their data key can be
/// retired). One tenant at a time under the policy; returns how many.
const EXPIRE_SESSIONS: &str = r#"
CREATE OR REPLACE FUNCTION connvault_expire_connect_sessions(p_now timestamptz)
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
        UPDATE connect_sessions
        SET status = 'failed', error_code = 'session_expired',
            verifier_ciphertext = NULL, verifier_key_id = NULL, updated_at = p_now
        WHERE tenant_id = t AND expires_at < p_now AND status IN ('created', 'started');
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

fn nullable_timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthApps::Table)
                    .col(
                        ColumnDef::new(OauthApps::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OauthApps::ProviderSlug)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthApps::ClientId)
                            .string_len(512)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthApps::SecretCiphertext)
                            .binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OauthApps::SecretKeyId).integer().not_null())
                    .col(
                        ColumnDef::new(OauthApps::SecretMask)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthApps::AllowedReturnUrls)
                            .json()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OauthApps::Revision).big_integer().not_null())
                    .col(timestamp(OauthApps::CreatedAt))
                    .col(timestamp(OauthApps::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oauth_apps_provider")
                            .from(OauthApps::Table, OauthApps::ProviderSlug)
                            .to(Providers::Table, Providers::Slug)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oauth_apps_key")
                            .from(OauthApps::Table, OauthApps::SecretKeyId)
                            .to(EncryptionKeys::Table, EncryptionKeys::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_oauth_apps_provider")
                    .table(OauthApps::Table)
                    .col(OauthApps::ProviderSlug)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConnectSessions::Table)
                    .col(
                        ColumnDef::new(ConnectSessions::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ConnectSessions::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(ConnectSessions::ProviderSlug)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConnectSessions::TokenHash)
                            .binary_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConnectSessions::StateHash)
                            .binary_len(32)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ConnectSessions::VerifierCiphertext)
                            .binary()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ConnectSessions::VerifierKeyId)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ConnectSessions::ReturnUrl)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ConnectSessions::Scopes).json().not_null())
                    .col(
                        ColumnDef::new(ConnectSessions::EndUserLabel)
                            .string_len(200)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ConnectSessions::Status)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(ConnectSessions::Status).is_in(SESSION_STATUSES)),
                    )
                    .col(ColumnDef::new(ConnectSessions::ConnectionId).uuid().null())
                    .col(
                        ColumnDef::new(ConnectSessions::ErrorCode)
                            .string_len(64)
                            .null(),
                    )
                    .col(ColumnDef::new(ConnectSessions::ActorKeyId).uuid().null())
                    .col(
                        ColumnDef::new(ConnectSessions::ActorName)
                            .string_len(200)
                            .null(),
                    )
                    .col(timestamp(ConnectSessions::ExpiresAt))
                    .col(timestamp(ConnectSessions::CreatedAt))
                    .col(timestamp(ConnectSessions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_connect_sessions_tenant")
                            .from(ConnectSessions::Table, ConnectSessions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_connect_sessions_provider")
                            .from(ConnectSessions::Table, ConnectSessions::ProviderSlug)
                            .to(Providers::Table, Providers::Slug)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_connect_sessions_key")
                            .from(ConnectSessions::Table, ConnectSessions::VerifierKeyId)
                            .to(EncryptionKeys::Table, EncryptionKeys::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_connect_sessions_tenant_expiry")
                    .table(ConnectSessions::Table)
                    .col(ConnectSessions::TenantId)
                    .col(ConnectSessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        for column in [
            nullable_timestamp(Connections::RefreshLeaseUntil),
            ColumnDef::new(Connections::RefreshLeaseOwner)
                .uuid()
                .null()
                .to_owned(),
            nullable_timestamp(Connections::LastRefreshedAt),
            nullable_timestamp(Connections::RefreshRetryAt),
            ColumnDef::new(Connections::RefreshFailures)
                .integer()
                .not_null()
                .default(0)
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
        manager
            .create_index(
                Index::create()
                    .name("ix_connections_tenant_token_expiry")
                    .table(Connections::Table)
                    .col(Connections::TenantId)
                    .col(Connections::TokenExpiresAt)
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "ALTER TABLE connect_sessions ENABLE ROW LEVEL SECURITY; \
             ALTER TABLE connect_sessions FORCE ROW LEVEL SECURITY; \
             CREATE POLICY tenant_isolation ON connect_sessions FOR ALL \
             USING (tenant_id = connvault_current_tenant()) \
             WITH CHECK (tenant_id = connvault_current_tenant())",
        )
        .await?;
        db.execute_unprepared("DROP FUNCTION connvault_read_credentials(uuid, uuid)")
            .await?;
        db.execute_unprepared(READ_CREDENTIALS).await?;
        db.execute_unprepared(KEY_USAGE).await?;
        db.execute_unprepared(DUE_REFRESHES).await?;
        db.execute_unprepared(EXPIRE_SESSIONS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP FUNCTION connvault_expire_connect_sessions(timestamptz); \
                 DROP FUNCTION connvault_due_refreshes(timestamptz, timestamptz, timestamptz, integer); \
                 DROP FUNCTION connvault_read_credentials(uuid, uuid)",
            )
            .await?;
            // Back to the previous migration's versions.
            db.execute_unprepared(previous::READ_CREDENTIALS).await?;
            db.execute_unprepared(previous::KEY_USAGE).await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_connections_tenant_token_expiry")
                    .table(Connections::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Connections::RefreshLeaseUntil,
            Connections::RefreshLeaseOwner,
            Connections::LastRefreshedAt,
            Connections::RefreshRetryAt,
            Connections::RefreshFailures,
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
        manager
            .drop_table(Table::drop().table(ConnectSessions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OauthApps::Table).to_owned())
            .await
    }
}
