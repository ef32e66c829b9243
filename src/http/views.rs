//! Response bodies. None of them holds a secret or a ciphertext except
//! [`CredentialSecretView`], the body of the credential read.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use uuid::Uuid;

use crate::models::activity::{self, Action};
use crate::models::api_key::{self, Role};
use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::json::{AuthMode, HealthCheck};
use crate::models::provider::ManagedBy;
use crate::models::{provider, tenant};
use crate::services::credentials::{CredentialKind, CredentialRead, CredentialSummary};

/// One page of a list. `next_cursor` is absent on the last page; pass it as `cursor`
/// to get the next one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The body of a page of rows, each shown as `T`.
    pub fn from_result<R: Into<T>>(page: crate::repositories::PageResult<R>) -> Self {
        Self {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<tenant::Model> for TenantView {
    fn from(t: tenant::Model) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub role: Role,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKeyView {
    fn from(k: api_key::Model) -> Self {
        Self {
            id: k.id,
            tenant_id: k.tenant_id,
            role: k.role,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The one response that carries an API key's secret: its creation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKeyView {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// Shown once; only its hash is stored.
    pub secret: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub slug: String,
    pub display_name: String,
    pub auth_modes: Vec<AuthMode>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub default_scopes: Vec<String>,
    pub health_check: Option<HealthCheck>,
    pub docs_url: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// `operator` once set through this API: seeding the built-in catalog then leaves
    /// it as it is; `catalog` while the built-in catalog keeps it up to date.
    pub managed_by: ManagedBy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<provider::Model> for ProviderView {
    fn from(p: provider::Model) -> Self {
        Self {
            slug: p.slug,
            display_name: p.display_name,
            auth_modes: p.auth_modes.0,
            authorization_url: p.authorization_url,
            token_url: p.token_url,
            default_scopes: p.default_scopes.0,
            health_check: p.health_check,
            docs_url: p.docs_url,
            metadata: p.metadata,
            managed_by: p.managed_by,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    pub kind: CredentialKind,
    /// Per field: `****` and at most the last four characters.
    pub masks: BTreeMap<String, String>,
    pub updated_at: DateTime<Utc>,
}

impl From<CredentialSummary> for CredentialView {
    fn from(s: CredentialSummary) -> Self {
        Self {
            kind: s.kind,
            masks: s.masks,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LastErrorView {
    pub reason_code: String,
    pub message: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub provider: String,
    pub external_id: String,
    pub display_name: Option<String>,
    pub status: ConnectionStatus,
    pub health_status: HealthStatus,
    pub is_default: bool,
    pub scopes_granted: Vec<String>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub last_health_check_at: Option<DateTime<Utc>>,
    pub last_error: Option<LastErrorView>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub credential: Option<CredentialView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConnectionView {
    pub fn new(c: connection::Model, credential: Option<CredentialSummary>) -> Self {
        Self {
            id: c.id,
            tenant_id: c.tenant_id,
            provider: c.provider_slug,
            external_id: c.external_id,
            display_name: c.display_name,
            status: c.status,
            health_status: c.health_status,
            is_default: c.is_default,
            scopes_granted: c.scopes_granted.0,
            token_expires_at: c.token_expires_at,
            last_health_check_at: c.last_health_check_at,
            last_error: c.last_error_reason_code.map(|reason_code| LastErrorView {
                reason_code,
                message: c.last_error_message,
            }),
            metadata: c.metadata,
            credential: credential.map(Into::into),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A response that carries a secret (a credential, a new API key, a connect link):
/// `Cache-Control: no-store`, so that no cache on the way keeps it.
pub struct NoStore<T>(pub T);

impl<T: IntoResponse> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The decrypted credential: the only response body that holds secrets.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialSecretView {
    pub connection_id: Uuid,
    pub kind: CredentialKind,
    pub fields: BTreeMap<&'static str, String>,
    pub token_expires_at: Option<DateTime<Utc>>,
}

impl CredentialSecretView {
    pub fn new(connection_id: Uuid, read: &CredentialRead) -> Self {
        Self {
            connection_id,
            kind: read.credential.kind(),
            fields: read
                .credential
                .fields()
                .into_iter()
                .map(|(name, secret)| (name, secret.expose_secret().to_owned()))
                .collect(),
            token_expires_at: read.token_expires_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub connection_id: Option<Uuid>,
    pub provider: Option<String>,
    pub action: Action,
    pub actor_key_id: Option<Uuid>,
    pub actor_name: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<activity::Model> for ActivityView {
    fn from(a: activity::Model) -> Self {
        Self {
            id: a.id,
            tenant_id: a.tenant_id,
            connection_id: a.connection_id,
            provider: a.provider_slug,
            action: a.action,
            actor_key_id: a.actor_key_id,
            actor_name: a.actor_name,
            details: a.details,
            created_at: a.created_at,
        }
    }
}

/// One catalog provider as this tenant sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    pub provider: String,
    pub display_name: String,
    pub auth_modes: Vec<AuthMode>,
    pub docs_url: Option<String>,
    pub connected: bool,
    pub connection_count: usize,
    pub default_connection: Option<ConnectionView>,
}

/// RFC 9457 problem details, as every error is answered (`application/problem+json`).
/// The `detail` names what is wrong, never the value that failed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:connvault:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code: `malformed_json`, `invalid_id`, `invalid_query`,
    /// `invalid_cursor`, `unknown_field`, `validation_failed`, `invalid_slug`,
    /// `unknown_provider`, `not_found`, `duplicate_connection`, `payload_too_large`,
    /// `unsupported_media_type`, `method_not_allowed`, `unauthenticated`, `forbidden`,
    /// `oauth_app_missing`, `invalid_state`, `connection_needs_reauth`,
    /// `connection_unusable`, `connection_not_testable`, `provider_unavailable`,
    /// `credential_unreadable`, `internal_error`.
    pub code: String,
    /// The offending field, for validation errors.
    #[schema(required = false)]
    pub field: Option<String>,
    /// Why a connection cannot be used (`refresh_token_revoked`, …), with
    /// `connection_needs_reauth`, `connection_unusable` and `provider_unavailable`; why
    /// it cannot be tested, with `connection_not_testable`.
    #[schema(required = false)]
    pub reason_code: Option<String>,
    /// `duplicate_connection`: the caller's existing connection with that provider and
    /// external id.
    pub existing_connection_id: Option<Uuid>,
}

/// A catalog entry, as `PUT /v1/providers/{slug}` takes it. OAuth 2.0 modes need
/// `token_url`, and `oauth2_authorization_code` needs `authorization_url`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderUpsertBody {
    /// The path's slug, if given.
    #[schema(value_type = Option<super::schemas::Slug>, required = false)]
    pub slug: Option<String>,
    #[schema(value_type = super::schemas::Name)]
    pub display_name: String,
    /// At least one, each once, most preferred first.
    #[schema(min_items = 1)]
    pub auth_modes: Vec<AuthMode>,
    #[schema(value_type = Option<super::schemas::HttpsUrl>, required = false)]
    pub authorization_url: Option<String>,
    #[schema(value_type = Option<super::schemas::HttpsUrl>, required = false)]
    pub token_url: Option<String>,
    #[schema(value_type = Vec<super::schemas::Scope>, required = false)]
    pub default_scopes: Vec<String>,
    #[schema(required = false)]
    pub health_check: Option<HealthCheck>,
    #[schema(value_type = Option<super::schemas::HttpsUrl>, required = false)]
    pub docs_url: Option<String>,
    /// Free-form; OAuth providers read `issuer`, `identity` and
    /// `refresh_margin_seconds` from it.
    #[schema(value_type = Object, required = false)]
    pub metadata: serde_json::Value,
}
