//! The end of the OAuth flow as a person sees it: the provider sent the browser back
//! to the callback, and instead of a bare redirect the page says what happened in
//! words (connected, or why not: consent denied, the provider's error, an expired or
//! used link) with a button back to the app, whose URL carries the same
//! `connect_session_id`, `connection_id`/`status` or `error` the redirect would. No
//! script and no automatic redirect: the person reads the outcome, then follows the
//! link.

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use url::Url;

use super::initial;
use crate::http::AppState;
use crate::models::ProviderSlug;
use crate::repositories;
use crate::web::headers::secure;
use crate::web::page::{frame, respond};

/// An error code of the flow (as the app receives it), in words.
pub fn error_words(code: &str, provider: &str) -> String {
    match code {
        "access_denied" => {
            format!("You did not allow access at {provider}, so nothing was connected.")
        }
        "consent_required" | "interaction_required" | "login_required" => {
            format!("{provider} needs you to sign in and approve access; it did not finish.")
        }
        "invalid_scope" => format!("{provider} refused the permissions that were asked for."),
        "temporarily_unavailable" => {
            format!("{provider} is unavailable right now. Try again in a few minutes.")
        }
        "authorization_failed" => format!("{provider} reported an error and did not grant access."),
        "session_expired" => "This connect link expired before you finished.".to_owned(),
        "connect_link_used" | "state_replayed" => {
            "This connect link was already used. Ask the app for a new one.".to_owned()
        }
        "token_exchange_failed" => {
            format!("{provider} approved access, but exchanging the approval for a token failed.")
        }
        "identity_failed" => {
            format!("{provider} approved access, but did not say which account it is.")
        }
        "issuer_mismatch" | "provider_mismatch" => {
            format!("The answer did not come from {provider} as expected, so it was refused.")
        }
        "oauth_app_missing" => format!("{provider} is not set up on this service yet."),
        _ => "Something went wrong and nothing was connected.".to_owned(),
    }
}

fn display_name(slug: &str, found: Option<String>) -> String {
    found.unwrap_or_else(|| slug.to_owned())
}

/// The page for the app URL `back` the callback sends the user to.
pub async fn page(state: &AppState, provider: &str, back: &Url) -> Response {
    let found = match ProviderSlug::parse(provider) {
        Ok(slug) => repositories::providers::get_by_slug(&state.db, &slug)
            .await
            .ok()
            .flatten()
            .map(|p| p.display_name),
        Err(_) => None,
    };
    let name = display_name(provider, found);
    let pairs: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let error = get("error");
    let host = back.host_str().unwrap_or_default().to_owned();
    let title = match error {
        None => format!("{name} is connected"),
        Some(_) => format!("{name} was not connected"),
    };
    let body = html! {
        div.narrow {
            h1 { span.logo aria-hidden="true" { (initial(&name)) } (title) }
            @match error {
                None => p.success #outcome role="status" { "Your " (name) " account is connected. You can close this page or go back to " (host) "." },
                Some(code) => {
                    p.error #outcome role="alert" { (error_words(code, &name)) }
                    p.muted { "Error code: " code { (code) } }
                }
            }
            p { a.button #return href=(back.as_str()) { "Return to " (host) } }
        }
    };
    let mut response = respond(StatusCode::OK, frame(&title, None, body));
    secure(&mut response, &state.web.options.frame_ancestors);
    response
}

/// The page for a callback that names no connect session (an unknown or replayed
/// state): there is no app to go back to.
pub fn unknown(state: &AppState) -> Response {
    let body = html! {
        div.narrow {
            h1 { "This sign-in cannot be finished" }
            p.error #outcome role="alert" { "The answer from the provider does not match a connect link in progress: it was already used, or it did not start here. Nothing was connected. Go back to the app and start again." }
        }
    };
    let mut response = respond(
        StatusCode::BAD_REQUEST,
        frame("Sign-in cannot be finished", None, body),
    );
    secure(&mut response, &state.web.options.frame_ancestors);
    response
}
