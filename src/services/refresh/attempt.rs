//! One renewal attempt at the provider's token endpoint, with retries of transient
//! failures, and the pure rules that classify what the provider answered.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::Refresher;
use crate::error::{Error, Result};
use crate::models::connection;
use crate::oauth::{ClientSecret, Grant, OAuthProfile, TokenError, TokenSet};
use crate::repositories::oauth_apps;
use crate::services::credentials::Credential;

/// Longest wait between two attempts, whatever `Retry-After` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// Longest background back-off after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

impl Refresher {
    /// Calls the token endpoint, retrying transient failures with back-off. The outer
    /// error is ours (configuration, database); the inner one is the provider's.
    pub(super) async fn call_provider(
        &self,
        row: &connection::Model,
        profile: &OAuthProfile,
        credential: &Credential,
    ) -> Result<std::result::Result<TokenSet, TokenError>> {
        let (client_id, client_secret, refresh_token) = match credential {
            Credential::Oauth2 {
                refresh_token: Some(rt),
                ..
            } => {
                let app = oauth_apps::get(&self.inner.db, &profile.slug)
                    .await?
                    .ok_or_else(|| Error::OAuthAppMissing(profile.slug.clone()))?;
                let secret = oauth_apps::client_secret(&self.inner.keyring, &app).await?;
                (app.client_id, secret, Some(rt))
            }
            Credential::ClientCredentials {
                client_id,
                client_secret,
                ..
            } => (
                client_id.expose_secret().to_owned(),
                client_secret.clone(),
                None,
            ),
            _ => return Err(Error::NotFound("refreshable credential")),
        };
        let scope = if !row.scopes_granted.0.is_empty() {
            Some(profile.join_scopes(&row.scopes_granted.0))
        } else {
            profile.client_credentials_scope.clone()
        };
        let grant = match refresh_token {
            Some(refresh_token) => Grant::RefreshToken { refresh_token },
            None => Grant::ClientCredentials {
                scope: scope.as_deref(),
            },
        };
        let url = profile.token_url_for(Some(&row.external_id))?;
        let secret = ClientSecret {
            id: &client_id,
            secret: &client_secret,
        };
        let attempts = Ord::max(self.inner.options.attempts, 1);
        let mut attempt = 0;
        loop {
            let outcome = self
                .inner
                .tokens
                .request(&url, &secret, profile.client_auth, &grant)
                .await;
            attempt += 1;
            match outcome {
                Err(TokenError::Transient { retry_after, .. }) if attempt < attempts => {
                    tokio::time::sleep(retry_wait(attempt, retry_after)).await;
                }
                other => return Ok(other),
            }
        }
    }
}

/// How long to wait before attempt `done + 1`: the provider's `Retry-After`, else
/// 200 ms doubled per attempt, never more than [`MAX_RETRY_WAIT`].
pub(super) fn retry_wait(done: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = Duration::from_millis(200u64 << (done.saturating_sub(1)).min(10));
    retry_after.unwrap_or(backoff).min(MAX_RETRY_WAIT)
}

/// The background back-off after `failures` consecutive failures: 30 s doubled per
/// failure, at most an hour.
pub(super) fn backoff(failures: i32) -> Duration {
    Duration::from_secs(30)
        .saturating_mul(1u32 << failures.clamp(0, 7) as u32)
        .min(MAX_BACKOFF)
}

/// Whether a provider's answer means only a new consent (or new client credentials)
/// helps.
pub(super) fn sets_reauth(credential: &Credential, err: &TokenError) -> bool {
    match err {
        TokenError::Revoked { .. } => true,
        TokenError::Rejected { code, .. } => {
            matches!(credential, Credential::ClientCredentials { .. })
                && matches!(code.as_str(), "invalid_client" | "unauthorized_client")
        }
        TokenError::Transient { .. } => false,
    }
}

/// The reason code a failure is recorded and answered with.
pub(super) fn reason<'a>(credential: &Credential, err: &'a TokenError) -> &'a str {
    if sets_reauth(credential, err) && matches!(err, TokenError::Rejected { .. }) {
        "client_credentials_rejected"
    } else {
        err.reason_code()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn oauth() -> Credential {
        Credential::Oauth2 {
            access_token: SecretString::from("a"),
            refresh_token: Some(SecretString::from("r")),
        }
    }

    fn client_credentials() -> Credential {
        Credential::ClientCredentials {
            client_id: SecretString::from("id"),
            client_secret: SecretString::from("secret"),
            access_token: None,
        }
    }

    fn rejected(code: &str) -> TokenError {
        TokenError::Rejected {
            code: code.to_owned(),
            message: String::new(),
        }
    }

    fn transient() -> TokenError {
        TokenError::Transient {
            reason_code: "provider_unavailable",
            retry_after: None,
            message: String::new(),
        }
    }

    #[test]
    fn a_revoked_grant_needs_a_new_consent() {
        let revoked = TokenError::Revoked {
            code: "invalid_grant".to_owned(),
            message: String::new(),
        };
        assert!(sets_reauth(&oauth(), &revoked));
        assert_eq!(reason(&oauth(), &revoked), "refresh_token_revoked");
    }

    #[test]
    fn rejected_client_credentials_need_new_ones_but_an_app_misconfiguration_does_not() {
        for code in ["invalid_client", "unauthorized_client"] {
            assert!(sets_reauth(&client_credentials(), &rejected(code)));
            assert_eq!(
                reason(&client_credentials(), &rejected(code)),
                "client_credentials_rejected"
            );
            // For an authorization-code grant the fault is the deployment's OAuth app.
            assert!(!sets_reauth(&oauth(), &rejected(code)));
            assert_eq!(reason(&oauth(), &rejected(code)), "token_request_rejected");
        }
        assert!(!sets_reauth(
            &client_credentials(),
            &rejected("invalid_scope")
        ));
    }

    #[test]
    fn transient_failures_never_need_a_new_consent() {
        assert!(!sets_reauth(&oauth(), &transient()));
        assert!(!sets_reauth(&client_credentials(), &transient()));
        assert_eq!(reason(&oauth(), &transient()), "provider_unavailable");
    }

    #[test]
    fn retries_wait_longer_each_time_and_honour_retry_after_up_to_a_cap() {
        assert_eq!(retry_wait(1, None), Duration::from_millis(200));
        assert_eq!(retry_wait(2, None), Duration::from_millis(400));
        assert_eq!(retry_wait(30, None), MAX_RETRY_WAIT);
        assert_eq!(
            retry_wait(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(retry_wait(1, Some(Duration::from_secs(60))), MAX_RETRY_WAIT);
    }

    #[test]
    fn background_back_off_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(30));
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(240));
        assert_eq!(backoff(7), Duration::from_secs(3600));
        assert_eq!(backoff(1000), Duration::from_secs(3600));
        assert_eq!(backoff(-5), Duration::from_secs(30));
    }
}
