//! The web pages, apart from the JSON API: the connect page end users reach through a
//! connect link (`connect`) and the admin console at `/console` (`console`). Pages are
//! rendered on the server with maud and carry no script; the one style sheet is
//! embedded in the binary. Every page gets the headers of `headers` (a strict
//! Content-Security-Policy, `frame-ancestors` as configured, no referrer, no caching);
//! every form carries a CSRF token (`csrf`) bound to its connect session or console
//! session; console sessions are signed cookies (`session`). No page renders a secret.

mod connect;
mod console;
pub mod csrf;
mod headers;
mod page;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use secrecy::SecretBox;

use crate::crypto::Keyring;
use crate::http::AppState;

/// How the web pages behave; every field has a default fit for production.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// The CSP `frame-ancestors` sources that may embed the pages (`'none'`: none,
    /// and `X-Frame-Options: DENY` as well).
    pub frame_ancestors: String,
    /// A console session ends after this long without a request.
    pub idle: Duration,
    /// A console session ends this long after sign-in, however busy.
    pub absolute: Duration,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            frame_ancestors: "'none'".to_owned(),
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// What the pages share: their options, whether cookies are `Secure` (the public URL
/// is https), and the key that signs session cookies and CSRF tokens (derived from the
/// master key, so every replica agrees).
pub struct Web {
    pub options: WebOptions,
    pub secure_cookies: bool,
    key: SecretBox<[u8; 32]>,
}

impl Web {
    pub fn new(keyring: &Keyring, public_url: &url::Url, options: WebOptions) -> Self {
        Self {
            options,
            secure_cookies: public_url.scheme() == "https",
            key: keyring.derive("web/v1"),
        }
    }
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("options", &self.options)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

/// The page the OAuth callback shows a browser (it asks for `text/html`): the outcome
/// in words and a button back to the app URL `back`.
pub async fn oauth_result(
    state: &AppState,
    provider: &str,
    back: &url::Url,
) -> axum::response::Response {
    connect::result::page(state, provider, back).await
}

/// The page the OAuth callback shows a browser when its state names no connect
/// session.
pub fn oauth_unknown(state: &AppState) -> axum::response::Response {
    connect::result::unknown(state)
}

/// Whether a request comes from a person's browser (it accepts HTML), rather than
/// from a program that follows redirects itself.
pub fn wants_page(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The shared part of [`AppState`].
pub type SharedWeb = Arc<Web>;

/// The pages' routes, with their headers.
pub fn routes(state: AppState) -> Router<AppState> {
    let console = console::routes(state.clone());
    Router::new()
        .route("/connect/{token}", get(connect::page).post(connect::post))
        .route("/assets/style.css", get(page::style))
        .merge(console)
        .layer(axum::middleware::from_fn_with_state(state, headers::apply))
}
