//! Which credentials a provider can use: each of its auth modes accepts certain
//! credential kinds, and a credential must fit one of them (pure).

use crate::error::{Error, Result};
use crate::models::json::AuthMode;
use crate::services::credentials::CredentialKind;

/// The credential kinds an auth mode accepts.
pub fn kinds_for(mode: AuthMode) -> &'static [CredentialKind] {
    match mode {
        AuthMode::Oauth2AuthorizationCode => &[CredentialKind::Oauth2],
        // Client id and secret, with the access token obtained with them.
        AuthMode::Oauth2ClientCredentials | AuthMode::ClientSecret => {
            &[CredentialKind::ClientCredentials]
        }
        AuthMode::ApiKey => &[CredentialKind::ApiKey],
        AuthMode::Basic => &[CredentialKind::Basic],
        AuthMode::RepositoryToken => &[CredentialKind::RepositoryToken],
    }
}

/// Whether a credential of `kind` fits one of `modes`.
pub fn fits(kind: CredentialKind, modes: &[AuthMode]) -> bool {
    modes.iter().any(|mode| kinds_for(*mode).contains(&kind))
}

/// `Ok` when a credential of `kind` fits one of the provider's `modes`; otherwise a
/// validation error on `field` that lists the kinds the provider takes.
pub fn check(field: &'static str, kind: CredentialKind, modes: &[AuthMode]) -> Result<()> {
    if fits(kind, modes) {
        return Ok(());
    }
    let mut accepted: Vec<&str> = Vec::new();
    for mode in modes {
        for k in kinds_for(*mode) {
            if !accepted.contains(&k.as_str()) {
                accepted.push(k.as_str());
            }
        }
    }
    Err(Error::invalid(
        field,
        format!(
            "the provider does not take a {} credential; it takes {}",
            kind.as_str(),
            accepted.join(" or ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_MODES: [AuthMode; 6] = [
        AuthMode::Oauth2AuthorizationCode,
        AuthMode::Oauth2ClientCredentials,
        AuthMode::ApiKey,
        AuthMode::Basic,
        AuthMode::ClientSecret,
        AuthMode::RepositoryToken,
    ];
    const ALL_KINDS: [CredentialKind; 5] = [
        CredentialKind::Oauth2,
        CredentialKind::ClientCredentials,
        CredentialKind::ApiKey,
        CredentialKind::Basic,
        CredentialKind::RepositoryToken,
    ];

    #[test]
    fn each_mode_takes_its_own_kinds_only() {
        use AuthMode as M;
        use CredentialKind as K;
        let expected = [
            (M::Oauth2AuthorizationCode, K::Oauth2),
            (M::Oauth2ClientCredentials, K::ClientCredentials),
            (M::ApiKey, K::ApiKey),
            (M::Basic, K::Basic),
            (M::ClientSecret, K::ClientCredentials),
            (M::RepositoryToken, K::RepositoryToken),
        ];
        for mode in ALL_MODES {
            for kind in ALL_KINDS {
                assert_eq!(
                    fits(kind, &[mode]),
                    expected.contains(&(mode, kind)),
                    "{} / {}",
                    mode.as_str(),
                    kind.as_str()
                );
            }
        }
    }

    #[test]
    fn every_kind_fits_some_mode() {
        for kind in ALL_KINDS {
            assert!(fits(kind, &ALL_MODES), "{}", kind.as_str());
        }
    }

    #[test]
    fn an_api_key_only_provider_refuses_other_kinds_naming_what_it_takes() {
        let stripe = [AuthMode::ApiKey];
        assert!(check("credential.kind", CredentialKind::ApiKey, &stripe).is_ok());
        for kind in [CredentialKind::Basic, CredentialKind::Oauth2] {
            let err = check("credential.kind", kind, &stripe).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        field: "credential.kind",
                        ..
                    }
                ),
                "{text}"
            );
            assert!(text.ends_with("it takes api_key"), "{text}");
        }
        let github = [AuthMode::Oauth2AuthorizationCode, AuthMode::RepositoryToken];
        let err = check("kind", CredentialKind::ApiKey, &github).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("it takes oauth2 or repository_token"),
            "{err}"
        );
        assert!(check("kind", CredentialKind::RepositoryToken, &github).is_ok());
    }

    #[test]
    fn no_mode_takes_nothing() {
        assert!(!fits(CredentialKind::ApiKey, &[]));
    }
}
