//! The picker of a connect link that offers several providers: each with its name,
//! its initial as a logo, and what will be shared, and the app the user returns to.
//! Choosing is a plain GET form to the page's own URL (`?provider=…`), so the page
//! holds no link token and works without script.

use maud::{Markup, html};

use super::initial;
use crate::models::provider;
use crate::services::connect::form::{FormKind, Link};

/// The scopes the provider will be asked for through this link.
pub(super) fn scopes<'a>(link: &'a Link, provider: &'a provider::Model) -> &'a [String] {
    if link.session.has_picker() {
        &provider.default_scopes.0
    } else {
        &link.session.scopes.0
    }
}

/// What connecting `provider` shares, in words.
fn shared(link: &Link, provider: &provider::Model, kind: Option<FormKind>) -> String {
    let name = &provider.display_name;
    match kind {
        Some(FormKind::OAuth) => {
            let scopes = scopes(link, provider);
            if scopes.is_empty() {
                format!("Access to your {name} account, as {name} asks you to approve.")
            } else {
                format!(
                    "Access to your {name} account ({}), as {name} asks you to approve.",
                    scopes.join(", ")
                )
            }
        }
        Some(FormKind::ApiKey) => format!("An API key of your {name} account, kept encrypted."),
        Some(FormKind::Basic) => format!("Your {name} user name and password, kept encrypted."),
        Some(FormKind::ClientCredentials) => {
            format!("A client ID and secret of your {name} app, kept encrypted.")
        }
        None => format!("{name} cannot be connected through this page."),
    }
}

pub(super) fn body(link: &Link, host: &str) -> Markup {
    html! {
        div.narrow {
            h1 { "Connect an account" }
            @if let Some(label) = &link.session.end_user_label {
                p.muted { "For " (label) }
            }
            p { strong { (host) } " asks you to connect one of these. Choose the one you use." }
            form method="get" {
                ul.choices {
                    @for (p, kind) in &link.choices {
                        li.card {
                            button.choice type="submit" name="provider" value=(p.slug) disabled[kind.is_none()] aria-describedby=(format!("shared-{}", p.slug)) {
                                span.logo aria-hidden="true" { (initial(&p.display_name)) }
                                (p.display_name)
                            }
                            p.help #(format!("shared-{}", p.slug)) { (shared(link, p, *kind)) }
                        }
                    }
                }
            }
            p.muted { "When you are done you return to " strong { (host) } "." }
        }
    }
}
