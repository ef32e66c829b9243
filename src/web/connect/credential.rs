//! The credential form of API-key, basic-auth and client-credentials providers: the
//! fields the provider needs, with labels and help from its catalog metadata
//! (`api_key_label`, `api_key_help`, `username_label`, `password_label`,
//! `client_id_label`, `client_id_help`, `client_secret_label`, `client_secret_help`)
//! and its docs link. The credential is tested with the provider before it is stored.

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{Problem, body, initial, page_response};
use crate::error::Error;
use crate::http::AppState;
use crate::services::connect::form::{self as connect_form, FormKind, Link, Submitted};
use crate::services::credentials::Credential;
use crate::web::page::{PageError, PageResult, see_other};

fn meta_str<'a>(link: &'a Link, key: &str) -> Option<&'a str> {
    link.provider.metadata.get(key).and_then(|v| v.as_str())
}

/// One labelled input, with its help text when the catalog (or `default_help`) has
/// one.
fn field(
    link: &Link,
    name: &str,
    kind: &str,
    default_label: &str,
    default_help: Option<String>,
) -> Markup {
    let label = meta_str(link, &format!("{name}_label")).unwrap_or(default_label);
    let help = meta_str(link, &format!("{name}_help"))
        .map(str::to_owned)
        .or(default_help);
    let help_id = format!("{name}_help");
    html! {
        label for=(name) { (label) }
        @if let Some(help) = &help { p.help #(help_id) { (help) } }
        input #(name) type=(kind) name=(name) required autocomplete="off" spellcheck="false" aria-describedby=[help.as_ref().map(|_| &help_id)];
    }
}

/// The form of `kind` (not OAuth).
pub(super) fn form(link: &Link, kind: FormKind, host: &str, csrf: &str) -> Markup {
    let name = &link.provider.display_name;
    html! {
        div.card {
            h2 { "What is shared" }
            p { "Your " (name) " credential goes straight to connvault, which checks it with " (name) " and keeps it encrypted. " (host) " can use the connection but never sees the credential." }
        }
        form method="post" autocomplete="off" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="step" value="credential";
            @match kind {
                FormKind::ApiKey => {
                    (field(link, "api_key", "password", "API key", Some(format!("Create a key in your {name} account settings and paste it here."))))
                }
                FormKind::Basic => {
                    (field(link, "username", "text", "User name", None))
                    (field(link, "password", "password", "Password", None))
                }
                FormKind::ClientCredentials => {
                    (field(link, "client_id", "text", "Client ID", Some(format!("The ID of the app or service account you registered with {name}."))))
                    (field(link, "client_secret", "password", "Client secret", Some("Shown by the provider when you create the secret; connvault asks the provider for a token with it before saving.".to_owned())))
                }
                FormKind::OAuth => {}
            }
            @if let Some(docs) = &link.provider.docs_url {
                p.help { a href=(docs) rel="noreferrer noopener" target="_blank" { "Where to find it (" (name) " docs)" } }
            }
            button type="submit" { "Connect " (name) }
        }
    }
}

/// The page's form. No `Debug`: it holds the secret.
#[derive(Deserialize)]
pub struct PageForm {
    pub(super) csrf: Option<String>,
    pub(super) step: Option<String>,
    api_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn secret(value: Option<String>) -> SecretString {
    SecretString::from(value.unwrap_or_default().trim().to_owned())
}

/// Tests the credential, then stores it.
pub(super) async fn submit(state: &AppState, link: &Link, form: PageForm) -> PageResult<Response> {
    let credential = match link.form {
        Some(FormKind::ApiKey) => Credential::ApiKey {
            api_key: secret(form.api_key),
        },
        Some(FormKind::Basic) => Credential::Basic {
            username: secret(form.username),
            password: secret(form.password),
        },
        Some(FormKind::ClientCredentials) => Credential::ClientCredentials {
            client_id: secret(form.client_id),
            client_secret: secret(form.client_secret),
            access_token: None,
        },
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "this provider is not connected with a form",
            ));
        }
    };
    let submitted =
        connect_form::submit(&state.db, &state.keyring, &state.health, link, &credential).await;
    let (status, problem) = match submitted {
        Ok(Submitted::Connected { back, .. }) => return Ok(connected(state, link, &back)),
        Ok(Submitted::Closed { code }) => {
            return Ok(see_other(link.back(&[("error", code)]).as_str()));
        }
        Ok(Submitted::Rejected { message }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Problem::Rejected(message))
        }
        Ok(Submitted::Unreachable { message }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Problem::Unreachable(message),
        ),
        Err(Error::Invalid { reason, .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Problem::Invalid(reason))
        }
        Err(err) => return Err(err.into()),
    };
    let body = body(state, link, Some(problem));
    Ok(page_response(state, link, status, body))
}

/// The success page: a link back to the app (followed on its own after a moment,
/// without script).
fn connected(state: &AppState, link: &Link, back: &Url) -> Response {
    let name = &link.provider.display_name;
    let host = link.return_host();
    let body = html! {
        div.narrow {
            h1 { span.logo aria-hidden="true" { (initial(name)) } (name) " is connected" }
            p.success role="status" { "Your " (name) " account is connected. You can close this page or go back to " (host) "." }
            p { a.button #return href=(back.as_str()) { "Return to " (host) } }
        }
    };
    let mut response = page_response(state, link, StatusCode::OK, body);
    if let Ok(value) = HeaderValue::try_from(format!("3; url={back}")) {
        response.headers_mut().insert("refresh", value);
    }
    response
}
