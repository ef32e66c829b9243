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
