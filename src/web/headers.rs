//! The headers every page gets: a Content-Security-Policy that allows no script, no
//! plug-in and no foreign style (a page that needs a wider `form-action` sets its own
//! policy), `frame-ancestors` as configured, `X-Frame-Options: DENY` unless embedding is
//! allowed, `Referrer-Policy: no-referrer`, `nosniff`, and `Cache-Control: no-store`.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::http::AppState;

/// The policy of a page whose forms post to `form_action` (space-separated sources).
pub fn csp(frame_ancestors: &str, form_action: &str) -> String {
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; \
         form-action {form_action}; frame-ancestors {frame_ancestors}"
    )
}

pub async fn apply(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    secure(&mut response, &state.web.options.frame_ancestors);
    response
}

/// Sets the pages' headers on `response` (a page served outside [`apply`]'s routes).
pub fn secure(response: &mut Response, frame_ancestors: &str) {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(value) = HeaderValue::try_from(csp(frame_ancestors, "'self'"))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    if frame_ancestors.trim() == "'none'" {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}
