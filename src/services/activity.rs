//! The one way services record what they changed: an activity entry about a connection,
//! in the change's own transaction (and so its tenant), so that both commit or neither.

use crate::error::Result;
use crate::models::activity::Action;
use crate::models::connection;
use crate::repositories::activity::{self, Actor, Entry};
use crate::tenancy::TenantTxn;

/// Records `action` on `conn` by `actor`. `details` must hold no secret.
pub async fn record(
    txn: &TenantTxn,
    actor: &Actor,
    conn: &connection::Model,
    action: Action,
    details: serde_json::Value,
) -> Result<()> {
    let entry = Entry {
        connection_id: Some(conn.id),
        provider_slug: Some(&conn.provider_slug),
        action,
        details,
    };
    activity::record(txn, txn.tenant(), actor, entry).await?;
    Ok(())
}
