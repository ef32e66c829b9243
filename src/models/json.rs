//! Typed values stored in JSON columns.

use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};

/// A JSON array of strings (scopes, for instance).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

/// How a provider authenticates a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// OAuth 2.0 authorization code grant (with PKCE), on behalf of a user.
    Oauth2AuthorizationCode,
    /// OAuth 2.0 client credentials grant: app-only access.
    Oauth2ClientCredentials,
    /// A static API key or token.
    ApiKey,
    /// HTTP basic authentication.
    Basic,
    /// A client id and client secret used directly.
    ClientSecret,
    /// A repository access token plus a webhook secret.
    RepositoryToken,
}

impl AuthMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthMode::Oauth2AuthorizationCode => "oauth2_authorization_code",
            AuthMode::Oauth2ClientCredentials => "oauth2_client_credentials",
            AuthMode::ApiKey => "api_key",
            AuthMode::Basic => "basic",
            AuthMode::ClientSecret => "client_secret",
            AuthMode::RepositoryToken => "repository_token",
        }
    }

    pub fn is_oauth2(&self) -> bool {
        matches!(
            self,
            AuthMode::Oauth2AuthorizationCode | AuthMode::Oauth2ClientCredentials
        )
    }
}

/// The auth modes a provider supports, most preferred first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct AuthModes(pub Vec<AuthMode>);

/// The request that tells whether a connection's credential still works
/// (for example `GET https://api.github.com/user`).
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// GET, HEAD or POST.
    #[schema(pattern = "^(GET|HEAD|POST)$", example = "GET")]
    pub method: String,
    /// An https:// URL (http:// only on the loopback interface).
    #[schema(
        pattern = r"^(https://|http://(localhost|127\.0\.0\.1|\[::1\])([:/?]|$))",
        example = "https://api.github.com/user"
    )]
    pub url: String,
    /// The status that means healthy; any 2xx when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 599)]
    pub expect_status: Option<u16>,
    /// A JSON body sent with a POST check (a GraphQL query, for instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Value>,
    /// For providers that answer errors with 200: the top-level JSON boolean that is
    /// `true` on success (Slack's `ok`). A 2xx answer without it set is not healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64, example = "ok")]
    pub ok_field: Option<String>,
    /// Where such an answer names its error (Slack's `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64, example = "error")]
    pub error_field: Option<String>,
    /// Error names in `error_field` that mean the credential is rejected (Slack's
    /// `invalid_auth`, `token_revoked`, …); other errors leave it `degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 32)]
    pub rejected_errors: Vec<String>,
}
