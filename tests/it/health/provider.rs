//! A provider played by a local HTTP server (axum): its health-check endpoint answers
//! as the test sets it (200, any status, a timeout, Slack's `ok: false`, a redirect)
//! and counts the requests of each credential.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Ok,
    Status(u16),
    /// Answers long after any test's timeout.
    Slow,
    /// `200 {"ok": true}`.
    SlackOk,
    /// `200 {"ok": false, "error": …}`.
    SlackError(&'static str),
    /// `302` to `/landing` on the same server.
    Redirect,
    /// 200 for this one credential (the `X-Api-Key` value), 401 for any other.
    Accept(&'static str),
}

struct Inner {
    mode: Mode,
    delay: Duration,
    /// Requests by the credential they carried (the `X-Api-Key` value, or the whole
    /// `Authorization` value).
    hits: HashMap<String, u32>,
    landing: u32,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

pub struct Provider {
    pub base: String,
    shared: Shared,
    _task: tokio::task::JoinHandle<()>,
}

impl Provider {
    pub async fn start() -> Self {
        let shared = Shared(Arc::new(Mutex::new(Inner {
            mode: Mode::Ok,
            delay: Duration::ZERO,
            hits: HashMap::new(),
            landing: 0,
        })));
        let app = Router::new()
            .route("/me", any(me))
            .route("/landing", get(landing))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            shared,
            _task: task,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.shared.0.lock().unwrap().mode = mode;
    }

    /// Every answer waits this long first (widens race windows).
    pub fn delay(&self, delay: Duration) {
        self.shared.0.lock().unwrap().delay = delay;
    }

    /// Requests that carried `credential` (an API key, or a whole header value).
    pub fn hits(&self, credential: &str) -> u32 {
        let inner = self.shared.0.lock().unwrap();
        inner.hits.get(credential).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> u32 {
        self.shared.0.lock().unwrap().hits.values().sum()
    }

    /// Requests that followed the redirect.
    pub fn landing_hits(&self) -> u32 {
        self.shared.0.lock().unwrap().landing
    }
}

async fn me(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let credential = headers
        .get("x-api-key")
        .or_else(|| headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (mode, delay) = {
        let mut inner = shared.0.lock().unwrap();
        *inner.hits.entry(credential.clone()).or_default() += 1;
        (inner.mode, inner.delay)
    };
    tokio::time::sleep(delay).await;
    match mode {
        Mode::Ok => Json(json!({"id": "acct_1"})).into_response(),
        Mode::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap();
            // Providers echo requests in their errors: the credential must not travel on.
            (
                status,
                Json(json!({"message": format!("rejected {credential}")})),
            )
                .into_response()
        }
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Json(json!({"id": "acct_1"})).into_response()
        }
        Mode::SlackOk => Json(json!({"ok": true, "team": "T1"})).into_response(),
        Mode::SlackError(error) => Json(json!({"ok": false, "error": error})).into_response(),
        Mode::Accept(key) if key == credential => Json(json!({"id": "acct_1"})).into_response(),
        Mode::Accept(_) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "bad key"})),
        )
            .into_response(),
        Mode::Redirect => {
            (StatusCode::FOUND, [(header::LOCATION, "/landing")], "moved").into_response()
        }
    }
}

async fn landing(State(shared): State<Shared>) -> Response {
    shared.0.lock().unwrap().landing += 1;
    Json(json!({"id": "acct_1"})).into_response()
}
