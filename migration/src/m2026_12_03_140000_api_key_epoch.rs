//! Revocation that reaches every replica: `api_key_epoch` holds one counter that every
//! change to an API key or an operator key (revocation, deletion, any update) raises in
//! the changing transaction, by trigger, on both backends. A process that caches keys
//! compares the counter periodically and forgets its cache when it moved. On PostgreSQL
//! the same trigger also sends `NOTIFY connvault_api_keys` with the key's id, which
//! listeners receive when (and only if) the changing transaction commits.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeyEpoch {
    Table,
    Id,
    Version,
}

/// The channel the trigger notifies; the payload is the changed key's id.
pub const API_KEYS_CHANNEL: &str = "connvault_api_keys";

/// `SECURITY DEFINER` with the search path fixed at creation: the service role may read
/// the counter but not write it; only a change to a key row moves it.
const CHANGED_POSTGRES: &str = r#"
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

const CHANGED_SQLITE: [&str; 4] = [
    "CREATE TRIGGER api_keys_updated AFTER UPDATE ON api_keys \
     BEGIN UPDATE api_key_epoch SET version = version + 1 WHERE id = 1; END",
    "CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys \
     BEGIN UPDATE api_key_epoch SET version = version + 1 WHERE id = 1; END",
    "CREATE TRIGGER operator_keys_updated AFTER UPDATE ON operator_keys \
     BEGIN UPDATE api_key_epoch SET version = version + 1 WHERE id = 1; END",
    "CREATE TRIGGER operator_keys_deleted AFTER DELETE ON operator_keys \
     BEGIN UPDATE api_key_epoch SET version = version + 1 WHERE id = 1; END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeyEpoch::Table)
                    .col(
                        ColumnDef::new(ApiKeyEpoch::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ApiKeyEpoch::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .check(Expr::col(ApiKeyEpoch::Id).eq(1))
                    .to_owned(),
            )
            .await?;
        // The one row is structure, not data: the triggers update it and never insert.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ApiKeyEpoch::Table)
                    .columns([ApiKeyEpoch::Id, ApiKeyEpoch::Version])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(CHANGED_POSTGRES).await?;
        } else {
            for sql in CHANGED_SQLITE {
                db.execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER api_keys_changed ON api_keys; \
                 DROP TRIGGER operator_keys_changed ON operator_keys; \
                 DROP FUNCTION connvault_api_key_changed()",
            )
            .await?;
        } else {
            for name in [
                "api_keys_updated",
                "api_keys_deleted",
                "operator_keys_updated",
                "operator_keys_deleted",
            ] {
                db.execute_unprepared(&format!("DROP TRIGGER {name}"))
                    .await?;
            }
        }
        manager
            .drop_table(Table::drop().table(ApiKeyEpoch::Table).to_owned())
            .await?;
        Ok(())
    }
}
