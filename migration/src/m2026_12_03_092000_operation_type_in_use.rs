//! An operation type cannot be deleted while runs of it exist. On PostgreSQL a foreign
//! key from `operation_runs` to `operation_types` (`ON DELETE RESTRICT`) decides: its
//! check sees every tenant's runs, row-level security notwithstanding, and holds under
//! concurrent starts. SQLite cannot add a constraint to an existing table; there the
//! repository checks for runs inside the deleting transaction, which holds the
//! database's write lock. Both backends get the index the check reads.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OperationRuns {
    Table,
    OperationType,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_operation_runs_type")
                    .table(OperationRuns::Table)
                    .col(OperationRuns::OperationType)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE operation_runs ADD CONSTRAINT fk_operation_runs_type \
                     FOREIGN KEY (operation_type) REFERENCES operation_types (operation_type) \
                     ON DELETE RESTRICT",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE operation_runs DROP CONSTRAINT IF EXISTS fk_operation_runs_type",
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_operation_runs_type")
                    .table(OperationRuns::Table)
                    .to_owned(),
            )
            .await
    }
}
