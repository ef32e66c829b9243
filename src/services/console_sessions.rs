//! Ending console sessions on the server: signing out lists the session's id until it
//! would have expired anyway, and a listed session is refused however valid its
//! signed cookie is. Each sign-out also purges the rows of sessions that expired.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::Result;
use crate::repositories::{self, console_sessions};

/// Ends session `id`, which would have expired at `expires_at`.
pub async fn end(db: &DatabaseConnection, id: Uuid, expires_at: DateTime<Utc>) -> Result<()> {
    console_sessions::revoke(db, id, expires_at).await?;
    let purged = console_sessions::purge(db, repositories::now()).await?;
    if purged > 0 {
        tracing::debug!(purged, "expired console session revocations purged");
    }
    Ok(())
}

/// Whether session `id` was ended by signing out.
pub async fn ended(db: &DatabaseConnection, id: Uuid) -> Result<bool> {
    console_sessions::is_revoked(db, id).await
}
