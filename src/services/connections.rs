//! Connection lifecycle with its activity log: every change and the entry that
//! records it commit or roll back together. Credentials are encrypted before the
//! transaction opens (see `services::credentials`).

use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::models::activity::Action;
use crate::models::connection::{self, ConnectionStatus};
use crate::models::{ConnectionId, ProviderSlug, TenantId};
use crate::repositories::activity::Actor;
use crate::repositories::connections::{self, DetailsPatch, NewConnection};
use crate::repositories::providers;
use crate::services::activity::record;
use crate::services::credential_fit;
use crate::services::credentials::{self, Credential, CredentialSummary};
use crate::tenancy::TenantTxn;

/// Creates a connection, with its credential when one is given (the connection is then
/// `active` unless told otherwise), and records `connected`. The credential must fit
/// one of the provider's auth modes (`credential.kind`). Bad input writes nothing.
pub async fn connect(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    actor: &Actor,
    mut input: NewConnection,
    credential: Option<&Credential>,
) -> Result<(connection::Model, Option<CredentialSummary>)> {
    input.check()?;
    let sealed = match credential {
        Some(c) => {
            check_fit(db, &input.provider, "credential.kind", c).await?;
            Some(credentials::seal(keyring, tenant, input.id, c).await?)
        }
        None => None,
    };
    if sealed.is_some() && input.status == ConnectionStatus::Pending {
        input.status = ConnectionStatus::Active;
    }
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let conn = connections::create(&txn, tenant, input).await?;
    let summary = match sealed {
        Some(s) => Some(credentials::write_sealed(&txn, s).await?),
        None => None,
    };
    let details = json!({
        "external_id": conn.external_id,
        "credential_kind": summary.as_ref().map(|s| s.kind),
        "is_default": conn.is_default,
    });
    record(&txn, actor, &conn, Action::Connected, details).await?;
    txn.commit().await?;
    Ok((conn, summary))
}

/// Updates display name, metadata and status; records `updated` (the fields that
/// changed) and `status_changed` when the status changes. `revoked` is reached only by [`disconnect`], and left only by replacing the
/// credential.
pub async fn update(
    db: &DatabaseConnection,
    tenant: TenantId,
    actor: &Actor,
    id: ConnectionId,
    patch: DetailsPatch,
) -> Result<connection::Model> {
    if patch.status == Some(ConnectionStatus::Revoked) {
        return Err(Error::invalid(
            "status",
            "use disconnect to revoke a connection",
        ));
    }
    let txn = TenantTxn::begin_write(db, tenant).await?;
    // Locked, so a concurrent disconnect cannot slip between this check and the update.
    let current = connections::lock(&txn, tenant, id).await?;
    if current.status == ConnectionStatus::Revoked && patch.status.is_some() {
        return Err(Error::invalid(
            "status",
            "a revoked connection is reactivated by replacing its credentials",
        ));
    }
    if patch.status == Some(ConnectionStatus::Active)
        && credentials::summary(&txn, tenant, id).await?.is_none()
    {
        return Err(Error::invalid(
            "status",
            "a connection without a credential cannot be active",
        ));
    }
    let (before, after) = connections::update_details(&txn, tenant, id, patch).await?;
    let changed: Vec<&str> = [
        ("display_name", before.display_name != after.display_name),
        ("metadata", before.metadata != after.metadata),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect();
    if !changed.is_empty() {
        let details = json!({ "fields": changed, "display_name": after.display_name });
        record(&txn, actor, &after, Action::Updated, details).await?;
    }
    if before.status != after.status {
        let details = json!({ "from": before.status, "to": after.status });
        record(&txn, actor, &after, Action::StatusChanged, details).await?;
    }
    txn.commit().await?;
    Ok(after)
}

/// Fails unless a credential of this kind fits one of the provider's auth modes.
async fn check_fit(
    db: &DatabaseConnection,
    provider: &ProviderSlug,
    field: &'static str,
    credential: &Credential,
) -> Result<()> {
    let provider = providers::get_by_slug(db, provider)
        .await?
        .ok_or_else(|| Error::UnknownProvider(provider.to_string()))?;
    credential_fit::check(field, credential.kind(), &provider.auth_modes.0)
}

/// Replaces the credential; a revoked or pending connection becomes active. Records
/// `credentials_updated`. The credential must fit one of the provider's auth modes
/// (`kind`). Bad input writes nothing.
pub async fn replace_credentials(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    actor: &Actor,
    id: ConnectionId,
    credential: &Credential,
) -> Result<(connection::Model, CredentialSummary)> {
    let current = connections::get_by_id(db, tenant, id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    check_fit(
        db,
        &ProviderSlug::parse(&current.provider_slug)?,
        "kind",
        credential,
    )
    .await?;
    let sealed = credentials::seal(keyring, tenant, id, credential).await?;
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let summary = credentials::write_sealed(&txn, sealed).await?;
    let (before, after) = connections::update_details(
        &txn,
        tenant,
        id,
        DetailsPatch {
            status: Some(ConnectionStatus::Active),
            ..Default::default()
        },
    )
    .await?;
    let details = json!({ "credential_kind": summary.kind, "previous_status": before.status });
    record(&txn, actor, &after, Action::CredentialsUpdated, details).await?;
    txn.commit().await?;
    Ok((after, summary))
}

/// Makes the connection its provider's default; records `default_changed` when it was
/// not already.
pub async fn make_default(
    db: &DatabaseConnection,
    tenant: TenantId,
    actor: &Actor,
    id: ConnectionId,
) -> Result<connection::Model> {
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let before = connections::get_by_id(&txn, tenant, id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    let after = connections::make_default(&txn, tenant, id).await?;
    if !before.is_default {
        record(&txn, actor, &after, Action::DefaultChanged, json!({})).await?;
    }
    txn.commit().await?;
    Ok(after)
}

/// Destroys the credential and marks the connection `revoked` (the row stays);
/// records `disconnected`, and promotes another default when this was the default.
pub async fn disconnect(
    db: &DatabaseConnection,
    tenant: TenantId,
    actor: &Actor,
    id: ConnectionId,
) -> Result<Removed> {
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let before = connections::lock(&txn, tenant, id).await?;
    if before.status == ConnectionStatus::Revoked {
        return Err(Error::invalid(
            "status",
            "the connection is already disconnected",
        ));
    }
    let destroyed = credentials::delete(&txn, tenant, id).await?;
    let conn = connections::revoke(&txn, tenant, id).await?;
    let details = json!({ "secrets_destroyed": destroyed });
    record(&txn, actor, &conn, Action::Disconnected, details).await?;
    let promoted = keep_a_default(&txn, actor, &before, "disconnected").await?;
    txn.commit().await?;
    Ok(Removed { conn, promoted })
}

/// A connection disconnected or deleted, and the connection made its provider's
/// default in its place, if any.
pub struct Removed {
    pub conn: connection::Model,
    pub promoted: Option<connection::Model>,
}

/// Exactly one default while any active connection is left: when `removed` was its
/// provider's default, the oldest active connection takes its place, recorded as
/// `default_changed` in the same transaction.
async fn keep_a_default(
    txn: &TenantTxn,
    actor: &Actor,
    removed: &connection::Model,
    because: &str,
) -> Result<Option<connection::Model>> {
    if !removed.is_default {
        return Ok(None);
    }
    let promoted = connections::promote_default(txn, txn.tenant(), &removed.provider_slug).await?;
    if let Some(conn) = &promoted {
        let details = json!({
            "promoted": true,
            "previous_default": removed.id,
            "previous_default_was": because,
        });
        record(txn, actor, conn, Action::DefaultChanged, details).await?;
    }
    Ok(promoted)
}

/// Deletes the connection and its credential; records `deleted` (the log entry stays),
/// and promotes another default when this was the default.
pub async fn delete(
    db: &DatabaseConnection,
    tenant: TenantId,
    actor: &Actor,
    id: ConnectionId,
) -> Result<Removed> {
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let conn = connections::delete(&txn, tenant, id).await?;
    let details = json!({ "external_id": conn.external_id });
    record(&txn, actor, &conn, Action::Deleted, details).await?;
    let promoted = keep_a_default(&txn, actor, &conn, "deleted").await?;
    txn.commit().await?;
    Ok(Removed { conn, promoted })
}
