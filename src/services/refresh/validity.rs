//! Whether a stored credential may be handed out, renewed, or only kept while it lasts.

use chrono::{DateTime, Utc};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::models::connection::ConnectionStatus;
use crate::services::credentials::{Credential, CredentialRead};

/// A token valid for less than this is never handed out.
const MIN_VALIDITY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

pub(super) fn refreshable(credential: &Credential) -> bool {
    matches!(
        credential,
        Credential::Oauth2 {
            refresh_token: Some(_),
            ..
        } | Credential::ClientCredentials { .. }
    )
}

/// Whether a connection's credential may be handed out at all.
pub(super) fn usable(read: &CredentialRead) -> Result<()> {
    match read.status {
        ConnectionStatus::NeedsReauth | ConnectionStatus::Revoked | ConnectionStatus::Error => {
            Err(Error::ConnectionUnusable {
                status: read.status,
                reason_code: read.reason_code.clone(),
            })
        }
        _ => {
            let expired = read
                .token_expires_at
                .is_some_and(|at| at - Utc::now() < MIN_VALIDITY);
            let renewable = refreshable(&read.credential);
            if expired && !renewable && matches!(read.credential, Credential::Oauth2 { .. }) {
                return Err(Error::ConnectionUnusable {
                    status: read.status,
                    reason_code: Some("token_expired".to_owned()),
                });
            }
            Ok(())
        }
    }
}

/// The current token when it is still valid for a while, else `ProviderUnavailable`.
pub(super) fn still_valid(
    read: CredentialRead,
    reason_code: &str,
    retry_after: Option<Duration>,
) -> Result<CredentialRead> {
    let has_token = !matches!(
        read.credential,
        Credential::ClientCredentials {
            access_token: None,
            ..
        }
    );
    let valid = has_token
        && read
            .token_expires_at
            .is_none_or(|at: DateTime<Utc>| at - Utc::now() >= MIN_VALIDITY);
    if valid {
        Ok(read)
    } else {
        Err(Error::ProviderUnavailable {
            reason_code: reason_code.to_owned(),
            retry_after_secs: retry_after.map(|d| Ord::max(d.as_secs(), 1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn read(
        credential: Credential,
        status: ConnectionStatus,
        expires_in: Option<i64>,
    ) -> CredentialRead {
        CredentialRead {
            credential,
            token_expires_at: expires_in.map(|s| Utc::now() + chrono::TimeDelta::seconds(s)),
            status,
            reason_code: Some("refresh_token_revoked".to_owned()),
            provider: "p".to_owned(),
        }
    }

    fn oauth(refresh: bool) -> Credential {
        Credential::Oauth2 {
            access_token: SecretString::from("a"),
            refresh_token: refresh.then(|| SecretString::from("r")),
        }
    }

    fn cc(token: bool) -> Credential {
        Credential::ClientCredentials {
            client_id: SecretString::from("id"),
            client_secret: SecretString::from("s"),
            access_token: token.then(|| SecretString::from("t")),
        }
    }

    #[test]
    fn only_tokens_with_a_way_to_renew_are_refreshable() {
        assert!(refreshable(&oauth(true)));
        assert!(!refreshable(&oauth(false)));
        assert!(refreshable(&cc(false)));
        assert!(!refreshable(&Credential::ApiKey {
            api_key: SecretString::from("k")
        }));
    }

    #[test]
    fn a_connection_that_needs_reauth_or_is_revoked_is_unusable_with_its_reason() {
        for status in [
            ConnectionStatus::NeedsReauth,
            ConnectionStatus::Revoked,
            ConnectionStatus::Error,
        ] {
            match usable(&read(oauth(true), status, Some(3600))) {
                Err(Error::ConnectionUnusable {
                    status: s,
                    reason_code,
                }) => {
                    assert_eq!(s, status);
                    assert_eq!(reason_code.as_deref(), Some("refresh_token_revoked"));
                }
                other => panic!("{status:?}: {:?}", other.err()),
            }
        }
        assert!(usable(&read(oauth(true), ConnectionStatus::Active, Some(3600))).is_ok());
    }

    #[test]
    fn an_expired_token_without_a_refresh_token_is_unusable() {
        let expired = read(oauth(false), ConnectionStatus::Active, Some(1));
        assert!(matches!(
            usable(&expired),
            Err(Error::ConnectionUnusable { reason_code: Some(r), .. }) if r == "token_expired"
        ));
        // With a refresh token it can still be renewed.
        assert!(usable(&read(oauth(true), ConnectionStatus::Active, Some(1))).is_ok());
    }

    #[test]
    fn still_valid_hands_out_only_a_token_with_time_left() {
        let ok = still_valid(
            read(oauth(true), ConnectionStatus::Active, Some(60)),
            "x",
            None,
        );
        assert!(ok.is_ok());
        let no_expiry = still_valid(read(oauth(true), ConnectionStatus::Active, None), "x", None);
        assert!(no_expiry.is_ok());
        match still_valid(
            read(oauth(true), ConnectionStatus::Active, Some(2)),
            "provider_timeout",
            Some(Duration::from_millis(10)),
        ) {
            Err(Error::ProviderUnavailable {
                reason_code,
                retry_after_secs,
            }) => {
                assert_eq!(reason_code, "provider_timeout");
                assert_eq!(retry_after_secs, Some(1), "at least a second");
            }
            other => panic!("{:?}", other.err()),
        }
        assert!(still_valid(read(cc(false), ConnectionStatus::Active, None), "x", None).is_err());
    }
}
