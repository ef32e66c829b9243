//! The provider's redirect back to connvault: check the state, consume it, exchange
//! the code, find the external account, and store the connection with its tokens and
//! `connected` in one transaction.

use secrecy::SecretString;
use serde_json::json;
use url::Url;
use uuid::Uuid;

use super::{
    CallbackParams, STATE_PREFIX, back_to_app, failed, get_session, parse_bearer, profile_and_app,
    redirect_uri, same_hash, verifier_binding,
};
use crate::crypto::Keyring;
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
use crate::tenancy::TenantTxn;
use chrono::Utc;
use sea_orm::DatabaseConnection;

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
