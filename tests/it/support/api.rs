//! `TestApp`: the real router over a test database, with an operator key, and a
//! helper that keeps every response body and records every secret that goes in or
//! out (`support::secrets`) for the scan of the logs.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use connvault::http::{AppState, router};
use connvault::models::api_key::Role;
use connvault::repositories::api_keys;
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::Value;
use tower::ServiceExt;

use super::{TestDb, secrets};

pub struct TestApp {
    pub t: TestDb,
    pub app: Router,
    pub operator: String,
    /// Every response body seen, with the request that produced it.
    pub bodies: Arc<Mutex<Vec<(String, String)>>>,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub content_type: String,
    pub json: Value,
    pub location: Option<String>,
    /// The body as text (a web page's HTML).
    pub text: String,
}

impl TestApp {
    pub async fn new(t: TestDb) -> Self {
        Self::with_state(t, |state| state).await
    }

    /// The router over the state `adjust` makes of the default one.
    pub async fn with_state(t: TestDb, adjust: impl FnOnce(AppState) -> AppState) -> Self {
        let keyring = t.keyring().await;
        let app = router(adjust(AppState::new(t.db.clone(), keyring)));
        let operator = api_keys::create(&t.db, None, Role::Operator, "test operator")
            .await
            .unwrap()
            .secret
            .expose_secret()
            .to_owned();
        secrets::record(&operator);
        Self {
            t,
            app,
            operator,
            bodies: Default::default(),
        }
    }

    /// Sends a request; `body` is sent as JSON when present.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut builder = Request::builder().method(method.clone()).uri(path);
        if let Some(key) = key {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(b) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => builder.body(Body::empty()),
        }
        .unwrap();
        self.send(request, &format!("{method} {path}")).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: Request<Body>, label: &str) -> Response {
        let request = record_request(request).await;
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.bodies
            .lock()
            .unwrap()
            .push((label.to_owned(), text.clone()));
        let text_copy = text.clone();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        secrets::record_response_json(&json);
        if let Some(location) = &location {
            secrets::record_url(location);
        }
        Response {
            status,
            headers,
            content_type,
            json,
            location,
            text: text_copy,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// A tenant made through the API; returns its id.
    pub async fn tenant(&self, name: &str) -> String {
        let r = self
            .post(
                "/v1/tenants",
                &self.operator,
                serde_json::json!({ "name": name }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json["id"].as_str().unwrap().to_owned()
    }

    /// A key of `tenant` with `role`, made through the API; returns the secret.
    pub async fn key(&self, tenant: &str, role: &str) -> String {
        let r = self
            .post(
                &format!("/v1/tenants/{tenant}/api-keys"),
                &self.operator,
                serde_json::json!({ "name": format!("{role} key"), "role": role }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let secret = r.json["secret"].as_str().unwrap().to_owned();
        secrets::record(&secret);
        secret
    }
}

/// Records the secrets a request carries (its bearer key, a connect-link token or an
/// OAuth code or state in its URI, credentials in its JSON body) and gives it back.
async fn record_request(request: Request<Body>) -> Request<Body> {
    let (parts, body) = request.into_parts();
    if let Some(auth) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let key = auth.split_once(' ').map_or(auth, |(_, key)| key);
        secrets::record(key);
    }
    secrets::record_url(&parts.uri.to_string());
    let bytes = body.collect().await.unwrap().to_bytes();
    if let Ok(json) = serde_json::from_slice::<Value>(&bytes) {
        secrets::record_request_json(&json);
    }
    Request::from_parts(parts, Body::from(bytes))
}

/// Markers every secret the tests write carries.
const SECRET_MARKERS: [&str; 9] = [
    "sk_live_",
    "sk_test_",
    "gho_",
    "ghr_",
    "hunter2",
    "whsec_",
    "glpat-",
    "client-secret-",
    "password-",
];

impl Drop for TestApp {
    /// After every API test: no response body but a credential read holds a secret.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let bodies = self.bodies.lock().unwrap();
        for (label, body) in bodies.iter() {
            if label.starts_with("GET ") && label.ends_with("/credentials") {
                continue;
            }
            // The one answer that shows a generated webhook secret, once (the tests of
            // repository connections check which of these answers may).
            if label.starts_with("PUT ") && label.ends_with("/repositories") {
                continue;
            }
            // The API's document and its page describe the signing secrets' `whsec_`
            // form (static text, no secret of any test).
            if label == "GET /openapi.json" || label == "GET /docs" {
                continue;
            }
            // An event endpoint's signing secret, shown at creation and rotation.
            let path = label.split('?').next().unwrap_or(label);
            if path.starts_with("POST ")
                && (path.ends_with("/event-endpoints") || path.ends_with("/rotate-secret"))
            {
                continue;
            }
            for marker in SECRET_MARKERS {
                assert!(
                    !body.contains(marker),
                    "{label} returned something secret-looking ({marker})"
                );
            }
        }
    }
}

impl Response {
    /// Asserts a problem response with this status and code.
    pub fn problem(&self, status: StatusCode, code: &str) -> &Self {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.json
        );
        assert_eq!(self.json["code"], code, "{}", self.json);
        assert_eq!(self.json["status"], status.as_u16());
        self
    }
}
