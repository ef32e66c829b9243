//! Repository connections (seed 003): a connection of provider github, gitlab or
//! bitbucket whose external id is the canonical repository URL, its access token and
//! webhook secret the connection's credential, encrypted like every credential.
//!
//! [`upsert`] creates or updates one by its canonical URL within the tenant. The
//! uniqueness is per tenant (the connections' `(tenant, provider, external id)` key),
//! not global: a global key would tell one tenant, by a refusal, that another tenant
//! connected the same repository. [`disconnect`] destroys the token and the secret and
//! deletes the webhook connvault registered (best effort, recorded either way).

pub mod hooks;

use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use url::Url;

use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::models::activity::Action;
use crate::models::connection::{self, ConnectionStatus};
use crate::models::{
    ConnectionId, ProviderSlug, RepositoryHosts, RepositoryUrl, ServiceType, TenantId,
    repository_connection,
};
use crate::repositories::activity::Actor;
use crate::repositories::connections::{self, DetailsPatch, NewConnection};
use crate::repositories::{Page, PageResult, providers, repository_connections};
use crate::services::activity::record;
use crate::services::connections::{self as lifecycle, Removed};
use crate::services::credentials::{self, Credential};
use crate::tenancy::TenantTxn;
use crate::webhooks::generate_secret;

/// What `PUT /v1/tenants/{t}/repositories` asks for.
pub struct RepositoryInput {
    pub repository_url: String,
    pub service_type: Option<ServiceType>,
    pub access_token: SecretString,
    /// The secret the service signs deliveries with; generated when absent (and kept
    /// when the connection already has one).
    pub webhook_secret: Option<SecretString>,
    pub display_name: Option<String>,
    /// Create the webhook at the service with the access token.
    pub register_webhook: bool,
}

/// A repository connection as its owner may see it.
#[derive(Clone, Debug)]
pub struct RepositoryConnection {
    pub conn: connection::Model,
    pub repo: repository_connection::Model,
    pub service: ServiceType,
}

impl RepositoryConnection {
    pub fn is_active(&self) -> bool {
        self.conn.status == ConnectionStatus::Active
    }
}

/// What an upsert did.
pub struct Upserted {
    pub repository: RepositoryConnection,
    pub created: bool,
    /// The webhook secret connvault generated, shown once; `None` when the caller gave
    /// one or the connection kept its own.
    pub generated_secret: Option<SecretString>,
}

/// Where the Git service must send a connection's deliveries.
pub fn webhook_url(public_url: &Url, id: ConnectionId) -> Url {
    let base = public_url.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/webhooks/{}", id.as_uuid())).unwrap_or_else(|_| public_url.clone())
}

/// The Git hosts of the providers as stored (an operator may have added self-hosted
/// ones or pointed an API elsewhere).
pub async fn hosts(db: &DatabaseConnection) -> Result<RepositoryHosts> {
    let all = providers::list_all(db).await?;
    RepositoryHosts::from_metadata(all.iter().map(|p| (p.slug.as_str(), &p.metadata)))
}

/// Creates the tenant's repository connection for the canonical form of
/// `input.repository_url`, or updates the one it has (token, secret, display name;
/// active again). Registers the webhook first when asked: a refusal by the service
/// (502 `webhook_registration_failed`) stores nothing. Records `repository_connected`,
/// and `webhook_registered` / `webhook_removed` for the hooks it created or replaced.
pub async fn upsert(
    db: &DatabaseConnection,
    keyring: &Keyring,
    http: &reqwest::Client,
    public_url: &Url,
    tenant: TenantId,
    actor: &Actor,
    input: RepositoryInput,
) -> Result<Upserted> {
    let retry = RepositoryInput {
        repository_url: input.repository_url.clone(),
        service_type: input.service_type,
        access_token: input.access_token.clone(),
        webhook_secret: input.webhook_secret.clone(),
        display_name: input.display_name.clone(),
        register_webhook: input.register_webhook,
    };
    match upsert_once(db, keyring, http, public_url, tenant, actor, input).await {
        // A concurrent upsert of the same repository created it first: update that one.
        Err(Error::DuplicateConnection { .. }) => {
            upsert_once(db, keyring, http, public_url, tenant, actor, retry).await
        }
        done => done,
    }
}

async fn upsert_once(
    db: &DatabaseConnection,
    keyring: &Keyring,
    http: &reqwest::Client,
    public_url: &Url,
    tenant: TenantId,
    actor: &Actor,
    input: RepositoryInput,
) -> Result<Upserted> {
    let hosts = hosts(db).await?;
    let url = RepositoryUrl::parse(&input.repository_url, input.service_type, &hosts)?;
    if let Some(name) = &input.display_name {
        crate::models::ids::parse_name("display_name", name, connections::DISPLAY_NAME_MAX_LEN)?;
    }
    let provider = ProviderSlug::parse(url.service().as_str())?;
    let external_id = url.external_id();
    let existing = connections::find_by_unique(db, tenant, &provider, &external_id).await?;
    let id = existing
        .as_ref()
        .map(|c| c.connection_id())
        .unwrap_or_else(ConnectionId::new_v4);
    let (secret, generated) = match input.webhook_secret {
        Some(secret) => (secret, false),
        None => match kept_secret(db, keyring, tenant, existing.as_ref()).await? {
            Some(secret) => (secret, false),
            None => (generate_secret(), true),
        },
    };
    let credential = Credential::RepositoryToken {
        access_token: input.access_token.clone(),
        webhook_secret: secret.clone(),
    };
    credential.validate()?;
    let previous = match &existing {
        Some(c) => repository_connections::get(db, tenant, c.connection_id()).await?,
        None => None,
    };
    let registered = if input.register_webhook {
        let api_base = hosts.api_base(&url).ok_or_else(|| {
            Error::invalid("repository_url", "its host has no API in the catalog")
        })?;
        let target = webhook_url(public_url, id);
        Some(hooks::register(http, api_base, &url, &input.access_token, &target, &secret).await?)
    } else {
        None
    };
    // The hook connvault registered before is replaced by the new one.
    let replaced = match (
        &registered,
        previous.as_ref().and_then(|p| p.webhook_id.clone()),
    ) {
        (Some(_), Some(old)) => {
            let api_base = hosts.api_base(&url).cloned();
            let removed = match (
                api_base,
                old_token(db, keyring, tenant, existing.as_ref()).await,
            ) {
                (Some(base), Some(token)) => {
                    hooks::remove(http, &base, &url, &token, &old).await.is_ok()
                }
                _ => false,
            };
            Some((old, removed))
        }
        _ => None,
    };

    let sealed = credentials::seal(keyring, tenant, id, &credential).await?;
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let conn = match &existing {
        Some(_) => {
            let patch = DetailsPatch {
                display_name: input.display_name.clone().map(Some),
                status: Some(ConnectionStatus::Active),
                ..Default::default()
            };
            connections::update_details(&txn, tenant, id, patch)
                .await?
                .1
        }
        None => {
            let mut new = NewConnection::new(provider, external_id);
            new.id = id;
            new.display_name = input.display_name.clone();
            new.status = ConnectionStatus::Active;
            connections::create(&txn, tenant, new).await?
        }
    };
    credentials::write_sealed(&txn, sealed).await?;
    let repo =
        repository_connections::upsert(&txn, tenant, id, registered.clone().map(Some)).await?;
    let details = json!({
        "repository_url": url.as_str(),
        "service_type": url.service(),
        "created": existing.is_none(),
        "webhook_secret_generated": generated,
    });
    record(&txn, actor, &conn, Action::RepositoryConnected, details).await?;
    if let Some((old, removed)) = &replaced {
        let details = json!({ "webhook_id": old, "removed": removed, "replaced": true });
        record(&txn, actor, &conn, Action::WebhookRemoved, details).await?;
    }
    if let Some(webhook_id) = &registered {
        let details = json!({ "webhook_id": webhook_id, "events": hooks::events(url.service()) });
        record(&txn, actor, &conn, Action::WebhookRegistered, details).await?;
    }
    txn.commit().await?;
    Ok(Upserted {
        repository: RepositoryConnection {
            conn,
            repo,
            service: url.service(),
        },
        created: existing.is_none(),
        generated_secret: generated.then_some(secret),
    })
}

/// The webhook secret an existing, still credentialed repository connection keeps
/// when an update names none (the service's hook signs with it).
async fn kept_secret(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    existing: Option<&connection::Model>,
) -> Result<Option<SecretString>> {
    let Some(conn) = existing else {
        return Ok(None);
    };
    match credentials::read(db, keyring, tenant, conn.connection_id()).await? {
        Some(Credential::RepositoryToken { webhook_secret, .. })
            if !webhook_secret.expose_secret().is_empty() =>
        {
            Ok(Some(webhook_secret))
        }
        _ => Ok(None),
    }
}

async fn old_token(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    existing: Option<&connection::Model>,
) -> Option<SecretString> {
    let conn = existing?;
    match credentials::read(db, keyring, tenant, conn.connection_id()).await {
        Ok(Some(Credential::RepositoryToken { access_token, .. })) => Some(access_token),
        _ => None,
    }
}

/// One page of the tenant's repository connections, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    tenant: TenantId,
    page: Page,
) -> Result<PageResult<RepositoryConnection>> {
    let rows = repository_connections::list(db, tenant, page).await?;
    Ok(PageResult {
        items: rows
            .items
            .into_iter()
            .filter_map(|(repo, conn)| {
                let service = ServiceType::from_slug(&conn.provider_slug)?;
                Some(RepositoryConnection {
                    conn,
                    repo,
                    service,
                })
            })
            .collect(),
        next_cursor: rows.next_cursor,
    })
}

/// Disconnects any connection (`services::connections::disconnect`: the credential
/// destroyed, `revoked`). For a repository connection whose webhook connvault knows,
/// the webhook is then deleted at the service with the token read before it was
/// destroyed, best effort; `webhook_removed` records whether that worked.
pub async fn disconnect(
    db: &DatabaseConnection,
    keyring: &Keyring,
    http: &reqwest::Client,
    tenant: TenantId,
    actor: &Actor,
    id: ConnectionId,
) -> Result<Removed> {
    let Some((webhook_id, token)) = registered_hook(db, keyring, tenant, id).await? else {
        return lifecycle::disconnect(db, tenant, actor, id).await;
    };
    let removed = lifecycle::disconnect(db, tenant, actor, id).await?;
    unregister(
        db,
        http,
        tenant,
        actor,
        &removed.conn,
        token,
        webhook_id,
        true,
    )
    .await?;
    Ok(removed)
}

/// Deletes any connection (`services::connections::delete`). A repository connection's
/// registered webhook is deleted at the service as on [`disconnect`], and
/// `webhook_removed` is recorded after the `deleted` entry (the log outlives the row).
pub async fn delete(
    db: &DatabaseConnection,
    keyring: &Keyring,
    http: &reqwest::Client,
    tenant: TenantId,
    actor: &Actor,
    id: ConnectionId,
) -> Result<Removed> {
    let Some((webhook_id, token)) = registered_hook(db, keyring, tenant, id).await? else {
        return lifecycle::delete(db, tenant, actor, id).await;
    };
    let removed = lifecycle::delete(db, tenant, actor, id).await?;
    unregister(
        db,
        http,
        tenant,
        actor,
        &removed.conn,
        token,
        webhook_id,
        false,
    )
    .await?;
    Ok(removed)
}

/// The webhook id connvault registered for the repository connection `id`, with the
/// access token that can delete it (read now, before the credential is destroyed).
async fn registered_hook(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<(String, Option<SecretString>)>> {
    let Some(webhook_id) = repository_connections::get(db, tenant, id)
        .await?
        .and_then(|repo| repo.webhook_id)
    else {
        return Ok(None);
    };
    let token = match credentials::read(db, keyring, tenant, id).await {
        Ok(Some(Credential::RepositoryToken { access_token, .. })) => Some(access_token),
        _ => None,
    };
    Ok(Some((webhook_id, token)))
}

/// Deletes the webhook at the service, best effort, and records `webhook_removed` with
/// the outcome; `row_kept` clears the stored webhook id of a still existing row.
#[allow(clippy::too_many_arguments)]
async fn unregister(
    db: &DatabaseConnection,
    http: &reqwest::Client,
    tenant: TenantId,
    actor: &Actor,
    conn: &connection::Model,
    token: Option<SecretString>,
    webhook_id: String,
    row_kept: bool,
) -> Result<()> {
    let outcome = remove_hook(db, http, conn, token.as_ref(), &webhook_id).await;
    let (ok, reason) = match outcome {
        Ok(()) => (true, None),
        Err(reason) => {
            tracing::warn!(connection = %conn.id, reason, "the webhook was not deleted at the service");
            (false, Some(reason))
        }
    };
    let txn = TenantTxn::begin_write(db, tenant).await?;
    if row_kept {
        repository_connections::set_webhook_id(&txn, tenant, conn.connection_id(), None).await?;
    }
    let details = json!({ "webhook_id": webhook_id, "removed": ok, "reason_code": reason });
    record(&txn, actor, conn, Action::WebhookRemoved, details).await?;
    txn.commit().await?;
    Ok(())
}

async fn remove_hook(
    db: &DatabaseConnection,
    http: &reqwest::Client,
    conn: &connection::Model,
    token: Option<&SecretString>,
    webhook_id: &str,
) -> std::result::Result<(), &'static str> {
    let token = token.ok_or("no_access_token")?;
    let hosts = hosts(db).await.map_err(|_| "catalog_unreadable")?;
    let url = RepositoryUrl::parse(
        &conn.external_id,
        ServiceType::from_slug(&conn.provider_slug),
        &hosts,
    )
    .map_err(|_| "repository_url_unknown")?;
    let base = hosts.api_base(&url).ok_or("no_api_base")?;
    hooks::remove(http, base, &url, token, webhook_id)
        .await
        .map_err(|_| "provider_refused")
}
