//! Event endpoints of a tenant or of the deployment: the URL rules, the event-type
//! filter, a new `whsec_` secret shown once and stored encrypted, rotation with an
//! overlap during which both secrets sign.

use chrono::Utc;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::EventOptions;
use super::resolve::allowed_addrs;
use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::events::EventType;
use crate::events::url::check_syntax;
use crate::models::event_endpoint;
use crate::repositories::events::endpoints::{
    self as repo, NewEndpoint, PREVIOUS_FIELD, Patch, SECRET_FIELD, Sealed, binding,
};
use crate::repositories::events::{Owner, deliveries};
use crate::repositories::{Page, PageResult};
use crate::webhooks::generate_secret;

/// The most event types one endpoint may filter on.
pub const MAX_EVENT_TYPES: usize = 32;

/// What a caller gives to register an endpoint.
#[derive(Clone, Debug, Default)]
pub struct EndpointInput {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
}

/// A change to an endpoint; `None` keeps a field.
#[derive(Clone, Debug, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Checks a URL against the rules: syntax and scheme, then (when private addresses
/// are forbidden) every address its host resolves to. The reason is the 422's.
pub async fn check_url(raw: &str, options: &EventOptions) -> Result<String> {
    let url = check_syntax(raw, options.url_policy).map_err(|why| Error::invalid("url", why))?;
    if !options.url_policy.allow_private
        && let Some(url::Host::Domain(host)) = url.host()
    {
        let port = url.port_or_known_default().unwrap_or(443);
        allowed_addrs(host, port, options.url_policy)
            .await
            .map_err(|why| Error::invalid("url", why))?;
    }
    Ok(url.to_string())
}

fn check_types(types: Vec<String>) -> Result<Vec<String>> {
    if types.len() > MAX_EVENT_TYPES {
        return Err(Error::invalid(
            "event_types",
            format!("at most {MAX_EVENT_TYPES}"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        if EventType::parse(&t).is_none() {
            return Err(Error::invalid(
                "event_types",
                "an unknown event type; see the list of event types",
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn check_description(d: Option<String>) -> Result<Option<String>> {
    match d {
        Some(d) if d.chars().count() > 500 || d.chars().any(char::is_control) => {
            Err(Error::invalid(
                "description",
                "at most 500 characters, no control characters",
            ))
        }
        d => Ok(d),
    }
}

async fn seal(
    keyring: &Keyring,
    owner: Owner,
    id: Uuid,
    field: &'static str,
    secret: &SecretString,
) -> Result<Sealed> {
    let (key_id, ciphertext) = keyring
        .encrypt(
            binding(owner.tenant_uuid(), id, field),
            secret.expose_secret().as_bytes(),
        )
        .await?;
    Ok(Sealed { key_id, ciphertext })
}

/// Registers an endpoint; returns it and its signing secret (shown this once).
pub async fn create(
    db: &DatabaseConnection,
    keyring: &Keyring,
    options: &EventOptions,
    owner: Owner,
    input: EndpointInput,
) -> Result<(event_endpoint::Model, SecretString)> {
    let url = check_url(&input.url, options).await?;
    let event_types = check_types(input.event_types)?;
    let description = check_description(input.description)?;
    let id = Uuid::new_v4();
    let secret = generate_secret();
    let sealed = seal(keyring, owner, id, SECRET_FIELD, &secret).await?;
    let new = NewEndpoint {
        id,
        url,
        description,
        event_types,
        enabled: input.enabled,
        secret: sealed,
    };
    let row = repo::insert(db, owner, new)
        .await
        .map_err(|err| match (&err, owner) {
            (Error::Database(db), Owner::Tenant(t))
                if crate::error::is_foreign_key_violation(db) =>
            {
                Error::UnknownTenant(t.as_uuid())
            }
            _ => err,
        })?;
    Ok((row, secret))
}

pub async fn get(db: &DatabaseConnection, owner: Owner, id: Uuid) -> Result<event_endpoint::Model> {
    repo::get(db, owner, id)
        .await?
        .ok_or(Error::NotFound("event endpoint"))
}

pub async fn list(
    db: &DatabaseConnection,
    owner: Owner,
    page: Page,
) -> Result<PageResult<event_endpoint::Model>> {
    repo::list(db, owner, page).await
}

/// Changes an endpoint; a new URL meets the rules first. Enabling one again clears its
/// failure streak.
pub async fn update(
    db: &DatabaseConnection,
    options: &EventOptions,
    owner: Owner,
    id: Uuid,
    change: EndpointChange,
) -> Result<event_endpoint::Model> {
    let url = match change.url {
        Some(u) => Some(check_url(&u, options).await?),
        None => None,
    };
    let patch = Patch {
        url,
        description: match change.description {
            Some(d) => Some(check_description(d)?),
            None => None,
        },
        event_types: change.event_types.map(check_types).transpose()?,
        enabled: change.enabled,
    };
    repo::update(db, owner, id, patch)
        .await?
        .ok_or(Error::NotFound("event endpoint"))
}

pub async fn delete(db: &DatabaseConnection, owner: Owner, id: Uuid) -> Result<()> {
    if repo::delete(db, owner, id).await? {
        Ok(())
    } else {
        Err(Error::NotFound("event endpoint"))
    }
}

/// Replaces the signing secret; the old one keeps signing beside it for the overlap.
/// Returns the endpoint and the new secret (shown this once).
pub async fn rotate(
    db: &DatabaseConnection,
    keyring: &Keyring,
    options: &EventOptions,
    owner: Owner,
    id: Uuid,
) -> Result<(event_endpoint::Model, SecretString)> {
    // A concurrent rotation wins the compare-and-swap; this one then starts over.
    for _ in 0..3 {
        let row = get(db, owner, id).await?;
        let current = secret_of(keyring, &row, SECRET_FIELD, &row.secret_ciphertext).await?;
        let previous = seal(keyring, owner, id, PREVIOUS_FIELD, &current).await?;
        let secret = generate_secret();
        let sealed = seal(keyring, owner, id, SECRET_FIELD, &secret).await?;
        let until = Utc::now()
            + chrono::Duration::from_std(options.secret_overlap)
                .unwrap_or(chrono::Duration::days(1));
        if let Some(row) = repo::rotate(
            db,
            owner,
            id,
            &row.secret_ciphertext,
            sealed,
            previous,
            until,
        )
        .await?
        {
            return Ok((row, secret));
        }
    }
    Err(Error::NotFound("event endpoint"))
}

async fn secret_of(
    keyring: &Keyring,
    row: &event_endpoint::Model,
    field: &'static str,
    ciphertext: &[u8],
) -> Result<SecretString> {
    let plain = keyring
        .decrypt(binding(row.tenant_id, row.id, field), ciphertext)
        .await?;
    let text = std::str::from_utf8(&plain).map_err(|_| Error::MalformedCiphertext)?;
    Ok(SecretString::from(text.to_owned()))
}

/// The secrets that sign a delivery to `row` now: the current one, and the previous
/// one while its overlap lasts.
pub async fn signing_secrets(
    keyring: &Keyring,
    row: &event_endpoint::Model,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<SecretString>> {
    let mut out = vec![secret_of(keyring, row, SECRET_FIELD, &row.secret_ciphertext).await?];
    if let (Some(c), Some(until)) = (&row.previous_ciphertext, row.previous_expires_at)
        && until > now
    {
        out.push(secret_of(keyring, row, PREVIOUS_FIELD, c).await?);
    }
    Ok(out)
}

/// An endpoint's deliveries, newest first, each with its attempts.
pub async fn deliveries(
    db: &DatabaseConnection,
    owner: Owner,
    endpoint: Uuid,
    page: Page,
) -> Result<PageResult<deliveries::WithAttempts>> {
    get(db, owner, endpoint).await?;
    deliveries::list(db, owner, endpoint, page).await
}

/// Makes one delivery due again now (the worker sends it on its next pass).
pub async fn retry(
    db: &DatabaseConnection,
    owner: Owner,
    endpoint: Uuid,
    delivery: Uuid,
) -> Result<crate::models::event_delivery::Model> {
    deliveries::retry(db, owner, endpoint, delivery, crate::repositories::now())
        .await?
        .ok_or(Error::NotFound("delivery"))
}
