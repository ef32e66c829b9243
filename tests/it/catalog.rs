//! The built-in catalog and the checks that keep a broken one from loading.

use connvault::Error;
use connvault::catalog::{BUILTIN, Catalog, KNOWN_PROVIDERS};
use connvault::models::json::AuthMode;

fn catalog_error(text: &str) -> String {
    match Catalog::parse(text, "test.toml") {
        Err(Error::Catalog(msg)) => msg,
        other => panic!("expected a catalog error, got {other:?}"),
    }
}

/// The built-in catalog with one provider's TOML block replaced by `block`.
fn builtin_with(slug: &str, block: &str) -> String {
    let marker = format!("[[providers]]\nslug = \"{slug}\"\n");
    let start = BUILTIN.find(&marker).expect("provider in builtin");
    let rest = &BUILTIN[start + marker.len()..];
    let end = rest
        .find("[[providers]]")
        .map(|i| start + marker.len() + i)
        .unwrap_or(BUILTIN.len());
    format!("{}{}\n{}", &BUILTIN[..start], block, &BUILTIN[end..])
}

#[test]
fn builtin_catalog_has_every_known_provider_with_real_endpoints() {
    let catalog = Catalog::builtin().expect("built-in catalog loads");
    assert!(catalog.providers.len() >= 12);
    assert_eq!(catalog.providers.len(), KNOWN_PROVIDERS.len());
    for p in &catalog.providers {
        assert!(p.health_check.is_some(), "{} has a health check", p.slug);
        assert!(
            p.docs_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        );
        if p.auth_modes.iter().any(AuthMode::is_oauth2) {
            assert!(
                p.token_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://"))
            );
        }
    }
    let github = catalog
        .providers
        .iter()
        .find(|p| p.slug.as_str() == "github")
        .expect("github");
    assert_eq!(
        github.authorization_url.as_deref(),
        Some("https://github.com/login/oauth/authorize")
    );
    assert_eq!(
        github.token_url.as_deref(),
        Some("https://github.com/login/oauth/access_token")
    );
}

#[test]
fn malformed_toml_is_refused_with_the_origin_named() {
    let msg = catalog_error("[[providers]\nslug = ");
    assert!(msg.contains("test.toml"), "{msg}");
}

#[test]
fn an_unknown_slug_is_refused() {
    let text = format!(
        "{BUILTIN}\n[[providers]]\nslug = \"myspace\"\ndisplay_name = \"MySpace\"\nauth_modes = [\"api_key\"]\n"
    );
    let msg = catalog_error(&text);
    assert!(msg.contains("unknown provider slug \"myspace\""), "{msg}");
}

#[test]
fn a_badly_formed_slug_is_refused() {
    let text = builtin_with(
        "stripe",
        "[[providers]]\nslug = \"Stripe!\"\ndisplay_name = \"Stripe\"\nauth_modes = [\"api_key\"]\n",
    );
    let msg = catalog_error(&text);
    assert!(msg.contains("invalid provider slug"), "{msg}");
}

#[test]
fn an_entry_missing_its_token_url_is_refused_naming_provider_and_field() {
    let text = builtin_with(
        "zoom",
        "[[providers]]\nslug = \"zoom\"\ndisplay_name = \"Zoom\"\nauth_modes = [\"oauth2_authorization_code\"]\nauthorization_url = \"https://zoom.us/oauth/authorize\"\n",
    );
    let msg = catalog_error(&text);
    assert!(msg.contains("\"zoom\""), "{msg}");
    assert!(msg.contains("token_url"), "{msg}");
}

#[test]
fn an_unknown_field_or_auth_mode_or_plain_http_url_is_refused() {
    let typo = builtin_with(
        "twilio",
        "[[providers]]\nslug = \"twilio\"\ndisplay_name = \"Twilio\"\nauth_modes = [\"basic\"]\ndocs_ulr = \"https://x\"\n",
    );
    assert!(catalog_error(&typo).contains("docs_ulr"));
    let mode = builtin_with(
        "twilio",
        "[[providers]]\nslug = \"twilio\"\ndisplay_name = \"Twilio\"\nauth_modes = [\"magic\"]\n",
    );
    assert!(catalog_error(&mode).contains("magic"));
    let http = builtin_with(
        "twilio",
        "[[providers]]\nslug = \"twilio\"\ndisplay_name = \"Twilio\"\nauth_modes = [\"basic\"]\ndocs_url = \"http://example.com\"\n",
    );
    assert!(catalog_error(&http).contains("docs_url"));
}

#[test]
fn a_duplicate_or_missing_known_provider_is_refused() {
    let twice = format!(
        "{BUILTIN}\n[[providers]]\nslug = \"stripe\"\ndisplay_name = \"Stripe\"\nauth_modes = [\"api_key\"]\n"
    );
    assert!(catalog_error(&twice).contains("listed twice"));
    let without_twilio = builtin_with("twilio", "");
    let msg = catalog_error(&without_twilio);
    assert!(msg.contains("lacks known providers: twilio"), "{msg}");
}

/// The built-in catalog with `line` added to `slug`'s metadata table.
fn builtin_with_metadata(slug: &str, old: &str, new: &str) -> String {
    let marker = format!("[[providers]]\nslug = \"{slug}\"\n");
    let start = BUILTIN.find(&marker).expect("provider in builtin");
    let at = start + BUILTIN[start..].find(old).expect("line in the entry");
    format!("{}{}{}", &BUILTIN[..at], new, &BUILTIN[at + old.len()..])
}

#[test]
fn the_builtin_catalog_names_the_public_git_hosts_and_their_apis() {
    use connvault::models::{RepositoryUrl, ServiceType};
    let hosts = Catalog::builtin().unwrap().repository_hosts().unwrap();
    for (url, service, hooks) in [
        (
            "git@github.com:octocat/hello-world.git",
            ServiceType::GitHub,
            "https://api.github.com/repos/octocat/hello-world/hooks",
        ),
        (
            "https://gitlab.com/gitlab-org/sub/project",
            ServiceType::GitLab,
            "https://gitlab.com/api/v4/projects/gitlab-org%2Fsub%2Fproject/hooks",
        ),
        (
            "https://bitbucket.org/team/repo",
            ServiceType::Bitbucket,
            "https://api.bitbucket.org/2.0/repositories/team/repo/hooks",
        ),
    ] {
        let url = RepositoryUrl::parse(url, None, &hosts).unwrap();
        assert_eq!(url.service(), service);
        let base = hosts.api_base(&url).unwrap();
        assert_eq!(
            format!(
                "{}/{}",
                base.as_str().trim_end_matches('/'),
                url.hooks_path()
            ),
            hooks
        );
    }
}

#[test]
fn self_hosted_git_hosts_come_from_the_catalog() {
    use connvault::models::{RepositoryUrl, ServiceType};
    let text = builtin_with_metadata(
        "gitlab",
        "repository_hosts = [\"gitlab.com\"]",
        "repository_hosts = [\"gitlab.com\", { host = \"git.example.com\", api_base_url = \"http://127.0.0.1:9/api/v4\" }]",
    );
    let hosts = Catalog::parse(&text, "test.toml")
        .unwrap()
        .repository_hosts()
        .unwrap();
    let url = RepositoryUrl::parse(
        "ssh://git@git.example.com/a/b/c.git",
        Some(ServiceType::GitLab),
        &hosts,
    )
    .unwrap();
    assert_eq!(url.as_str(), "https://git.example.com/a/b/c");
    assert_eq!(
        hosts.api_base(&url).unwrap().as_str(),
        "http://127.0.0.1:9/api/v4"
    );
    // Not in the built-in catalog.
    let builtin = Catalog::builtin().unwrap().repository_hosts().unwrap();
    assert!(RepositoryUrl::parse("https://git.example.com/a/b/c", None, &builtin).is_err());
}

#[test]
fn a_git_host_under_two_providers_or_a_malformed_one_is_refused() {
    let both = builtin_with_metadata(
        "gitlab",
        "repository_hosts = [\"gitlab.com\"]",
        "repository_hosts = [\"gitlab.com\", \"git.example.com\"]",
    );
    let both = both.replacen(
        "repository_hosts = [\"github.com\"]",
        "repository_hosts = [\"github.com\", \"git.example.com\"]",
        1,
    );
    let msg = catalog_error(&both);
    assert!(
        msg.contains("\"git.example.com\" is listed by several providers: github, gitlab"),
        "{msg}"
    );

    let another_service = builtin_with_metadata(
        "github",
        "repository_hosts = [\"github.com\"]",
        "repository_hosts = [\"github.com\", \"gitlab.com\"]",
    );
    let msg = catalog_error(&another_service);
    assert!(msg.contains("\"github\""), "{msg}");
    assert!(msg.contains("metadata.repository_hosts"), "{msg}");
    assert!(msg.contains("GitLab's public host"), "{msg}");

    let with_port = builtin_with_metadata(
        "github",
        "repository_hosts = [\"github.com\"]",
        "repository_hosts = [\"ghe.example.com:8443\"]",
    );
    assert!(catalog_error(&with_port).contains("DNS name"));

    let not_git = builtin_with_metadata(
        "slack",
        "scope_separator = \",\"",
        "scope_separator = \",\"\nrepository_hosts = [\"slack.com\"]",
    );
    let msg = catalog_error(&not_git);
    assert!(msg.contains("only github, gitlab and bitbucket"), "{msg}");
}
