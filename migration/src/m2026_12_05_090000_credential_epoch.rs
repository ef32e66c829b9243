//! Invalidation of per-process credential caches: `credential_epoch` holds one counter
//! that every change to what the credential read returns raises in the changing
//! transaction, by trigger, on both backends: any insert, update or delete of a
//! `credential_secrets` row (a credential replaced, destroyed or re-encrypted), and any
//! delete of a connection or update of its status, token expiry, last reason code or
//! provider. On PostgreSQL the same change sends `NOTIFY connvault_credentials` with the
//! connection's id, which listeners receive when (and only if) the transaction commits.
//! On PostgreSQL the counter is raised once per transaction, at its commit (deferred
//! triggers; see [`changed_postgres`]); on SQLite, whose writers are serialized anyway,
//! once per row.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CredentialEpoch {
    Table,
    Id,
    Version,
}

/// The channel the triggers notify; the payload is the changed connection's id.
pub const CREDENTIALS_CHANNEL: &str = "connvault_credentials";

/// The connection columns the credential read returns or filters on.
const READ_COLUMNS: &str = "status, token_expires_at, last_error_reason_code, provider_slug";

/// `SECURITY DEFINER` with the search path fixed at creation: the service role may read
/// the counter but not write it; only a change to the rows moves it.
///
/// Deferred constraint triggers run at commit, after the transaction has taken every
/// other lock it needs: the counter's row is locked last and only for the commit, so
/// two transactions never wait on each other through it (an immediate trigger would
/// hold it from the first change on, and deadlock with, say, a re-encryption batch
/// waiting on a row the first transaction replaces). A transaction-local setting makes
/// it one update of the counter per transaction, however many rows changed.
fn changed_postgres() -> String {
    format!(
        r#"
CREATE OR REPLACE FUNCTION connvault_credential_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    changed uuid;
BEGIN
    IF TG_TABLE_NAME = 'connections' THEN
        changed := OLD.id;
    ELSIF TG_OP = 'INSERT' THEN
        changed := NEW.connection_id;
    ELSE
        changed := OLD.connection_id;
    END IF;
    PERFORM pg_notify('{CREDENTIALS_CHANNEL}', changed::text);
    IF current_setting('connvault.credential_epoch_raised', true) IS DISTINCT FROM 'yes' THEN
        UPDATE credential_epoch SET version = version + 1 WHERE id = 1;
        PERFORM set_config('connvault.credential_epoch_raised', 'yes', true);
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER credential_secrets_changed
    AFTER INSERT OR UPDATE OR DELETE ON credential_secrets
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION connvault_credential_changed();
CREATE CONSTRAINT TRIGGER connections_read_changed
    AFTER UPDATE OF {READ_COLUMNS} OR DELETE ON connections
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION connvault_credential_changed();
"#
    )
}

const BUMP_SQLITE: &str =
    "BEGIN UPDATE credential_epoch SET version = version + 1 WHERE id = 1; END";

fn changed_sqlite() -> Vec<String> {
    let mut sql: Vec<String> = ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .map(|op| {
            format!(
                "CREATE TRIGGER credential_secrets_{} AFTER {op} ON credential_secrets {BUMP_SQLITE}",
                op.to_lowercase()
            )
        })
        .collect();
    sql.push(format!(
        "CREATE TRIGGER connections_read_update AFTER UPDATE OF {READ_COLUMNS} ON connections {BUMP_SQLITE}"
    ));
    sql.push(format!(
        "CREATE TRIGGER connections_read_delete AFTER DELETE ON connections {BUMP_SQLITE}"
    ));
    sql
}

const SQLITE_TRIGGERS: [&str; 5] = [
    "credential_secrets_insert",
    "credential_secrets_update",
    "credential_secrets_delete",
    "connections_read_update",
    "connections_read_delete",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CredentialEpoch::Table)
                    .col(
                        ColumnDef::new(CredentialEpoch::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CredentialEpoch::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .check(Expr::col(CredentialEpoch::Id).eq(1))
                    .to_owned(),
            )
            .await?;
        // The one row is structure, not data: the triggers update it and never insert.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(CredentialEpoch::Table)
                    .columns([CredentialEpoch::Id, CredentialEpoch::Version])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&changed_postgres()).await?;
        } else {
            for sql in changed_sqlite() {
                db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER credential_secrets_changed ON credential_secrets; \
                 DROP TRIGGER connections_read_changed ON connections; \
                 DROP FUNCTION connvault_credential_changed()",
            )
            .await?;
        } else {
            for name in SQLITE_TRIGGERS {
                db.execute_unprepared(&format!("DROP TRIGGER {name}"))
                    .await?;
            }
        }
        manager
            .drop_table(Table::drop().table(CredentialEpoch::Table).to_owned())
            .await?;
        Ok(())
    }
}
