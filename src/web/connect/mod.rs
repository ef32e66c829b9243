//! The connect page: what an end user sees at a connect link. A link that offers
//! several providers first shows a picker (`picker`); choosing one leads to the same
//! URL with `?provider=`. An OAuth provider's page has a "Continue to {provider}"
//! button that starts the authorization code flow, and the callback shows the outcome
//! in words (`result`); an API-key, basic-auth or client-credentials provider's page
//! has a form (`credential`) whose credential is tested with the provider before it is
//! stored. Opening the page spends nothing; the link is spent when the flow starts or
//! the credential is stored. The forms' CSRF token is bound to the connect session, and
//! no page holds the link token (forms post to the page's own URL).

mod credential;
mod picker;
pub mod result;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use url::Url;

use super::headers::csp;
use super::page::{PageError, PageResult, frame, respond, see_other};
use crate::error::Error;
use crate::http::AppState;
use crate::services::connect::form::{FormKind, Link};
use crate::services::connect::{self, form as connect_form};

fn binding(link: &Link) -> String {
    format!("connect/{}", link.session.id)
}

/// `?provider=`: the provider chosen in the picker.
#[derive(Deserialize)]
pub struct Choice {
    provider: Option<String>,
}

impl Choice {
    fn get(&self) -> Option<&str> {
        self.provider.as_deref().filter(|p| !p.is_empty())
    }
}

async fn open(state: &AppState, token: &str, choice: &Choice) -> PageResult<Link> {
    match connect_form::open(&state.db, token, choice.get()).await {
        Ok(link) => Ok(link),
        Err(Error::NotFound(_)) => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "This connect link is not valid. Ask the app that sent you here for a new one.",
        )),
        Err(Error::Invalid { .. } | Error::UnknownProvider(_)) => Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This connect link does not offer that provider. Go back and pick one of those it lists.",
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
    let title = if link.picking {
        "Connect an account".to_owned()
    } else {
        format!("Connect {}", link.provider.display_name)
    };
    let mut response = respond(status, frame(&title, None, body));
    let mut actions = vec!["'self'".to_owned()];
    if !link.picking {
        actions.extend(link.provider.authorization_url.as_deref().and_then(origin));
    }
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

/// The first letter of a name, the logo of a provider without one.
pub(super) fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

/// Why a link cannot be used, in words.
fn closed_words(code: &str) -> &'static str {
    match code {
        "session_expired" => "This connect link has expired.",
        _ => "This connect link has already been used.",
    }
}

/// What the page shows: the picker, or the provider, what is shared, where the user
/// returns, and the form (or why there is none). `problem` is a message above the
/// form.
fn body(state: &AppState, link: &Link, problem: Option<Problem>) -> Markup {
    let host = link.return_host();
    if link.picking && link.closed.is_none() {
        return picker::body(link, &host);
    }
    let name = &link.provider.display_name;
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
                            @let scopes = picker::scopes(link, &link.provider);
                            @if !scopes.is_empty() {
                                p { "Permissions requested:" }
                                ul { @for s in scopes { li { code { (s) } } } }
                            }
                        }
                        form method="post" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="step" value="oauth";
                            button type="submit" { "Continue to " (name) }
                        }
                    }
                    Some(kind) => (credential::form(link, kind, &host, &csrf)),
                    None => {
                        p.error role="alert" { (name) " cannot be connected through this page." }
                    }
                }
                @if link.session.has_picker() {
                    p { a href="?" { "Choose another provider" } }
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

/// `GET /connect/{token}[?provider=…]`.
pub async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(choice): Query<Choice>,
) -> PageResult<Response> {
    let link = open(&state, &token, &choice).await?;
    let status = if link.closed.is_some() {
        StatusCode::GONE
    } else {
        StatusCode::OK
    };
    let body = body(&state, &link, None);
    Ok(page_response(&state, &link, status, body))
}

/// `POST /connect/{token}[?provider=…]`: the page's forms (the page posts to its own
/// URL, so that its HTML never holds the link token). `step` is `oauth` (start the
/// authorization code flow) or `credential` (test and store the credential).
pub async fn post(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(choice): Query<Choice>,
    Form(form): Form<credential::PageForm>,
) -> PageResult<Response> {
    let link = open(&state, &token, &choice).await?;
    if !state.web.csrf_ok(&binding(&link), form.csrf.as_deref()) {
        return Err(PageError::forbidden());
    }
    if link.picking {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "Pick a provider first.",
        ));
    }
    match form.step.as_deref() {
        Some("oauth") => {
            let next = connect::start(
                &state.db,
                &state.keyring,
                &state.public_url,
                &token,
                Some(link.provider.slug.as_str()),
            )
            .await?;
            Ok(see_other(next.as_str()))
        }
        Some("credential") => credential::submit(&state, &link, form).await,
        _ => Err(PageError::new(StatusCode::BAD_REQUEST, "Unknown step.")),
    }
}
