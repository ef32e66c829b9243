//! Connecting a provider through a connect link: the OAuth 2.0 authorization code flow
//! with PKCE (S256).
//!
//! 1. An admin creates a connect session ([`create_session`]): provider, an allowed
//!    return URL, optional scopes and end-user label. The answer carries a single-use
//!    link token (stored only as a hash) and expires within 30 minutes.
//! 2. The end user opens the link ([`start`]): the session moves `created` → `started`
//!    by compare-and-swap, gets a fresh `state` (stored as a hash) and PKCE verifier
//!    (stored encrypted, bound to the session), and the user is sent to the provider.
//! 3. The provider redirects to `/oauth/callback/{provider}` ([`callback`]): the state
//!    must be this provider's started session's, unexpired, and is consumed
//!    (`started` → `exchanging`) before the code is exchanged; when the provider
//!    declares an issuer, the response's `iss` (RFC 9207) must match it. The external
//!    account is found, the connection upserted with its encrypted tokens and
//!    `connected` recorded in one transaction, and the user sent back to the app.
//!    Denied consent, a bad or replayed state or a failed exchange send the user back
//!    with an `error` and persist no connection, credential or activity.
//!
//! Link tokens and states carry their tenant and session id (not secret) before the
//! random part, so every lookup runs scoped to its tenant under row-level security.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use uuid::Uuid;

use crate::crypto::{Binding, Keyring};
use crate::error::{Error, Result};
use crate::models::connect_session::{self, SessionStatus};
use crate::models::{ProviderSlug, TenantId};
use crate::oauth::{self, OAuthProfile};
use crate::repositories::connect_sessions::{self, Transition};
use crate::repositories::{self, oauth_apps};
use crate::tenancy::TenantScope;

/// Longest a connect session may live.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 60);
/// How long a connect session lives unless asked otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

pub(crate) const TOKEN_PREFIX: &str = "cvc_";
const STATE_PREFIX: &str = "cvs_";
const VERIFIER_FIELD: &str = "code_verifier";

mod callback;
mod create;
pub mod form;

pub use callback::callback;
pub use create::{CreatedSession, MAX_ALLOWED, NewSession, create_session};

/// The query of the provider's redirect to the callback. No `Debug`: the code is a
/// bearer secret until it is exchanged.
#[derive(Clone, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// The redirect URI registered with the provider for this deployment.
pub fn redirect_uri(public_url: &Url, provider: &str) -> String {
    format!(
        "{}/oauth/callback/{provider}",
        public_url.as_str().trim_end_matches('/')
    )
}

/// The connect link of a session token.
pub fn connect_url(public_url: &Url, token: &SecretString) -> String {
    format!(
        "{}/connect/{}",
        public_url.as_str().trim_end_matches('/'),
        token.expose_secret()
    )
}

fn bearer(prefix: &str, tenant: TenantId, session: Uuid) -> String {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(tenant.as_uuid().as_bytes());
    bytes.extend_from_slice(session.as_bytes());
    format!(
        "{prefix}{}{}",
        URL_SAFE_NO_PAD.encode(&bytes),
        oauth::random_token(32)
    )
}

/// The tenant and session a link token or state names; `None` when malformed.
pub(crate) fn parse_bearer(prefix: &str, value: &str) -> Option<(TenantId, Uuid)> {
    let rest = value.strip_prefix(prefix)?;
    // 32 bytes of ids are 43 base64url characters; the random part follows.
    if rest.len() != 43 + 43 || !rest.is_ascii() {
        return None;
    }
    let ids = URL_SAFE_NO_PAD.decode(&rest[..43]).ok()?;
    let tenant = Uuid::from_slice(&ids[..16]).ok()?;
    let session = Uuid::from_slice(&ids[16..32]).ok()?;
    Some((TenantId::from_uuid(tenant), session))
}

pub(crate) fn same_hash(stored: Option<&[u8]>, value: &str) -> bool {
    let Some(stored) = stored else { return false };
    let given = oauth::hash(value);
    stored.len() == given.len()
        && stored
            .iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn verifier_binding(tenant: TenantId, session: Uuid) -> Binding<'static> {
    Binding {
        tenant: tenant.as_uuid(),
        row: session,
        field: VERIFIER_FIELD,
    }
}

async fn profile_and_app(
    db: &DatabaseConnection,
    provider: &ProviderSlug,
) -> Result<(OAuthProfile, crate::models::oauth_app::Model)> {
    let model = repositories::providers::get_by_slug(db, provider)
        .await?
        .ok_or_else(|| Error::UnknownProvider(provider.to_string()))?;
    let profile = OAuthProfile::from_provider(&model)?;
    if !profile.supports_authorization_code || profile.authorization_url.is_none() {
        return Err(Error::invalid(
            "provider",
            format!("{provider} does not support the authorization code flow"),
        ));
    }
    let app = oauth_apps::get(db, provider.as_str())
        .await?
        .ok_or_else(|| Error::OAuthAppMissing(provider.to_string()))?;
    Ok((profile, app))
}

/// Fails every connect session, of every tenant, that expired before it completed,
/// and erases its PKCE verifier. Returns how many. One of `serve`'s periodic jobs.
pub async fn expire_sessions(db: &DatabaseConnection) -> Result<u64> {
    connect_sessions::expire(db).await
}

/// The tenant's connect session, or `None`.
pub async fn get_session<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<connect_session::Model>> {
    connect_sessions::get(db, tenant, id).await
}

pub(crate) fn back_to_app(session: &connect_session::Model, outcome: &[(&str, &str)]) -> Url {
    let mut url = Url::parse(&session.return_url).expect("stored return URLs are valid");
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("connect_session_id", &session.id.to_string());
        for (k, v) in outcome {
            query.append_pair(k, v);
        }
    }
    url
}

async fn failed(
    db: &DatabaseConnection,
    session: &connect_session::Model,
    from: SessionStatus,
    code: &str,
) -> Result<Url> {
    let fail = Transition::Fail {
        from,
        code: code.to_owned(),
    };
    connect_sessions::transition(db, TenantId::from_uuid(session.tenant_id), session.id, fail)
        .await?;
    tracing::info!(session = %session.id, error = code, "connect flow failed");
    Ok(back_to_app(session, &[("error", code)]))
}

/// The provider the end user connects through `session`: `choice` must be one the
/// link offers (and is needed when it offers several).
pub fn pick(session: &connect_session::Model, choice: Option<&str>) -> Result<ProviderSlug> {
    let slug = match choice {
        Some(c) if session.providers().iter().any(|p| p == c) => c,
        None if !session.has_picker() => session.provider_slug.as_str(),
        Some(_) => {
            return Err(Error::invalid(
                "provider",
                "is not one of the providers this connect link offers",
            ));
        }
        None => return Err(Error::invalid("provider", "pick a provider first")),
    };
    ProviderSlug::parse(slug)
}

/// Opens a connect link for `choice` (see [`pick`]): sends the end user to the
/// provider, or back to the app with an error when the link was used or has expired.
/// `NotFound` for a token that names no session.
pub async fn start(
    db: &DatabaseConnection,
    keyring: &Keyring,
    public_url: &Url,
    token: &str,
    choice: Option<&str>,
) -> Result<Url> {
    let (tenant, id) = parse_bearer(TOKEN_PREFIX, token).ok_or(Error::NotFound("connect link"))?;
    let session = get_session(db, tenant, id)
        .await?
        .filter(|s| same_hash(Some(&s.token_hash), token))
        .ok_or(Error::NotFound("connect link"))?;
    if session.status != SessionStatus::Created {
        return Ok(back_to_app(&session, &[("error", "connect_link_used")]));
    }
    if session.expires_at <= Utc::now() {
        return failed(db, &session, SessionStatus::Created, "session_expired").await;
    }
    let provider = pick(&session, choice)?;
    let (profile, app) = match profile_and_app(db, &provider).await {
        Ok(found) => found,
        Err(Error::OAuthAppMissing(_)) => {
            return failed(db, &session, SessionStatus::Created, "oauth_app_missing").await;
        }
        Err(err) => return Err(err),
    };
    let state = bearer(STATE_PREFIX, tenant, id);
    let verifier = oauth::pkce_verifier();
    // Encrypted before the write: the keyring counts encryptions on its own pool.
    let (key_id, ciphertext) = keyring
        .encrypt(
            verifier_binding(tenant, id),
            verifier.expose_secret().as_bytes(),
        )
        .await?;
    let start = Transition::Start {
        provider: provider.as_str().to_owned(),
        state_hash: oauth::hash(&state),
        verifier_key_id: key_id,
        verifier_ciphertext: ciphertext,
    };
    if !connect_sessions::transition(db, tenant, id, start).await? {
        return Ok(back_to_app(&session, &[("error", "connect_link_used")]));
    }
    let mut url = profile
        .authorization_url
        .clone()
        .expect("checked by profile_and_app");
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &app.client_id)
            .append_pair("redirect_uri", &redirect_uri(public_url, &profile.slug))
            .append_pair("state", &state)
            .append_pair("code_challenge", &oauth::pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        // A picker's link asks each provider for its default scopes.
        let scopes = if session.has_picker() {
            &profile.default_scopes
        } else {
            &session.scopes.0
        };
        if !scopes.is_empty() {
            query.append_pair("scope", &profile.join_scopes(scopes));
        }
        for (k, v) in &profile.authorization_params {
            query.append_pair(k, v);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_token_names_its_tenant_and_session() {
        let tenant = TenantId::new_v4();
        let session = Uuid::new_v4();
        let token = bearer(TOKEN_PREFIX, tenant, session);
        assert!(token.starts_with("cvc_"));
        assert_eq!(parse_bearer(TOKEN_PREFIX, &token), Some((tenant, session)));
        // Another prefix, a cut or padded token, and non-ASCII are malformed.
        assert_eq!(parse_bearer(STATE_PREFIX, &token), None);
        assert_eq!(parse_bearer(TOKEN_PREFIX, &token[..token.len() - 1]), None);
        assert_eq!(parse_bearer(TOKEN_PREFIX, &format!("{token}x")), None);
        let mut odd = token.clone();
        odd.replace_range(10..11, "é");
        assert_eq!(parse_bearer(TOKEN_PREFIX, &odd), None);
    }

    #[test]
    fn hashes_compare_only_when_equal() {
        let stored = oauth::hash("cvs_value");
        assert!(same_hash(Some(&stored), "cvs_value"));
        assert!(!same_hash(Some(&stored), "cvs_other"));
        assert!(!same_hash(None, "cvs_value"));
        assert!(!same_hash(Some(&stored[..10]), "cvs_value"));
    }
}
