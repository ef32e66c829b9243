//! The audit trail of reads and key changes that leave no row behind: one structured
//! event per credential read and per API-key change, on the log target
//! `connvault::audit` (route it to a file with `CONNVAULT_AUDIT_LOG`). Ids, roles and
//! outcomes only: never a secret.

use uuid::Uuid;

use crate::models::api_key::Role;
use crate::models::{ConnectionId, TenantId};

/// The log target every audit event is written to.
pub const TARGET: &str = "connvault::audit";

/// A credential read: who asked (key), for which connection, and how it ended (`ok`
/// or the problem code).
pub fn credential_read(
    request_id: Option<&str>,
    key_id: Uuid,
    tenant: TenantId,
    connection: ConnectionId,
    result: &str,
) {
    tracing::info!(
        target: TARGET,
        event = "credential_read",
        request_id = request_id.unwrap_or(""),
        key_id = %key_id,
        tenant_id = %tenant,
        connection_id = %connection,
        result,
    );
}

/// An API key created or revoked (`event`), by `actor_key_id` (`None`: the CLI).
pub fn api_key_changed(
    event: &'static str,
    actor_key_id: Option<Uuid>,
    key_id: Uuid,
    tenant: Option<TenantId>,
    role: Role,
) {
    tracing::info!(
        target: TARGET,
        event,
        actor_key_id = %actor_key_id.map(|k| k.to_string()).unwrap_or_default(),
        key_id = %key_id,
        tenant_id = %tenant.map(|t| t.to_string()).unwrap_or_default(),
        role = role.as_str(),
    );
}

/// A worker's read of a claimed run's credential: who asked (worker key), for which
/// run, the tenant and connection when the claim held, and how it ended.
pub fn claimed_credential_read(
    request_id: Option<&str>,
    key_id: Uuid,
    run_id: Uuid,
    target: Option<(TenantId, ConnectionId)>,
    result: &str,
) {
    tracing::info!(
        target: TARGET,
        event = "claimed_credential_read",
        request_id = request_id.unwrap_or(""),
        key_id = %key_id,
        run_id = %run_id,
        tenant_id = %target.map(|(t, _)| t.to_string()).unwrap_or_default(),
        connection_id = %target.map(|(_, c)| c.to_string()).unwrap_or_default(),
        result,
    );
}
