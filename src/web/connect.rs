//! The connect page: what an end user sees at a connect link. An OAuth provider's page
//! has a "Continue to {provider}" button that starts the authorization code flow; an
//! API-key or basic-auth provider's page has a form whose credential is tested with the
//! provider's health check before it is stored. Opening the page spends nothing; the
//! link is spent when the flow starts or the credential is stored. The forms' CSRF
//! token is bound to the connect session.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::headers::csp;
use super::page::{PageError, PageResult, frame, respond, see_other};
use crate::error::Error;
use crate::http::AppState;
use crate::services::connect::form::{FormKind, Link, Submitted};
use crate::services::connect::{self, form as connect_form};
use crate::services::credentials::Credential;

fn binding(link: &Link) -> String {
    format!("connect/{}", link.session.id)
}

async fn open(state: &AppState, token: &str) -> PageResult<Link> {
    match connect_form::open(&state.db, token).await {
        Ok(link) => Ok(link),
        Err(Error::NotFound(_)) => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "This connect link is not valid. Ask the app that sent you here for a new one.",
        )),
        Err(err) => Err(err.into()),
    }
}

fn origin(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization())
}

/// The page, with a policy whose `form-action` allows this page's own forms and the
/// places they lead to (the provider's consent page, the app).
fn page_response(state: &AppState, link: &Link, status: StatusCode, body: Markup) -> Response {
    let title = format!("Connect {}", link.provider.display_name);
    let mut response = respond(status, frame(&title, None, body));
    let mut actions = vec!["'self'".to_owned()];
    actions.extend(link.provider.authorization_url.as_deref().and_then(origin));
    actions.extend(origin(&link.session.return_url));
    if let Ok(value) =
        HeaderValue::try_from(csp(&state.web.options.frame_ancestors, &actions.join(" ")))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

fn meta_str<'a>(link: &'a Link, key: &str) -> Option<&'a str> {
    link.provider.metadata.get(key).and_then(|v| v.as_str())
}

/// Why a link cannot be used, in words.
fn closed_words(code: &str) -> &'static str {
    match code {
        "session_expired" => "This connect link has expired.",
        _ => "This connect link has already been used.",
    }
}

/// What the page shows: the provider, what is shared, where the user returns, and the
/// form (or why there is none). `problem` is a message above the form.
fn body(state: &AppState, link: &Link, problem: Option<Problem>) -> Markup {
    let name = &link.provider.display_name;
    let host = link.return_host();
    let csrf = state.web.csrf_token(&binding(link));
    html! {
        div.narrow {
            h1 { span.logo aria-hidden="true" { (initial(name)) } "Connect " (name) }
            @if let Some(label) = &link.session.end_user_label {
                p.muted { "For " (label) }
            }
            @if let Some(code) = link.closed {
                p.error role="alert" { (closed_words(code)) }
                p { a href=(link.back(&[("error", code)]).as_str()) { "Return to " (host) } }
            } @else {
                @if let Some(problem) = &problem {
                    @match problem {
                        Problem::Rejected(m) => p.error #problem role="alert" { (name) " refused this credential: " (m) ". Check it and try again." },
                        Problem::Unreachable(m) => p.notice #problem role="alert" { "We could not reach " (name) " to check the credential (" (m) "). Nothing was saved; try again in a moment." },
                        Problem::Invalid(m) => p.error #problem role="alert" { (m) },
                    }
                }
                @match link.form {
                    Some(FormKind::OAuth) => {
                        div.card {
                            h2 { "What " (host) " will get" }
                            p { "Access to your " (name) " account, as " (name) " asks you to approve." }
                            @if !link.session.scopes.0.is_empty() {
                                p { "Permissions requested:" }
                                ul { @for s in &link.session.scopes.0 { li { code { (s) } } } }
                            }
                        }
                        form method="post" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="step" value="oauth";
                            button type="submit" { "Continue to " (name) }
                        }
                    }
                    Some(kind @ (FormKind::ApiKey | FormKind::Basic)) => {
                        div.card {
                            h2 { "What is shared" }
                            p { "Your " (name) " credential goes straight to connvault, which checks it with " (name) " and keeps it encrypted. " (host) " can use the connection but never sees the credential." }
                        }
                        form method="post" autocomplete="off" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="step" value="credential";
                            @if kind == FormKind::ApiKey {
                                label for="api_key" { (meta_str(link, "api_key_label").unwrap_or("API key")) }
                                p.help #api_key_help { (meta_str(link, "api_key_help").map(str::to_owned).unwrap_or_else(|| format!("Create a key in your {name} account settings and paste it here."))) }
                                input #api_key type="password" name="api_key" required autocomplete="off" spellcheck="false" aria-describedby="api_key_help";
                            } @else {
                                label for="username" { (meta_str(link, "username_label").unwrap_or("User name")) }
                                input #username type="text" name="username" required autocomplete="off";
                                label for="password" { (meta_str(link, "password_label").unwrap_or("Password")) }
                                input #password type="password" name="password" required autocomplete="off";
                            }
                            @if let Some(docs) = &link.provider.docs_url {
                                p.help { a href=(docs) rel="noreferrer noopener" target="_blank" { "Where to find it (" (name) " docs)" } }
                            }
                            button type="submit" { "Connect " (name) }
                        }
                    }
                    None => {
                        p.error role="alert" { (name) " cannot be connected through this page." }
                    }
                }
                p.muted { "When you are done you return to " strong { (host) } "." }
            }
        }
    }
}

enum Problem {
    Rejected(String),
    Unreachable(String),
    Invalid(String),
}

/// `GET /connect/{token}`.
pub async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> PageResult<Response> {
    let link = open(&state, &token).await?;
    let status = if link.closed.is_some() {
        StatusCode::GONE
    } else {
        StatusCode::OK
    };
    let body = body(&state, &link, None);
    Ok(page_response(&state, &link, status, body))
}

/// `POST /connect/{token}`: the page's forms (the page posts to its own URL, so that
/// its HTML never holds the link token). `step` is `oauth` (start the authorization
/// code flow) or `credential` (test and store the credential).
pub async fn post(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<PageForm>,
) -> PageResult<Response> {
    let link = open(&state, &token).await?;
    if !state.web.csrf_ok(&binding(&link), form.csrf.as_deref()) {
        return Err(PageError::forbidden());
    }
    match form.step.as_deref() {
        Some("oauth") => {
            let next = connect::start(&state.db, &state.keyring, &state.public_url, &token).await?;
            Ok(see_other(next.as_str()))
        }
        Some("credential") => submit(&state, &link, form).await,
        _ => Err(PageError::new(StatusCode::BAD_REQUEST, "Unknown step.")),
    }
}

/// The credential form. No `Debug`: it holds the secret.
#[derive(Deserialize)]
pub struct PageForm {
    csrf: Option<String>,
    step: Option<String>,
    api_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

fn secret(value: Option<String>) -> SecretString {
    SecretString::from(value.unwrap_or_default().trim().to_owned())
}

/// Tests the credential, then stores it.
async fn submit(state: &AppState, link: &Link, form: PageForm) -> PageResult<Response> {
    let credential = match link.form {
        Some(FormKind::ApiKey) => Credential::ApiKey {
            api_key: secret(form.api_key),
        },
        Some(FormKind::Basic) => Credential::Basic {
            username: secret(form.username),
            password: secret(form.password),
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
