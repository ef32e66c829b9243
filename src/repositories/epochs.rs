//! What tells a process that rows it caches changed elsewhere: a counter per cached
//! kind of row, which every change to such a row raises in its transaction (triggers,
//! both backends), and on PostgreSQL the notifications the same triggers send when that
//! transaction commits, naming the changed row:
//! - [`Epoch::ApiKeys`]: `api_key_epoch` and `connvault_api_keys` (the key's id);
//! - [`Epoch::Credentials`]: `credential_epoch` and `connvault_credentials` (the
//!   connection's id), for what the credential read returns.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A kind of cached row with its own change counter and channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    /// API and operator keys.
    ApiKeys,
    /// Connections' credential rows and the connection columns read with them.
    Credentials,
}

impl Epoch {
    fn version_sql(self) -> &'static str {
        match self {
            Epoch::ApiKeys => "SELECT version FROM api_key_epoch WHERE id = 1",
            Epoch::Credentials => "SELECT version FROM credential_epoch WHERE id = 1",
        }
    }

    fn channel(self) -> &'static str {
        match self {
            Epoch::ApiKeys => migration::API_KEYS_CHANNEL,
            Epoch::Credentials => migration::CREDENTIALS_CHANNEL,
        }
    }
}

/// The counter's current value: one read of one row.
pub async fn version<C: ConnectionTrait>(db: &C, epoch: Epoch) -> Result<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, epoch.version_sql()))
        .await?
        .ok_or(Error::NotFound("change counter"))?;
    Ok(row.try_get("", "version")?)
}

/// A connection that listens for changes of one kind (PostgreSQL only).
pub struct Changes {
    listener: PgListener,
}

/// What the listening connection reported.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// The row with this id changed (a key revoked, deleted or updated; a connection's
    /// credential or read columns changed).
    Row(Uuid),
    /// A notification whose payload is not an id: treat every row as changed.
    Unknown,
    /// The connection was lost and made again: notifications sent meanwhile are lost.
    Reconnected,
}

/// Opens a connection of the pool's that listens on the epoch's channel; `None` on
/// SQLite, which has no notifications.
pub async fn listen(db: &DatabaseConnection, epoch: Epoch) -> Result<Option<Changes>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let pool = db.get_postgres_connection_pool();
    let mut listener = PgListener::connect_with(pool).await.map_err(db_err)?;
    listener.listen(epoch.channel()).await.map_err(db_err)?;
    Ok(Some(Changes { listener }))
}

impl Changes {
    /// The next change. An error means the connection is unusable: drop this and
    /// listen again.
    pub async fn next(&mut self) -> Result<Change> {
        match self.listener.try_recv().await.map_err(db_err)? {
            None => Ok(Change::Reconnected),
            Some(n) => Ok(n
                .payload()
                .parse()
                .map(Change::Row)
                .unwrap_or(Change::Unknown)),
        }
    }
}

fn db_err(e: sea_orm::sqlx::Error) -> Error {
    Error::Database(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
        std::sync::Arc::new(e),
    )))
}
