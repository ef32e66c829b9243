//! Console sessions ended by signing out (`console_session_revocations`): revoking is
//! idempotent; a lookup is one primary-key read; expired rows are purged.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::error::Result;
use crate::models::console_session_revocation as revocation;

/// Records that session `id` ended; it would have expired at `expires_at`. Revoking a
/// revoked session changes nothing.
pub async fn revoke<C: ConnectionTrait>(db: &C, id: Uuid, expires_at: DateTime<Utc>) -> Result<()> {
    let row = revocation::ActiveModel {
        session_id: Set(id),
        revoked_at: Set(super::now()),
        expires_at: Set(expires_at),
    };
    revocation::Entity::insert(row)
        .on_conflict_do_nothing_on([revocation::Column::SessionId])
        .exec(db)
        .await?;
    Ok(())
}

/// Whether session `id` was ended.
pub async fn is_revoked<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<bool> {
    Ok(revocation::Entity::find_by_id(id).one(db).await?.is_some())
}

/// Deletes the revocations of sessions that expired before `now`; how many.
pub async fn purge<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64> {
    let result = revocation::Entity::delete_many()
        .filter(revocation::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
