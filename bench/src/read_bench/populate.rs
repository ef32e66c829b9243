//! Fills a database with GitHub connections (an OAuth access and refresh token each,
//! encrypted) spread over tenants, with one `service` key per tenant, directly through
//! the library as the owner: the same rows the API would write, much faster.

use connvault::crypto::Keyring;
use connvault::models::api_key::Role;
use connvault::models::connection::{self, ConnectionStatus, HealthStatus};
use connvault::models::json::StringList;
use connvault::models::{ConnectionId, TenantId};
use connvault::repositories::{api_keys, tenants};
use connvault::services::credentials::{self, Credential};
use sea_orm::{DatabaseConnection, EntityTrait, Set, TransactionTrait};
use secrecy::{ExposeSecret, SecretString};

/// One credential to read: its path's ids and the tenant's service key.
pub struct Target {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub key: String,
}

/// `connections` connections over `tenants` new tenants; `first` numbers the first
/// connection (external ids stay unique across calls).
pub async fn populate(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenants: usize,
    connections: usize,
    first: usize,
) -> anyhow::Result<Vec<Target>> {
    let mut keys = Vec::with_capacity(tenants);
    let mut tenant_ids = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let tenant = tenants::create(db, &format!("tenant-{}", first + i))
            .await?
            .tenant_id();
        let key = api_keys::create(db, Some(tenant), Role::Service, "bench").await?;
        keys.push(key.secret.expose_secret().to_owned());
        tenant_ids.push(tenant);
    }
    let now = sea_orm::prelude::DateTimeUtc::from(std::time::SystemTime::now());
    let mut targets = Vec::with_capacity(connections);
    for chunk_start in (first..first + connections).step_by(1000) {
        let chunk_end = (chunk_start + 1000).min(first + connections);
        let mut rows = Vec::new();
        let mut sealed = Vec::new();
        for i in chunk_start..chunk_end {
            let t = i % tenant_ids.len();
            let id = ConnectionId::new_v4();
            rows.push(connection::ActiveModel {
                id: Set(id.as_uuid()),
                tenant_id: Set(tenant_ids[t].as_uuid()),
                provider_slug: Set("github".to_owned()),
                external_id: Set(format!("installation-{i:08}")),
                display_name: Set(None),
                status: Set(ConnectionStatus::Active),
                health_status: Set(HealthStatus::Healthy),
                is_default: Set(false),
                scopes_granted: Set(StringList::default()),
                token_expires_at: Set(None),
                last_health_check_at: Set(None),
                last_error_reason_code: Set(None),
                last_error_message: Set(None),
                metadata: Set(sea_orm::prelude::Json::Object(Default::default())),
                created_at: Set(now),
                updated_at: Set(now),
                refresh_lease_until: Set(None),
                refresh_lease_owner: Set(None),
                last_refreshed_at: Set(None),
                refresh_retry_at: Set(None),
                refresh_failures: Set(0),
                health_check_due_at: Set(None),
                health_lease_until: Set(None),
                health_lease_owner: Set(None),
            });
            let credential = Credential::Oauth2 {
                access_token: SecretString::from(format!(
                    "gho_bench_{i:08}_16C7e42F292c6912E7710c8"
                )),
                refresh_token: Some(SecretString::from(format!(
                    "ghr_bench_{i:08}_1B4a2e77838347a7E420c"
                ))),
            };
            sealed.push(credentials::seal(keyring, tenant_ids[t], id, &credential).await?);
            targets.push(Target {
                tenant: tenant_ids[t],
                connection: id,
                key: keys[t].clone(),
            });
        }
        let txn = db.begin().await?;
        connection::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        for s in sealed {
            credentials::write_sealed(&txn, s).await?;
        }
        txn.commit().await?;
    }
    Ok(targets)
}
