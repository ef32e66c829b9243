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
use serde_json::json;
use url::Url;
use uuid::Uuid;

use crate::crypto::{Binding, Keyring};
use crate::error::{Error, Result};
use crate::models::activity::Action;
use crate::models::connect_session::{self, SessionStatus};
use crate::models::connection::ConnectionStatus;
use crate::models::{ConnectionId, ExternalId, ProviderSlug, TenantId};
use crate::oauth::{self, ClientSecret, Grant, Identity, OAuthProfile, TokenClient, TokenSet};
use crate::repositories::activity::Actor;
use crate::repositories::connect_sessions::{self, Transition};
use crate::repositories::connections::{self as conn_repo, NewConnection};
use crate::repositories::refresh_leases::{self, Renewal};
use crate::repositories::{self, oauth_apps};
use crate::services::activity;
use crate::services::credentials::{self, Credential};
use crate::tenancy::{TenantScope, TenantTxn};

/// Longest a connect session may live.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 60);
/// How long a connect session lives unless asked otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

const TOKEN_PREFIX: &str = "cvc_";
const STATE_PREFIX: &str = "cvs_";
const VERIFIER_FIELD: &str = "code_verifier";

/// What an admin asks for.
pub struct NewSession {
    pub provider: ProviderSlug,
    pub return_url: String,
    pub scopes: Option<Vec<String>>,
    pub end_user_label: Option<String>,
    pub ttl: Option<Duration>,
}

/// A new session: its link token is shown once.
pub struct CreatedSession {
    pub session: connect_session::Model,
    pub token: SecretString,
}

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
fn parse_bearer(prefix: &str, value: &str) -> Option<(TenantId, Uuid)> {
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

fn same_hash(stored: Option<&[u8]>, value: &str) -> bool {
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

/// Creates a connect session. Fails, writing nothing, when the provider has no
/// authorization code flow or OAuth app, or the return URL is not one of the app's.
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
    let return_url = oauth_apps::check_return_url("return_url", &input.return_url)?;
    let end_user_label = input
        .end_user_label
        .as_deref()
        .map(|label| crate::models::ids::parse_name("end_user_label", label, 200))
        .transpose()?;
    let (profile, app) = profile_and_app(db, &input.provider).await?;
    if !app.allowed_return_urls.0.contains(&return_url) {
        return Err(Error::invalid(
            "return_url",
            "is not one of the OAuth app's allowed return URLs",
        ));
    }
    let scopes = input
        .scopes
        .unwrap_or_else(|| profile.default_scopes.clone());
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
            provider: input.provider.as_str().to_owned(),
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

fn back_to_app(session: &connect_session::Model, outcome: &[(&str, &str)]) -> Url {
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

/// Opens a connect link: sends the end user to the provider, or back to the app with
/// an error when the link was used or has expired. `NotFound` for a token that names
/// no session.
pub async fn start(
    db: &DatabaseConnection,
    keyring: &Keyring,
    public_url: &Url,
    token: &str,
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
    let provider = ProviderSlug::parse(&session.provider_slug)?;
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
        if !session.scopes.0.is_empty() {
            query.append_pair("scope", &profile.join_scopes(&session.scopes.0));
        }
        for (k, v) in &profile.authorization_params {
            query.append_pair(k, v);
        }
    }
    Ok(url)
}

/// Provider error codes passed back to the app as they are; others become
/// `authorization_failed`.
const PASSED_ERRORS: [&str; 6] = [
    "access_denied",
    "invalid_scope",
    "consent_required",
    "login_required",
    "interaction_required",
    "temporarily_unavailable",
];

/// Handles the provider's redirect. `Err(InvalidState)` when the state names no
/// session of this deployment (there is no trustworthy place to send the user).
pub async fn callback(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tokens: &TokenClient,
    public_url: &Url,
    provider: &str,
    params: CallbackParams,
) -> Result<Url> {
    let invalid_state = || Error::InvalidState;
    let state = params.state.as_deref().ok_or_else(invalid_state)?;
    let (tenant, id) = parse_bearer(STATE_PREFIX, state).ok_or_else(invalid_state)?;
    let session = get_session(db, tenant, id)
        .await?
        .filter(|s| same_hash(s.state_hash.as_deref(), state))
        .ok_or_else(invalid_state)?;
    if session.status != SessionStatus::Started {
        return Ok(back_to_app(&session, &[("error", "state_replayed")]));
    }
    if session.provider_slug != provider {
        return failed(db, &session, SessionStatus::Started, "provider_mismatch").await;
    }
    if session.expires_at <= Utc::now() {
        return failed(db, &session, SessionStatus::Started, "session_expired").await;
    }
    let slug = ProviderSlug::parse(provider)?;
    let (profile, app) = match profile_and_app(db, &slug).await {
        Ok(found) => found,
        Err(Error::OAuthAppMissing(_)) => {
            return failed(db, &session, SessionStatus::Started, "oauth_app_missing").await;
        }
        Err(err) => return Err(err),
    };
    if let Some(issuer) = &profile.issuer
        && params.iss.as_deref() != Some(issuer.as_str())
    {
        return failed(db, &session, SessionStatus::Started, "issuer_mismatch").await;
    }
    if let Some(error) = params.error.as_deref() {
        let code = PASSED_ERRORS
            .iter()
            .find(|e| **e == error)
            .copied()
            .unwrap_or("authorization_failed");
        return failed(db, &session, SessionStatus::Started, code).await;
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return failed(db, &session, SessionStatus::Started, "missing_code").await;
    };
    let Some(ciphertext) = session.verifier_ciphertext.as_deref() else {
        return failed(db, &session, SessionStatus::Started, "session_invalid").await;
    };
    let verifier = {
        let plain = keyring
            .decrypt(verifier_binding(tenant, id), ciphertext)
            .await?;
        SecretString::from(
            String::from_utf8(plain.to_vec()).map_err(|_| Error::MalformedCiphertext)?,
        )
    };
    // Consume the state before the exchange: a replay finds it gone.
    if !connect_sessions::transition(db, tenant, id, Transition::Consume).await? {
        return Ok(back_to_app(&session, &[("error", "state_replayed")]));
    }

    let secret = oauth_apps::client_secret(keyring, &app).await?;
    let redirect = redirect_uri(public_url, provider);
    let token_url = profile.token_url_for(None)?;
    let exchanged = tokens
        .request(
            &token_url,
            &ClientSecret {
                id: &app.client_id,
                secret: &secret,
            },
            profile.client_auth,
            &Grant::AuthorizationCode {
                code,
                redirect_uri: &redirect,
                verifier: &verifier,
            },
        )
        .await;
    let set = match exchanged {
        Ok(set) => set,
        Err(err) => {
            tracing::warn!(session = %id, reason = err.message(), "code exchange failed");
            return failed(
                db,
                &session,
                SessionStatus::Exchanging,
                "token_exchange_failed",
            )
            .await;
        }
    };
    let external = match external_id(tokens, &profile, &app.client_id, &set).await {
        Ok(external) => external,
        Err(reason) => {
            tracing::warn!(session = %id, reason, "external account not found");
            return failed(db, &session, SessionStatus::Exchanging, "identity_failed").await;
        }
    };
    match complete(db, keyring, &profile, &session, &external, set).await {
        Ok(connection) => Ok(back_to_app(
            &session,
            &[
                ("connection_id", &connection.to_string()),
                ("status", "connected"),
            ],
        )),
        Err(err) => {
            tracing::error!(session = %id, error = %err, "storing the new connection failed");
            failed(db, &session, SessionStatus::Exchanging, "connection_failed").await
        }
    }
}

async fn external_id(
    tokens: &TokenClient,
    profile: &OAuthProfile,
    client_id: &str,
    set: &TokenSet,
) -> std::result::Result<ExternalId, String> {
    let claims = || -> std::result::Result<serde_json::Value, String> {
        let id_token = set
            .id_token
            .as_ref()
            .ok_or("the token response has no ID token")?;
        oauth::client::id_token_claims(id_token, client_id, profile.issuer.as_deref())
    };
    let raw = match &profile.identity {
        Some(Identity::IdTokenClaim(claim)) => oauth::client::lookup_id(&claims()?, claim)
            .ok_or_else(|| format!("the ID token has no {claim:?} claim"))?,
        Some(Identity::TokenResponseField(path)) => oauth::client::lookup_id(&set.fields, path)
            .ok_or_else(|| format!("the token response has no {path:?}"))?,
        Some(Identity::Endpoint { url, id_field }) => tokens
            .identity(url, &set.access_token, id_field)
            .await
            .map_err(|e| e.message().to_owned())?,
        None => oauth::client::lookup_id(&claims()?, "sub")
            .ok_or("the ID token has no \"sub\" claim")?,
    };
    ExternalId::parse(&raw).map_err(|e| e.to_string())
}

/// Upserts the connection with its tokens, records `connected` and completes the
/// session, in one transaction. Returns the connection id.
async fn complete(
    db: &DatabaseConnection,
    keyring: &Keyring,
    profile: &OAuthProfile,
    session: &connect_session::Model,
    external: &ExternalId,
    set: TokenSet,
) -> Result<Uuid> {
    let tenant = TenantId::from_uuid(session.tenant_id);
    let provider = ProviderSlug::parse(&session.provider_slug)?;
    let existing = conn_repo::find_by_unique(db, tenant, &provider, external).await?;
    let id = existing
        .as_ref()
        .map(|c| c.connection_id())
        .unwrap_or_else(ConnectionId::new_v4);
    let now = repositories::now();
    let expires_at = set.expires_at(now);
    let scopes = match &set.scope {
        Some(scope) => profile.split_scopes(scope),
        None => session.scopes.0.clone(),
    };
    let credential = Credential::Oauth2 {
        access_token: set.access_token,
        refresh_token: set.refresh_token,
    };
    let sealed = credentials::seal(keyring, tenant, id, &credential).await?;
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let (conn, reconnected) =
        match conn_repo::find_by_unique(&txn, tenant, &provider, external).await? {
            Some(row) if row.id == id.as_uuid() => {
                let renewal = Renewal {
                    at: now,
                    expires_at,
                    scopes: Some(scopes),
                    reactivate: true,
                };
                refresh_leases::renewed(&txn, tenant, id, renewal).await?;
                (row, true)
            }
            Some(row) => {
                return Err(Error::DuplicateConnection {
                    provider: provider.to_string(),
                    external_id: external.to_string(),
                    existing: Some(row.connection_id()),
                });
            }
            None => {
                let mut input = NewConnection::new(provider.clone(), external.clone());
                input.id = id;
                input.status = ConnectionStatus::Active;
                input.scopes_granted = scopes;
                input.token_expires_at = expires_at;
                input.display_name = session.end_user_label.clone();
                (conn_repo::create(&txn, tenant, input).await?, false)
            }
        };
    credentials::write_sealed(&txn, sealed).await?;
    let actor = Actor {
        key_id: session.actor_key_id,
        name: session
            .actor_name
            .clone()
            .unwrap_or_else(|| "connect link".to_owned()),
    };
    let details = json!({
        "via": "oauth2_authorization_code",
        "connect_session_id": session.id,
        "reconnected": reconnected,
        "end_user_label": session.end_user_label,
    });
    activity::record(&txn, &actor, &conn, Action::Connected, details).await?;
    let complete = Transition::Complete {
        connection_id: id.as_uuid(),
    };
    if !connect_sessions::transition(&txn, tenant, session.id, complete).await? {
        return Err(Error::invalid(
            "state",
            "the connect session changed meanwhile",
        ));
    }
    txn.commit().await?;
    Ok(id.as_uuid())
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
