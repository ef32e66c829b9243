//! The API-key change counter raised as the credential one is
//! (`m2026_12_05_090000_credential_epoch`): on PostgreSQL by deferred constraint
//! triggers, at commit and once per transaction, so the counter's row is locked last
//! and only for the commit and two transactions never wait on each other through it.
//! The notification per changed key stays. SQLite is unchanged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const AT_COMMIT: &str = r#"
DROP TRIGGER api_keys_changed ON api_keys;
DROP TRIGGER operator_keys_changed ON operator_keys;
CREATE OR REPLACE FUNCTION connvault_api_key_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM pg_notify('connvault_api_keys', OLD.id::text);
    IF current_setting('connvault.api_key_epoch_raised', true) IS DISTINCT FROM 'yes' THEN
        UPDATE api_key_epoch SET version = version + 1 WHERE id = 1;
        PERFORM set_config('connvault.api_key_epoch_raised', 'yes', true);
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION connvault_api_key_changed();
CREATE CONSTRAINT TRIGGER operator_keys_changed AFTER UPDATE OR DELETE ON operator_keys
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION connvault_api_key_changed();
"#;

/// The previous migration's immediate triggers.
const IMMEDIATE: &str = r#"
DROP TRIGGER api_keys_changed ON api_keys;
DROP TRIGGER operator_keys_changed ON operator_keys;
CREATE OR REPLACE FUNCTION connvault_api_key_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    UPDATE api_key_epoch SET version = version + 1 WHERE id = 1;
    PERFORM pg_notify('connvault_api_keys', OLD.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION connvault_api_key_changed();
CREATE TRIGGER operator_keys_changed AFTER UPDATE OR DELETE ON operator_keys
    FOR EACH ROW EXECUTE FUNCTION connvault_api_key_changed();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(AT_COMMIT)
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(IMMEDIATE)
                .await?;
        }
        Ok(())
    }
}
