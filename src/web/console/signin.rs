//! Signing in with an API key, and out. The sign-in form carries a CSRF token bound to
//! a random value in a short-lived cookie of its own, so another site cannot sign a
//! browser in with its key.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{ConsoleUser, now, set_cookie};
use crate::http::AppState;
use crate::models::api_key::Role;
use crate::services::{api_keys, console_sessions};
use crate::web::page::{PageResult, frame, respond, see_other};
use crate::web::session::{Claims, cookie};

const SIGNIN_COOKIE: &str = "connvault_signin";

fn signin_page(state: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    let nonce = Uuid::new_v4().to_string();
    let csrf = state.web.csrf_token(&format!("signin/{nonce}"));
    let body = html! {
        div.narrow {
            h1 { "Sign in to the connvault console" }
            @if let Some(error) = error { p.error #problem role="alert" { (error) } }
            form method="post" action="/console/sign-in" autocomplete="off" {
                input type="hidden" name="csrf" value=(csrf);
                label for="api_key" { "API key" }
                p.help #key_help { "An operator, admin or viewer key. It is checked once and not kept in your browser: you get a session instead." }
                input #api_key type="password" name="api_key" required autocomplete="off" spellcheck="false" aria-describedby="key_help";
                button type="submit" { "Sign in" }
            }
        }
    };
    let mut response = respond(status, frame("Sign in", None, body));
    let secure = if state.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    set_cookie(
        &mut response,
        &format!(
            "{SIGNIN_COOKIE}={nonce}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=1800{secure}"
        ),
    );
    response
}

/// `GET /console/sign-in`.
pub async fn form(State(state): State<AppState>) -> Response {
    signin_page(&state, None, StatusCode::OK)
}

/// The sign-in form. No `Debug`: it holds the key.
#[derive(Deserialize)]
pub struct SignIn {
    csrf: Option<String>,
    api_key: Option<String>,
}

/// `POST /console/sign-in`.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> PageResult<Response> {
    let nonce = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| cookie(v, SIGNIN_COOKIE));
    let bound = nonce.is_some_and(|n| {
        state
            .web
            .csrf_ok(&format!("signin/{n}"), form.csrf.as_deref())
    });
    if !bound {
        return Ok(signin_page(
            &state,
            Some("The form expired or was not sent from this page. Try again."),
            StatusCode::FORBIDDEN,
        ));
    }
    let secret = form.api_key.unwrap_or_default();
    let key = api_keys::identify(&state.db, secret.trim()).await?;
    let Some(key) = key.filter(|k| k.role != Role::Worker) else {
        return Ok(signin_page(
            &state,
            Some(
                "That key is unknown, revoked, or a worker key. Use an operator, admin or viewer key.",
            ),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let claims = Claims::new(key.id, key.tenant_id.map(|t| t.as_uuid()), now());
    let mut response = see_other("/console");
    set_cookie(
        &mut response,
        &state.web.set_cookie(Some(&state.web.seal(&claims))),
    );
    set_cookie(
        &mut response,
        &format!("{SIGNIN_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    tracing::info!(key = %key.id, role = key.role.as_str(), "console sign-in");
    Ok(response)
}

/// `POST /console/sign-out`: the session ends on the server (a copy of its cookie is
/// refused from now on) and the cookie is cleared.
pub async fn sign_out(State(state): State<AppState>, user: ConsoleUser) -> PageResult<Response> {
    let expires_at = chrono::DateTime::from_timestamp(user.session.issued, 0)
        .unwrap_or_else(chrono::Utc::now)
        + chrono::TimeDelta::from_std(state.web.options.absolute).unwrap_or_default();
    console_sessions::end(&state.db, user.session.nonce, expires_at).await?;
    tracing::info!(key = %user.principal.key_id, "console sign-out");
    let mut response = see_other("/console/sign-in");
    set_cookie(&mut response, &state.web.set_cookie(None));
    Ok(response)
}
