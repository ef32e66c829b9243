//! The token endpoint client: authorization-code exchange (with the PKCE verifier),
//! refresh, and client credentials, with the provider's answer sorted into what the
//! caller must do about it: use the tokens, re-authorize ([`TokenError::Revoked`]),
//! retry later ([`TokenError::Transient`]), or fix configuration
//! ([`TokenError::Rejected`]). Secrets travel only in request bodies and headers and
//! never appear in an error.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::profile::ClientAuth;

/// Error codes that mean the grant is gone and only a new consent helps: RFC 6749's
/// `invalid_grant`, and the names some providers use for it.
const REVOKED_CODES: [&str; 5] = [
    "invalid_grant",
    "invalid_refresh_token",
    "token_revoked",
    "token_expired",
    "bad_refresh_token",
];

/// Longest response body read from a provider.
const MAX_BODY: usize = 256 * 1024;

/// An OAuth client's id and secret.
pub struct ClientSecret<'a> {
    pub id: &'a str,
    pub secret: &'a SecretString,
}

/// What to ask the token endpoint for.
pub enum Grant<'a> {
    AuthorizationCode {
        code: &'a str,
        redirect_uri: &'a str,
        verifier: &'a SecretString,
    },
    RefreshToken {
        refresh_token: &'a SecretString,
    },
    ClientCredentials {
        scope: Option<&'a str>,
    },
}

impl Grant<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken { .. } => "refresh_token",
            Grant::ClientCredentials { .. } => "client_credentials",
        }
    }
}

/// A successful token response. Secrets are `SecretString`s; `fields` holds the rest of
/// the response with every token taken out.
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
    pub fields: serde_json::Value,
}

impl TokenSet {
    /// When the access token expires, from `expires_in` counted from `now` (a negative
    /// lifetime counts as none left; one past the latest storable instant ends there).
    pub fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = crate::models::checks::latest_instant();
        self.expires_in.map(|s| {
            chrono::TimeDelta::try_seconds(Ord::max(s, 0))
                .and_then(|lifetime| now.checked_add_signed(lifetime))
                .map_or(latest, |at| Ord::min(at, latest))
        })
    }
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why a token request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The grant (refresh token, code) is invalid, expired or revoked: re-authorize.
    Revoked { code: String, message: String },
    /// The provider is unavailable or throttling (5xx, 429, timeout, connection
    /// failure): try again later.
    Transient {
        reason_code: &'static str,
        retry_after: Option<Duration>,
        message: String,
    },
    /// Any other refusal (`invalid_client`, `unauthorized_client`, …) or an answer that
    /// is not a token response: configuration needs fixing.
    Rejected { code: String, message: String },
}

impl TokenError {
    pub fn reason_code(&self) -> &str {
        match self {
            TokenError::Revoked { .. } => "refresh_token_revoked",
            TokenError::Transient { reason_code, .. } => reason_code,
            TokenError::Rejected { .. } => "token_request_rejected",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            TokenError::Revoked { message, .. }
            | TokenError::Transient { message, .. }
            | TokenError::Rejected { message, .. } => message,
        }
    }

    /// The provider's error code, when it gave one.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            TokenError::Revoked { code, .. } | TokenError::Rejected { code, .. } => Some(code),
            TokenError::Transient { .. } => None,
        }
    }
}

/// Talks to token and identity endpoints.
#[derive(Clone)]
pub struct TokenClient {
    http: reqwest::Client,
}

impl TokenClient {
    /// A client whose every request gives up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client's TLS backend initializes");
        Self { http }
    }

    /// One token request, no retry.
    pub async fn request(
        &self,
        url: &Url,
        client: &ClientSecret<'_>,
        auth: ClientAuth,
        grant: &Grant<'_>,
    ) -> Result<TokenSet, TokenError> {
        let mut form: Vec<(&str, &str)> = vec![("grant_type", grant.name())];
        match grant {
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                verifier,
            } => {
                form.push(("code", code));
                form.push(("redirect_uri", redirect_uri));
                form.push(("code_verifier", verifier.expose_secret()));
            }
            Grant::RefreshToken { refresh_token } => {
                form.push(("refresh_token", refresh_token.expose_secret()));
            }
            Grant::ClientCredentials { scope } => {
                if let Some(scope) = scope.filter(|s| !s.is_empty()) {
                    form.push(("scope", scope));
                }
            }
        }
        let mut request = self
            .http
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, "connvault");
        match auth {
            ClientAuth::ClientSecretBasic => {
                let encode = |s: &str| -> String {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
                };
                let pair = format!(
                    "{}:{}",
                    encode(client.id),
                    encode(client.secret.expose_secret())
                );
                let mut value = reqwest::header::HeaderValue::try_from(format!(
                    "Basic {}",
                    STANDARD.encode(pair)
                ))
                .map_err(|_| TokenError::Rejected {
                    code: "invalid_client".into(),
                    message: "the client id or secret cannot be sent in a header".into(),
                })?;
                value.set_sensitive(true);
                request = request.header(AUTHORIZATION, value);
                form.push(("client_id", client.id));
            }
            ClientAuth::ClientSecretPost => {
                form.push(("client_id", client.id));
                form.push(("client_secret", client.secret.expose_secret()));
            }
        }
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = read_limited(response).await?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        classify(status, retry_after, json)
    }

    /// `GET url` with the access token, and the string (or number) at `id_field` of the
    /// JSON answer.
    pub async fn identity(
        &self,
        url: &Url,
        access_token: &SecretString,
        id_field: &str,
    ) -> Result<String, TokenError> {
        let mut auth = reqwest::header::HeaderValue::try_from(format!(
            "Bearer {}",
            access_token.expose_secret()
        ))
        .map_err(|_| TokenError::Rejected {
            code: "invalid_token".into(),
            message: "the access token cannot be sent in a header".into(),
        })?;
        auth.set_sensitive(true);
        let response = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, "connvault")
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let bytes = read_limited(response).await?;
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(TokenError::Transient {
                reason_code: "provider_unavailable",
                retry_after: None,
                message: format!("the identity endpoint answered {status}"),
            });
        }
        if !status.is_success() {
            return Err(TokenError::Rejected {
                code: "identity_failed".into(),
                message: format!("the identity endpoint answered {status}"),
            });
        }
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| TokenError::Rejected {
                code: "identity_failed".into(),
                message: "the identity endpoint did not answer JSON".into(),
            })?;
        lookup_id(&json, id_field).ok_or_else(|| TokenError::Rejected {
            code: "identity_failed".into(),
            message: format!("the identity endpoint's answer has no {id_field:?}"),
        })
    }
}

fn transport_error(err: reqwest::Error) -> TokenError {
    let reason_code = if err.is_timeout() {
        "provider_timeout"
    } else {
        "provider_unavailable"
    };
    // reqwest's message names the URL; ours carry no query strings or secrets.
    TokenError::Transient {
        reason_code,
        retry_after: None,
        message: format!(
            "the token endpoint could not be reached: {}",
            err.without_url()
        ),
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, TokenError> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(TokenError::Rejected {
                code: "invalid_response".into(),
                message: "the provider's answer is too large".into(),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A value at a dotted path, as a string (numbers are written out).
pub fn lookup_id(json: &serde_json::Value, path: &str) -> Option<String> {
    let mut at = json;
    for part in path.split('.') {
        at = at.get(part)?;
    }
    match at {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn short(s: &str) -> String {
    crate::sanitize::message(s, 300)
}

fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    json: Option<serde_json::Value>,
) -> Result<TokenSet, TokenError> {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(TokenError::Transient {
            reason_code: if status == StatusCode::TOO_MANY_REQUESTS {
                "provider_rate_limited"
            } else {
                "provider_unavailable"
            },
            retry_after,
            message: format!("the token endpoint answered {status}"),
        });
    }
    let Some(serde_json::Value::Object(mut map)) = json else {
        return Err(TokenError::Rejected {
            code: "invalid_response".into(),
            message: format!("the token endpoint answered {status} without a JSON object"),
        });
    };
    // Some providers answer errors with 200 (GitHub's `error`, Slack's `ok: false`).
    let error = map.get("error").and_then(|e| e.as_str()).map(str::to_owned);
    let refused = map.get("ok") == Some(&serde_json::Value::Bool(false));
    if !status.is_success() || error.is_some() || refused {
        let code = error.unwrap_or_else(|| "invalid_request".to_owned());
        let description = map
            .get("error_description")
            .and_then(|d| d.as_str())
            .map(short)
            .unwrap_or_default();
        let message = if description.is_empty() {
            format!("the token endpoint refused the grant: {}", short(&code))
        } else {
            format!(
                "the token endpoint refused the grant: {}: {description}",
                short(&code)
            )
        };
        return Err(if REVOKED_CODES.contains(&code.as_str()) {
            TokenError::Revoked { code, message }
        } else if code == "temporarily_unavailable" {
            TokenError::Transient {
                reason_code: "provider_unavailable",
                retry_after,
                message,
            }
        } else {
            TokenError::Rejected { code, message }
        });
    }
    let mut take_secret = |name: &str| -> Option<SecretString> {
        match map.remove(name) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(SecretString::from(s)),
            _ => None,
        }
    };
    let access_token = take_secret("access_token");
    let refresh_token = take_secret("refresh_token");
    let id_token = take_secret("id_token");
    // Slack keeps a user token under `authed_user`; it is a secret as well.
    if let Some(serde_json::Value::Object(user)) = map.get_mut("authed_user") {
        user.remove("access_token");
        user.remove("refresh_token");
    }
    let Some(access_token) = access_token else {
        return Err(TokenError::Rejected {
            code: "invalid_response".into(),
            message: "the token response has no access_token".into(),
        });
    };
    let expires_in = match map.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let scope = map.get("scope").and_then(|s| s.as_str()).map(str::to_owned);
    Ok(TokenSet {
        access_token,
        refresh_token,
        id_token,
        expires_in,
        scope,
        fields: serde_json::Value::Object(map),
    })
}

/// The claims of an ID token received straight from the token endpoint over TLS
/// (OpenID Connect Core §3.1.3.7 lets a confidential client rely on that instead of the
/// signature), after checking its audience, issuer and expiry.
pub fn id_token_claims(
    id_token: &SecretString,
    client_id: &str,
    issuer: Option<&str>,
) -> Result<serde_json::Value, String> {
    let payload = id_token
        .expose_secret()
        .split('.')
        .nth(1)
        .ok_or("the ID token is not a JWT")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the ID token's payload is not base64url")?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| "the ID token's payload is not JSON")?;
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => a == client_id,
        Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err("the ID token was issued to another client".into());
    }
    if let Some(issuer) = issuer
        && claims.get("iss").and_then(|i| i.as_str()) != Some(issuer)
    {
        return Err("the ID token comes from another issuer".into());
    }
    let now = chrono::Utc::now().timestamp();
    match claims.get("exp").and_then(|e| e.as_i64()) {
        Some(exp) if exp + 60 >= now => Ok(claims),
        _ => Err("the ID token has expired".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetime(expires_in: Option<i64>) -> TokenSet {
        TokenSet {
            access_token: SecretString::from("a"),
            refresh_token: None,
            id_token: None,
            expires_in,
            scope: None,
            fields: serde_json::Value::Null,
        }
    }

    #[test]
    fn an_expiry_is_counted_from_now_and_bounded_to_storable_instants() {
        let now = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let latest = crate::models::checks::latest_instant();
        assert_eq!(lifetime(None).expires_at(now), None);
        assert_eq!(
            lifetime(Some(3600)).expires_at(now),
            Some(now + chrono::TimeDelta::hours(1))
        );
        assert_eq!(lifetime(Some(-5)).expires_at(now), Some(now));
        for huge in [i64::MAX, 400_000_000_000, 300_000_000_000_000] {
            assert_eq!(lifetime(Some(huge)).expires_at(now), Some(latest), "{huge}");
        }
    }
}
