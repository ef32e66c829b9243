//! The connect page's side of a connect link: what the page shows for a session
//! ([`open`]: the provider, or the picker of a link that offers several), and the form
//! of API-key, basic-auth and client-credentials providers ([`submit`]): the
//! credential is tested with the provider's health check before anything is stored; a
//! rejected or unreachable one stores nothing and leaves the link usable, a working one
//! becomes an active connection with its `connected` entry and spends the link, all in
//! one transaction.

use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde_json::json;
use url::Url;
use uuid::Uuid;

use super::{TOKEN_PREFIX, back_to_app, get_session, parse_bearer, same_hash};
use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::models::activity::Action;
use crate::models::connect_session::{self, SessionStatus};
use crate::models::connection::ConnectionStatus;
use crate::models::json::AuthMode;
use crate::models::provider;
use crate::models::{ConnectionId, ExternalId, ProviderSlug, TenantId};
use crate::repositories::activity::Actor;
use crate::repositories::connect_sessions::{self, Transition};
use crate::repositories::connections::{self as conn_repo, NewConnection};
use crate::repositories::providers;
use crate::services::activity;
use crate::services::credentials::{self, Credential};
use crate::services::health::HealthChecker;
use crate::tenancy::TenantTxn;

/// The form a provider's page shows, from its most preferred auth mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormKind {
    /// "Continue to {provider}": the authorization code flow.
    OAuth,
    ApiKey,
    Basic,
    /// A client id and secret (OAuth 2.0 client credentials): a token is obtained with
    /// them before the health check.
    ClientCredentials,
}

impl FormKind {
    pub fn of(provider: &provider::Model) -> Option<Self> {
        provider.auth_modes.0.iter().find_map(|mode| match mode {
            AuthMode::Oauth2AuthorizationCode => Some(FormKind::OAuth),
            AuthMode::ApiKey => Some(FormKind::ApiKey),
            AuthMode::Basic => Some(FormKind::Basic),
            AuthMode::Oauth2ClientCredentials | AuthMode::ClientSecret => {
                Some(FormKind::ClientCredentials)
            }
            _ => None,
        })
    }

    /// Whether the page shows a credential form (rather than OAuth).
    pub fn is_form(self) -> bool {
        self != FormKind::OAuth
    }
}

/// Whether connect links of `provider` show a credential form rather than OAuth.
pub async fn takes_form(db: &DatabaseConnection, provider: &ProviderSlug) -> Result<bool> {
    let model = providers::get_by_slug(db, provider)
        .await?
        .ok_or_else(|| Error::UnknownProvider(provider.to_string()))?;
    Ok(FormKind::of(&model).is_some_and(FormKind::is_form))
}

/// A connect link as its page shows it.
pub struct Link {
    pub session: connect_session::Model,
    /// The provider chosen (the first offered while the picker shows).
    pub provider: provider::Model,
    pub form: Option<FormKind>,
    /// The providers the link offers, each with its form, in the admin's order.
    pub choices: Vec<(provider::Model, Option<FormKind>)>,
    /// Whether the page shows the picker (several providers, none chosen yet).
    pub picking: bool,
    /// `None` while the link can be used; otherwise why not, as an error code.
    pub closed: Option<&'static str>,
}

impl Link {
    /// The host of the app the user goes back to.
    pub fn return_host(&self) -> String {
        Url::parse(&self.session.return_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Back to the app with `outcome`.
    pub fn back(&self, outcome: &[(&str, &str)]) -> Url {
        back_to_app(&self.session, outcome)
    }
}

/// The session a link token names, with the provider `choice` names (one the link
/// offers; `None`: its only one, or the picker). `NotFound` for a token that names no
/// session, `Invalid` for a provider the link does not offer. Writes nothing: opening
/// the page does not spend the link.
pub async fn open(db: &DatabaseConnection, token: &str, choice: Option<&str>) -> Result<Link> {
    let (tenant, id) = parse_bearer(TOKEN_PREFIX, token).ok_or(Error::NotFound("connect link"))?;
    let session = get_session(db, tenant, id)
        .await?
        .filter(|s| same_hash(Some(&s.token_hash), token))
        .ok_or(Error::NotFound("connect link"))?;
    let picking = session.has_picker() && choice.is_none();
    let slug = if picking {
        ProviderSlug::parse(&session.provider_slug)?
    } else {
        super::pick(&session, choice)?
    };
    let mut choices = Vec::new();
    for offered in session.providers() {
        let offered = ProviderSlug::parse(&offered)?;
        let model = providers::get_by_slug(db, &offered)
            .await?
            .ok_or_else(|| Error::UnknownProvider(offered.to_string()))?;
        choices.push((FormKind::of(&model), model));
    }
    let provider = choices
        .iter()
        .find(|(_, m)| m.slug == slug.as_str())
        .map(|(_, m)| m.clone())
        .ok_or_else(|| Error::UnknownProvider(slug.to_string()))?;
    let closed = if session.status != SessionStatus::Created {
        Some("connect_link_used")
    } else if session.expires_at <= Utc::now() {
        Some("session_expired")
    } else {
        None
    };
    Ok(Link {
        form: FormKind::of(&provider),
        choices: choices.into_iter().map(|(k, m)| (m, k)).collect(),
        picking,
        session,
        provider,
        closed,
    })
}

/// What became of a submitted credential.
pub enum Submitted {
    /// Stored: back to the app with the new connection.
    Connected { connection_id: Uuid, back: Url },
    /// The provider refused it; nothing stored.
    Rejected { message: String },
    /// The provider could not be reached or answered oddly; nothing stored, try again.
    Unreachable { message: String },
    /// The link was used or expired meanwhile.
    Closed { code: &'static str },
}

/// Tests `credential` against the link's provider and, if it works (or the provider
/// has no health check), stores it as a new active connection and spends the link.
pub async fn submit(
    db: &DatabaseConnection,
    keyring: &Keyring,
    health: &HealthChecker,
    link: &Link,
    credential: &Credential,
) -> Result<Submitted> {
    if let Some(code) = link.closed {
        return Ok(Submitted::Closed { code });
    }
    if link.picking || !link.form.is_some_and(FormKind::is_form) {
        return Err(Error::invalid(
            "provider",
            "this provider is not connected with a form",
        ));
    }
    credential.validate()?;
    let slug = ProviderSlug::parse(&link.provider.slug)?;
    match health.test_credential(&slug, credential).await {
        Ok(verdict) if verdict.is_healthy() => {}
        Ok(verdict) if verdict.rejected() => {
            return Ok(Submitted::Rejected {
                message: verdict
                    .message
                    .unwrap_or_else(|| "the provider refused this credential".into()),
            });
        }
        Ok(verdict) => {
            return Ok(Submitted::Unreachable {
                message: verdict
                    .message
                    .unwrap_or_else(|| "the provider did not answer as expected".into()),
            });
        }
        Err(Error::ConnectionNotTestable("no_health_check")) => {}
        Err(err) => return Err(err),
    }
    let tenant = TenantId::from_uuid(link.session.tenant_id);
    let id = ConnectionId::new_v4();
    let sealed = credentials::seal(keyring, tenant, id, credential).await?;
    let external = ExternalId::parse(&format!("connect-{}", link.session.id))?;
    let mut input = NewConnection::new(slug.clone(), external);
    input.id = id;
    input.status = ConnectionStatus::Active;
    input.display_name = link.session.end_user_label.clone();
    input.check()?;
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let claim = Transition::Claim {
        provider: slug.as_str().to_owned(),
    };
    if !connect_sessions::transition(&txn, tenant, link.session.id, claim).await? {
        return Ok(Submitted::Closed {
            code: "connect_link_used",
        });
    }
    let conn = conn_repo::create(&txn, tenant, input).await?;
    let summary = credentials::write_sealed(&txn, sealed).await?;
    let actor = Actor {
        key_id: link.session.actor_key_id,
        name: link
            .session
            .actor_name
            .clone()
            .unwrap_or_else(|| "connect link".to_owned()),
    };
    let details = json!({
        "via": "connect_form",
        "connect_session_id": link.session.id,
        "credential_kind": summary.kind,
        "end_user_label": link.session.end_user_label,
        "is_default": conn.is_default,
    });
    activity::record(&txn, &actor, &conn, Action::Connected, details).await?;
    let complete = Transition::Complete {
        connection_id: id.as_uuid(),
    };
    if !connect_sessions::transition(&txn, tenant, link.session.id, complete).await? {
        return Ok(Submitted::Closed {
            code: "connect_link_used",
        });
    }
    txn.commit().await?;
    let connection_id = id.as_uuid();
    Ok(Submitted::Connected {
        connection_id,
        back: link.back(&[
            ("connection_id", &connection_id.to_string()),
            ("status", "connected"),
        ]),
    })
}
