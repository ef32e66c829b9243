//! What tells a process that API keys changed elsewhere: the `api_key_epoch` counter,
//! which every change to a key row raises in its transaction (a trigger, both
//! backends), and on PostgreSQL the `connvault_api_keys` notifications the same trigger
//! sends when that transaction commits.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The counter's current value: one read of one row.
pub async fn version<C: ConnectionTrait>(db: &C) -> Result<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT version FROM api_key_epoch WHERE id = 1",
        ))
        .await?
        .ok_or(Error::NotFound("api key epoch"))?;
    Ok(row.try_get("", "version")?)
}

/// A connection that listens for key changes (PostgreSQL only).
pub struct KeyChanges {
    listener: PgListener,
}

/// What the listening connection reported.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// The key with this id changed (revoked, deleted or updated).
    Key(Uuid),
    /// A notification whose payload is not a key id: treat every key as changed.
    Unknown,
    /// The connection was lost and made again: notifications sent meanwhile are lost.
    Reconnected,
}

/// Opens a connection of the pool's that listens on the key channel; `None` on SQLite,
/// which has no notifications.
pub async fn listen(db: &DatabaseConnection) -> Result<Option<KeyChanges>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let pool = db.get_postgres_connection_pool();
    let mut listener = PgListener::connect_with(pool).await.map_err(db_err)?;
    listener
        .listen(migration::API_KEYS_CHANNEL)
        .await
        .map_err(db_err)?;
    Ok(Some(KeyChanges { listener }))
}

impl KeyChanges {
    /// The next change. An error means the connection is unusable: drop this and
    /// listen again.
    pub async fn next(&mut self) -> Result<Change> {
        match self.listener.try_recv().await.map_err(db_err)? {
            None => Ok(Change::Reconnected),
            Some(n) => Ok(n
                .payload()
                .parse()
                .map(Change::Key)
                .unwrap_or(Change::Unknown)),
        }
    }
}

fn db_err(e: sea_orm::sqlx::Error) -> Error {
    Error::Database(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
        std::sync::Arc::new(e),
    )))
}
