//! How connvault speaks OAuth 2.0 to one provider, read from its catalog entry: the
//! endpoints, scopes, client authentication, how to find the external account, and
//! the refresh margin. Unknown or malformed metadata fails with a message naming the
//! field, so a bad catalog entry shows up at the first flow instead of as odd tokens.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::error::{Error, Result};
use crate::models::json::AuthMode;
use crate::models::provider;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Where the external account id comes from after a code exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A claim of the ID token returned by the token endpoint (`sub`, Entra's `tid`).
    IdTokenClaim(String),
    /// A dotted path into the token response (Slack's `team.id`).
    TokenResponseField(String),
    /// A field of the JSON an identity endpoint returns for the new access token
    /// (GitHub's `GET /user` → `id`).
    Endpoint { url: Url, id_field: String },
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    scope_separator: Option<String>,
    #[serde(default)]
    authorization_params: BTreeMap<String, String>,
    #[serde(default)]
    identity: Option<IdentitySpec>,
    #[serde(default)]
    token_url_template: Option<String>,
    #[serde(default)]
    client_credentials_scope: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<ClientAuth>,
    #[serde(default)]
    refresh_margin_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitySpec {
    #[serde(default)]
    id_token_claim: Option<String>,
    #[serde(default)]
    token_response_field: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    id_field: Option<String>,
}

/// The OAuth side of one provider.
#[derive(Clone, Debug)]
pub struct OAuthProfile {
    pub slug: String,
    pub authorization_url: Option<Url>,
    token_url: Url,
    token_url_template: Option<String>,
    pub default_scopes: Vec<String>,
    pub scope_separator: String,
    pub authorization_params: BTreeMap<String, String>,
    pub identity: Option<Identity>,
    pub client_credentials_scope: Option<String>,
    /// The authorization server's issuer: the `iss` of authorization responses
    /// (RFC 9207) and of ID tokens must equal it when it is set.
    pub issuer: Option<String>,
    pub client_auth: ClientAuth,
    /// Per-provider override of how long before expiry a token is renewed.
    pub refresh_margin: Option<Duration>,
    pub supports_authorization_code: bool,
    pub supports_client_credentials: bool,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::invalid("provider.metadata", reason)
}

impl OAuthProfile {
    /// The profile of `provider`; an error when it has no OAuth mode or its metadata
    /// is malformed.
    pub fn from_provider(provider: &provider::Model) -> Result<Self> {
        let modes = &provider.auth_modes.0;
        let supports_authorization_code = modes.contains(&AuthMode::Oauth2AuthorizationCode);
        let supports_client_credentials = modes.contains(&AuthMode::Oauth2ClientCredentials);
        if !supports_authorization_code && !supports_client_credentials {
            return Err(Error::invalid(
                "provider",
                format!("{} does not use OAuth 2.0", provider.slug),
            ));
        }
        let meta: Metadata = serde_json::from_value(provider.metadata.clone())
            .map_err(|e| bad(format!("{}: {e}", provider.slug)))?;
        let parse = |field: &str, value: &str| {
            Url::parse(value).map_err(|e| bad(format!("{field} is not a URL: {e}")))
        };
        let token_url = parse(
            "token_url",
            provider
                .token_url
                .as_deref()
                .ok_or_else(|| Error::invalid("provider.token_url", "is missing"))?,
        )?;
        let authorization_url = provider
            .authorization_url
            .as_deref()
            .map(|u| parse("authorization_url", u))
            .transpose()?;
        let identity = match meta.identity {
            None => None,
            Some(spec) => Some(match spec {
                IdentitySpec {
                    id_token_claim: Some(claim),
                    token_response_field: None,
                    url: None,
                    id_field: None,
                } => Identity::IdTokenClaim(claim),
                IdentitySpec {
                    id_token_claim: None,
                    token_response_field: Some(path),
                    url: None,
                    id_field: None,
                } => Identity::TokenResponseField(path),
                IdentitySpec {
                    id_token_claim: None,
                    token_response_field: None,
                    url: Some(url),
                    id_field: Some(id_field),
                } => Identity::Endpoint {
                    url: parse("identity.url", &url)?,
                    id_field,
                },
                _ => {
                    return Err(bad(
                        "identity needs exactly one of id_token_claim, token_response_field, or url with id_field",
                    ));
                }
            }),
        };
        if let Some(template) = &meta.token_url_template
            && !template.contains("{tenant}")
        {
            return Err(bad("token_url_template must contain {tenant}"));
        }
        Ok(Self {
            slug: provider.slug.clone(),
            authorization_url,
            token_url,
            token_url_template: meta.token_url_template,
            default_scopes: provider.default_scopes.0.clone(),
            scope_separator: meta.scope_separator.unwrap_or_else(|| " ".to_owned()),
            authorization_params: meta.authorization_params,
            identity,
            client_credentials_scope: meta.client_credentials_scope,
            issuer: meta.issuer,
            client_auth: meta
                .token_endpoint_auth_method
                .unwrap_or(ClientAuth::ClientSecretBasic),
            refresh_margin: meta.refresh_margin_seconds.map(Duration::from_secs),
            supports_authorization_code,
            supports_client_credentials,
        })
    }

    /// The token endpoint for a connection: the template filled with the connection's
    /// external id (an Entra tenant, say) when the provider has one, else `token_url`.
    pub fn token_url_for(&self, external_id: Option<&str>) -> Result<Url> {
        match (&self.token_url_template, external_id) {
            (Some(template), Some(external)) => {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(external.as_bytes()).collect();
                Url::parse(&template.replace("{tenant}", &encoded))
                    .map_err(|e| bad(format!("token_url_template gives no URL: {e}")))
            }
            _ => Ok(self.token_url.clone()),
        }
    }

    /// Scopes joined the way the provider expects.
    pub fn join_scopes(&self, scopes: &[String]) -> String {
        scopes.join(&self.scope_separator)
    }

    /// Scopes as the provider returned them, split on its separator (and on spaces and
    /// control characters, which no scope holds); one longer than a stored scope may
    /// be is dropped.
    pub fn split_scopes(&self, scope: &str) -> Vec<String> {
        scope
            .split(|c: char| {
                c.is_whitespace() || c.is_control() || self.scope_separator.contains(c)
            })
            .filter(|s| !s.is_empty() && s.len() <= crate::models::checks::SCOPE_MAX_LEN)
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::json::{AuthModes, StringList};

    fn profile(metadata: serde_json::Value) -> OAuthProfile {
        let now = chrono::Utc::now();
        OAuthProfile::from_provider(&provider::Model {
            slug: "acme".into(),
            display_name: "Acme".into(),
            auth_modes: AuthModes(vec![AuthMode::Oauth2AuthorizationCode]),
            authorization_url: Some("https://acme.example/authorize".into()),
            token_url: Some("https://acme.example/token".into()),
            default_scopes: StringList(vec![]),
            health_check: None,
            docs_url: None,
            metadata,
            managed_by: provider::ManagedBy::Catalog,
            created_at: now,
            updated_at: now,
        })
        .expect("profile")
    }

    #[test]
    fn granted_scopes_split_into_storable_scopes() {
        let spaced = profile(serde_json::json!({}));
        assert_eq!(
            spaced.split_scopes(" repo  read:org\tgist "),
            ["repo", "read:org", "gist"]
        );
        assert_eq!(spaced.split_scopes("a\u{0}b\u{1b}c"), ["a", "b", "c"]);
        let long = "x".repeat(513);
        assert_eq!(spaced.split_scopes(&format!("repo {long}")), ["repo"]);
        let commas = profile(serde_json::json!({"scope_separator": ","}));
        assert_eq!(commas.split_scopes("a,b c"), ["a", "b", "c"]);
        assert!(
            crate::models::checks::check_scopes("scopes", &spaced.split_scopes("\u{85}x\u{7f}"))
                .is_ok()
        );
    }
}
