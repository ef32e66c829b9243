//! PostgreSQL: the service may read which migrations are applied (for its readiness
//! check) through one function, without any privilege on the migration history table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The applied migrations' names. `SECURITY DEFINER` (the owner's rights) with the
/// search path fixed at creation, so a caller cannot redirect the table it reads.
const APPLIED_MIGRATIONS: &str = r#"
CREATE OR REPLACE FUNCTION connvault_applied_migrations()
RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path FROM CURRENT
AS $$ SELECT version::text FROM seaql_migrations $$
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(APPLIED_MIGRATIONS)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION connvault_applied_migrations()")
            .await?;
        Ok(())
    }
}
