//! How a connection's credential goes on a health check's request, as its kind and its
//! provider need: OAuth and repository tokens as `Authorization: Bearer`, basic auth as
//! `Authorization: Basic`, and an API key as the provider's catalog metadata says
//! (`api_key_auth` = `bearer` (the default), `header` with `api_key_header`, or `basic`
//! with the key as the user name). Header values are marked sensitive.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::services::credentials::Credential;

/// Why a credential cannot be put on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsendable {
    /// A client-credentials connection without an access token yet.
    NoToken,
    /// The provider's metadata names no usable header, or the secret cannot be a header
    /// value.
    BadHeader,
}

/// The header that carries `credential` to a provider with `metadata`.
pub fn header(
    credential: &Credential,
    metadata: &serde_json::Value,
) -> Result<(HeaderName, HeaderValue), Unsendable> {
    let (name, value) = match credential {
        Credential::Oauth2 { access_token, .. }
        | Credential::RepositoryToken { access_token, .. } => (AUTHORIZATION, bearer(access_token)),
        Credential::ClientCredentials { access_token, .. } => {
            let token = access_token.as_ref().ok_or(Unsendable::NoToken)?;
            (AUTHORIZATION, bearer(token))
        }
        Credential::Basic { username, password } => (AUTHORIZATION, basic(username, password)),
        Credential::ApiKey { api_key } => api_key_header(api_key, metadata)?,
    };
    let mut value =
        HeaderValue::try_from(value.expose_secret()).map_err(|_| Unsendable::BadHeader)?;
    value.set_sensitive(true);
    Ok((name, value))
}

fn bearer(token: &SecretString) -> SecretString {
    SecretString::from(format!("Bearer {}", token.expose_secret()))
}

fn basic(user: &SecretString, password: &SecretString) -> SecretString {
    let pair = zeroize::Zeroizing::new(format!(
        "{}:{}",
        user.expose_secret(),
        password.expose_secret()
    ));
    SecretString::from(format!("Basic {}", STANDARD.encode(pair.as_bytes())))
}

fn api_key_header(
    key: &SecretString,
    metadata: &serde_json::Value,
) -> Result<(HeaderName, SecretString), Unsendable> {
    let header = metadata.get("api_key_header").and_then(|h| h.as_str());
    let mode = metadata
        .get("api_key_auth")
        .and_then(|m| m.as_str())
        .unwrap_or(if header.is_some() { "header" } else { "bearer" });
    match mode {
        "header" => {
            let name = header
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .ok_or(Unsendable::BadHeader)?;
            Ok((name, key.clone()))
        }
        "basic" => Ok((
            AUTHORIZATION,
            basic(key, &SecretString::from(String::new())),
        )),
        _ => Ok((AUTHORIZATION, bearer(key))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(k: &str) -> Credential {
        Credential::ApiKey {
            api_key: SecretString::from(k.to_owned()),
        }
    }

    fn shown(h: (HeaderName, HeaderValue)) -> (String, String) {
        assert!(h.1.is_sensitive());
        (h.0.as_str().to_owned(), h.1.to_str().unwrap().to_owned())
    }

    #[test]
    fn tokens_go_as_bearer_and_basic_auth_as_basic() {
        let oauth = Credential::Oauth2 {
            access_token: SecretString::from("at".to_owned()),
            refresh_token: None,
        };
        assert_eq!(
            shown(header(&oauth, &json!({})).unwrap()),
            ("authorization".into(), "Bearer at".into())
        );
        let basic = Credential::Basic {
            username: SecretString::from("AC1".to_owned()),
            password: SecretString::from("pw".to_owned()),
        };
        assert_eq!(
            shown(header(&basic, &json!({})).unwrap()),
            (
                "authorization".into(),
                format!("Basic {}", STANDARD.encode("AC1:pw"))
            )
        );
        let pending = Credential::ClientCredentials {
            client_id: SecretString::from("id".to_owned()),
            client_secret: SecretString::from("s".to_owned()),
            access_token: None,
        };
        assert_eq!(
            header(&pending, &json!({})).unwrap_err(),
            Unsendable::NoToken
        );
    }

    #[test]
    fn an_api_key_goes_where_the_provider_wants_it() {
        assert_eq!(
            shown(header(&key("k1"), &json!({})).unwrap()),
            ("authorization".into(), "Bearer k1".into())
        );
        assert_eq!(
            shown(header(&key("k1"), &json!({"api_key_header": "X-Api-Key"})).unwrap()),
            ("x-api-key".into(), "k1".into())
        );
        assert_eq!(
            shown(header(&key("k1"), &json!({"api_key_auth": "basic"})).unwrap()),
            (
                "authorization".into(),
                format!("Basic {}", STANDARD.encode("k1:"))
            )
        );
        assert_eq!(
            header(&key("k1"), &json!({"api_key_auth": "header"})).unwrap_err(),
            Unsendable::BadHeader
        );
    }
}
