//! Testing client credentials that are not stored yet: a token is asked for with the
//! client-credentials grant first (a refused client is a rejected credential, a
//! provider that cannot be reached is degraded), then the health check, if the
//! provider has one, runs with that token.

use secrecy::SecretString;

use super::classify::{CREDENTIAL_REJECTED, Verdict};
use crate::error::Result;
use crate::models::connection::HealthStatus;
use crate::models::provider;
use crate::oauth::{ClientSecret, Grant, OAuthProfile, TokenClient, TokenError};
use crate::services::credentials::Credential;

/// `Ok(credential with its token)`, or the verdict when no token was obtained.
pub(super) async fn token_first(
    tokens: &TokenClient,
    provider: &provider::Model,
    client_id: &SecretString,
    client_secret: &SecretString,
) -> Result<std::result::Result<Credential, Verdict>> {
    use secrecy::ExposeSecret;
    let profile = OAuthProfile::from_provider(provider)?;
    let url = profile.token_url_for(None)?;
    let grant = Grant::ClientCredentials {
        scope: profile.client_credentials_scope.as_deref(),
    };
    let secret = ClientSecret {
        id: client_id.expose_secret(),
        secret: client_secret,
    };
    Ok(
        match tokens
            .request(&url, &secret, profile.client_auth, &grant)
            .await
        {
            Ok(set) => Ok(Credential::ClientCredentials {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                access_token: Some(set.access_token),
            }),
            Err(TokenError::Transient {
                reason_code,
                message,
                ..
            }) => Err(Verdict::failed(
                HealthStatus::Degraded,
                reason_code,
                &message,
                None,
            )),
            Err(err @ (TokenError::Rejected { .. } | TokenError::Revoked { .. })) => {
                let said = err.provider_code().unwrap_or("refused");
                Err(Verdict::failed(
                    HealthStatus::Unhealthy,
                    CREDENTIAL_REJECTED,
                    &format!("the token endpoint answered {said}"),
                    None,
                ))
            }
        },
    )
}
