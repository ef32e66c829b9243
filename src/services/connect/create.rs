//! Creating a connect session: one provider, or several for the connect page's
//! picker, each checked (known, connectable through a form or an authorization code
//! flow with an OAuth app that allows the return URL) before anything is written.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{DEFAULT_TTL, MAX_TTL, TOKEN_PREFIX, bearer, form, profile_and_app};
use crate::error::{Error, Result};
use crate::models::connect_session;
use crate::models::{ProviderSlug, TenantId};
use crate::oauth;
use crate::repositories::activity::Actor;
use crate::repositories::connect_sessions;
use crate::repositories::{self, oauth_apps};

/// What an admin asks for: one provider, or several for the end user to pick among.
pub struct NewSession {
    pub provider: Option<ProviderSlug>,
    /// Providers the connect page offers in a picker (1 to [`MAX_ALLOWED`], no
    /// repeats); instead of `provider`.
    pub allowed_providers: Option<Vec<ProviderSlug>>,
    pub return_url: String,
    pub scopes: Option<Vec<String>>,
    pub end_user_label: Option<String>,
    pub ttl: Option<Duration>,
}

/// Most providers one connect link may offer.
pub const MAX_ALLOWED: usize = 20;

/// A new session: its link token is shown once.
pub struct CreatedSession {
    pub session: connect_session::Model,
    pub token: SecretString,
}

/// The providers of a new session, checked: `(first, Some(all))` for a picker.
fn chosen(input: &NewSession) -> Result<(ProviderSlug, Option<Vec<ProviderSlug>>)> {
    match (&input.provider, &input.allowed_providers) {
        (Some(one), None) => Ok((one.clone(), None)),
        (None, Some(list)) => {
            if list.is_empty() || list.len() > MAX_ALLOWED {
                return Err(Error::invalid(
                    "allowed_providers",
                    format!("must name 1 to {MAX_ALLOWED} providers"),
                ));
            }
            for (i, slug) in list.iter().enumerate() {
                if list[..i].contains(slug) {
                    return Err(Error::invalid(
                        "allowed_providers",
                        format!("names {slug} more than once"),
                    ));
                }
            }
            if list.len() > 1 && input.scopes.is_some() {
                return Err(Error::invalid(
                    "scopes",
                    "cannot be given with several allowed_providers: each provider asks for its default scopes",
                ));
            }
            let picker = (list.len() > 1).then(|| list.clone());
            Ok((list[0].clone(), picker))
        }
        (Some(_), Some(_)) => Err(Error::invalid(
            "allowed_providers",
            "give either provider or allowed_providers, not both",
        )),
        (None, None) => Err(Error::invalid(
            "provider",
            "is required (or allowed_providers, for a picker)",
        )),
    }
}

/// Checks that connect links may offer `provider` with `return_url`; its default
/// scopes (none for a form provider).
async fn connectable(
    db: &DatabaseConnection,
    provider: &ProviderSlug,
    return_url: &str,
) -> Result<Vec<String>> {
    if form::takes_form(db, provider).await? {
        // A form provider has no OAuth app to list return URLs: any https URL (or a
        // loopback one) of the admin's choosing.
        return Ok(Vec::new());
    }
    let (profile, app) = profile_and_app(db, provider).await?;
    if !app.allowed_return_urls.0.iter().any(|u| u == return_url) {
        return Err(Error::invalid(
            "return_url",
            format!("is not one of the {provider} OAuth app's allowed return URLs"),
        ));
    }
    Ok(profile.default_scopes.clone())
}

/// Creates a connect session. Fails, writing nothing, when a provider is unknown
/// (`UnknownProvider`), has neither a form nor an authorization code flow with an
/// OAuth app, or the return URL is not one of its app's.
pub async fn create_session(
    db: &DatabaseConnection,
    tenant: TenantId,
    actor: &Actor,
    input: NewSession,
) -> Result<CreatedSession> {
    let ttl = input.ttl.unwrap_or(DEFAULT_TTL);
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(Error::invalid(
            "expires_in_seconds",
            format!("must be between 1 and {}", MAX_TTL.as_secs()),
        ));
    }
    let (provider, picker) = chosen(&input)?;
    let return_url = oauth_apps::check_return_url("return_url", &input.return_url)?;
    let end_user_label = input
        .end_user_label
        .as_deref()
        .map(|label| crate::models::ids::parse_name("end_user_label", label, 200))
        .transpose()?;
    let scopes = match &picker {
        Some(list) => {
            for slug in list {
                connectable(db, slug, &return_url).await?;
            }
            Vec::new()
        }
        None => {
            let defaults = connectable(db, &provider, &return_url).await?;
            input.scopes.clone().unwrap_or(defaults)
        }
    };
    if scopes.len() > 100 {
        return Err(Error::invalid("scopes", "must be at most 100 scopes"));
    }
    crate::models::checks::check_scopes("scopes", &scopes)?;
    let id = Uuid::new_v4();
    let token = SecretString::from(bearer(TOKEN_PREFIX, tenant, id));
    let expires_at =
        repositories::now() + chrono::TimeDelta::from_std(ttl).expect("at most 30 minutes");
    let session = connect_sessions::insert(
        db,
        tenant,
        connect_sessions::NewSession {
            id,
            provider: provider.as_str().to_owned(),
            allowed_providers: picker
                .map(|list| list.iter().map(|p| p.as_str().to_owned()).collect()),
            token_hash: oauth::hash(token.expose_secret()),
            return_url,
            scopes,
            end_user_label,
            actor_key_id: actor.key_id,
            actor_name: actor.name.clone(),
            expires_at,
        },
    )
    .await?;
    Ok(CreatedSession { session, token })
}
