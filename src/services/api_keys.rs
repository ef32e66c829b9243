//! API keys with their trace: a tenant key's creation and revocation are recorded in
//! the tenant's activity log in the same transaction, and every key change (operator
//! keys too, which belong to no tenant's log) goes to the audit trail. Never the secret.

use sea_orm::DatabaseConnection;
use serde_json::json;
use uuid::Uuid;

use crate::audit;
use crate::error::{Error, Result};
use crate::models::TenantId;
use crate::models::activity::Action;
use crate::models::api_key::Role;
use crate::repositories::activity::Actor;
use crate::repositories::api_keys::{self, KeyIdentity, NewApiKey};
use crate::repositories::{Page, tenants};
use crate::services::activity::record_on_tenant;
use crate::tenancy::TenantTxn;

/// Creates a key of `tenant` (or an operator key, for `None`) and records it.
pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    tenant: Option<TenantId>,
    role: Role,
    name: &str,
) -> Result<NewApiKey> {
    let created = match tenant {
        None => api_keys::create(db, None, role, name).await?,
        Some(t) => {
            let txn = TenantTxn::begin_write(db, t).await?;
            let created = api_keys::create(&txn, Some(t), role, name).await?;
            let details = json!({
                "key_id": created.key.id,
                "role": role,
                "name": created.key.name,
                "prefix": created.key.prefix,
            });
            record_on_tenant(&txn, actor, Action::ApiKeyCreated, details).await?;
            txn.commit().await?;
            created
        }
    };
    audit::api_key_changed(
        "api_key_created",
        actor.key_id,
        created.key.id,
        tenant,
        role,
    );
    Ok(created)
}

/// Revokes a live key of `tenant` (or an operator key, for `None`) and records it.
/// `NotFound` when there is no such live key there.
pub async fn revoke(
    db: &DatabaseConnection,
    actor: &Actor,
    tenant: Option<TenantId>,
    id: Uuid,
) -> Result<()> {
    let role = match tenant {
        None => {
            api_keys::revoke(db, None, id).await?;
            // The audit line names the role the key had.
            api_keys::deployment_key_role(db, id)
                .await?
                .unwrap_or(Role::Operator)
        }
        Some(t) => {
            let txn = TenantTxn::begin_write(db, t).await?;
            let key = api_keys::get(&txn, t, id)
                .await?
                .ok_or(Error::NotFound("api key"))?;
            api_keys::revoke(&txn, Some(t), id).await?;
            let details = json!({"key_id": id, "role": key.role, "name": key.name});
            record_on_tenant(&txn, actor, Action::ApiKeyRevoked, details).await?;
            txn.commit().await?;
            key.role
        }
    };
    audit::api_key_changed("api_key_revoked", actor.key_id, id, tenant, role);
    Ok(())
}

/// Revokes the live key with this id wherever it is: an operator key, or a key of any
/// tenant (each tenant's keys are visible only in its own scope, so they are tried in
/// turn: an operator's command, not a request path). `NotFound` when there is none.
pub async fn revoke_anywhere(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<()> {
    match revoke(db, actor, None, id).await {
        Err(Error::NotFound(_)) => {}
        other => return other,
    }
    let mut page = Page {
        limit: Some(Page::MAX_LIMIT),
        after: None,
    };
    loop {
        let tenants = tenants::list_page(db, page.clone()).await?;
        for tenant in &tenants.items {
            match revoke(db, actor, Some(tenant.tenant_id()), id).await {
                Err(Error::NotFound(_)) => {}
                other => return other,
            }
        }
        match tenants.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => return Err(Error::NotFound("api key")),
        }
    }
}

/// The live key with this secret, if any (the console's sign-in).
pub async fn identify(db: &DatabaseConnection, secret: &str) -> Result<Option<KeyIdentity>> {
    api_keys::authenticate(db, secret).await
}

/// The live key with this id, if any (the console's session check).
pub async fn live(
    db: &DatabaseConnection,
    tenant: Option<TenantId>,
    id: Uuid,
) -> Result<Option<KeyIdentity>> {
    api_keys::live_identity(db, tenant, id).await
}
