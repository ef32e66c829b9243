//! The admin console at `/console`: sign-in with an API key exchanged for a session
//! cookie (`super::session`), then the tenant view (`tenant`) and the operator view
//! (`operator`). Every POST passes the session check and the CSRF check in [`require`]
//! before its handler runs; each handler then asks the key's role, as the JSON API does
//! ([`Principal::authorize`]), so a viewer's forged POST is refused.

mod events;
mod operations;
mod operator;
mod signin;
mod tenant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use super::page::{PageError, frame, respond, see_other};
use super::session::{COOKIE, Claims, cookie};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::services::{api_keys, console_sessions};

/// The signed-in key, as handlers see it.
#[derive(Clone, Debug)]
pub struct ConsoleUser {
    pub principal: Principal,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// The session's claims (ids and times, no secret).
    pub session: Claims,
}

impl ConsoleUser {
    pub fn is_operator(&self) -> bool {
        self.principal.role == Role::Operator
    }

    /// Whether the key may change things in a tenant (admin or operator).
    pub fn can_change(&self) -> bool {
        matches!(self.principal.role, Role::Admin | Role::Operator)
    }

    /// The hidden CSRF field of a form.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// A page of the console: the top bar, then `body`.
    pub fn page(&self, title: &str, body: Markup) -> Response {
        let top = html! {
            header.top {
                nav aria-label="Console" {
                    strong { "connvault" } " "
                    @if self.is_operator() {
                        a href="/console/tenants" { "Tenants" }
                        a href="/console/keys" { "API keys" }
                        a href="/console/catalog" { "Catalog" }
                        a href="/console/oauth-apps" { "OAuth apps" }
                        a href="/console/data-keys" { "Data keys" }
                    } @else if let Some(t) = self.principal.tenant {
                        a href=(format!("/console/tenants/{t}")) { "Integrations" }
                        a href=(format!("/console/tenants/{t}/activity")) { "Activity" }
                        a href=(format!("/console/tenants/{t}/operations")) { "Operations" }
                        a href=(format!("/console/tenants/{t}/deliveries")) { "Deliveries" }
                    }
                }
                form.inline method="post" action="/console/sign-out" {
                    span.muted { (self.principal.name) " (" (self.principal.role.as_str()) ") " }
                    (self.csrf_field())
                    button.secondary type="submit" { "Sign out" }
                }
            }
        };
        respond(StatusCode::OK, frame(title, Some(top), body))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConsoleUser {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ConsoleUser>()
            .cloned()
            .ok_or_else(|| PageError::new(StatusCode::UNAUTHORIZED, "Sign in first."))
    }
}

pub fn routes(state: AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/console", get(home))
        .route("/console/sign-out", post(signin::sign_out))
        .merge(tenant::routes())
        .merge(operations::routes())
        .merge(events::routes())
        .merge(operator::routes())
        .layer(axum::middleware::from_fn_with_state(state, require));
    Router::new()
        .route("/console/sign-in", get(signin::form).post(signin::sign_in))
        .merge(signed_in)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Largest form the console accepts.
const FORM_LIMIT: usize = 16 * 1024;

/// The session check of every signed-in page, and the CSRF check of every POST. A
/// request without a live session goes to the sign-in page (a POST gets a 401); a POST
/// whose `csrf` field is not this session's gets a 403. The session is renewed (a new
/// cookie with the time of this request) once a minute. A session ended by signing out
/// is refused even with a copy of its cookie.
async fn require(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let at = now();
    let claims = request
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| cookie(v, COOKIE))
        .and_then(|v| state.web.open(v, at));
    let is_post = request.method() == Method::POST;
    let refuse = |state: &AppState| {
        if is_post {
            let mut r = PageError::new(
                StatusCode::UNAUTHORIZED,
                "Your session has ended. Sign in again.",
            )
            .into_response();
            set_cookie(&mut r, &state.web.set_cookie(None));
            r
        } else {
            let mut r = see_other("/console/sign-in");
            set_cookie(&mut r, &state.web.set_cookie(None));
            r
        }
    };
    let Some(claims) = claims else {
        return refuse(&state);
    };
    match console_sessions::ended(&state.db, claims.nonce).await {
        Ok(false) => {}
        Ok(true) => return refuse(&state),
        Err(err) => return PageError::from(err).into_response(),
    }
    let tenant = claims.tenant.map(TenantId::from_uuid);
    let key = match api_keys::live(&state.db, tenant, claims.key).await {
        Ok(Some(key)) if key.role != Role::Worker => key,
        Ok(_) => return refuse(&state),
        Err(err) => return PageError::from(err).into_response(),
    };
    let csrf = state.web.csrf_token(&claims.csrf_binding());
    let (mut parts, body) = request.into_parts();
    let body = if is_post {
        let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
            return PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
                .into_response();
        };
        let sent = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        if !state.web.csrf_ok(&claims.csrf_binding(), sent.as_deref()) {
            return PageError::forbidden().into_response();
        }
        Body::from(bytes)
    } else {
        body
    };
    let user = ConsoleUser {
        principal: Principal {
            key_id: key.id,
            name: key.name,
            role: key.role,
            tenant: key.tenant_id,
        },
        csrf,
        session: claims.clone(),
    };
    parts.extensions.insert(user);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if at - claims.seen >= 60 {
        let renewed = Claims { seen: at, ..claims };
        set_cookie(
            &mut response,
            &state.web.set_cookie(Some(&state.web.seal(&renewed))),
        );
    }
    response
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::try_from(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `GET /console`: the operator's tenants, or the tenant key's own tenant.
async fn home(user: ConsoleUser) -> Response {
    match user.principal.tenant {
        Some(t) => see_other(&format!("/console/tenants/{t}")),
        None => see_other("/console/tenants"),
    }
}
