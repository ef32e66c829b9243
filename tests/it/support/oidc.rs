//! A real OAuth 2.0 / OpenID Connect authorization server for the tests: the
//! `oidc-provider` package (tests/oidc), started on a free port, with automatic login
//! and consent, refresh-token rotation and runtime-adjustable token lifetimes. Its
//! `/__test/*` endpoints count token requests, revoke grants and inject failures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::secrets;

/// The redirect URI connvault registers when its public URL is the default.
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/oauth/callback/testidp";
pub const CLIENT_ID: &str = "connvault";
pub const CLIENT_SECRET: &str = "client-secret-oidc-0123456789";
pub const CC_CLIENT_ID: &str = "connvault-cc";
pub const CC_CLIENT_SECRET: &str = "client-secret-cc-0123456789";
pub const RETURN_URL: &str = "https://app.example/connected";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

static INSTALL: Mutex<bool> = Mutex::new(false);

/// Installs the server's npm dependencies from the lock file once, if missing.
fn ensure_installed() {
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if *done || dir().join("node_modules/oidc-provider").is_dir() {
        *done = true;
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(dir())
        .status()
        .expect("npm runs (Node.js is needed for the OAuth tests)");
    assert!(status.success(), "npm ci in tests/oidc failed");
    *done = true;
}

pub struct Oidc {
    pub issuer: String,
    _child: tokio::process::Child,
    http: reqwest::Client,
}

impl Oidc {
    /// A fresh server whose code-flow client accepts `redirect_uris`.
    pub async fn start_with(redirect_uris: &[&str]) -> Self {
        ensure_installed();
        secrets::record_all([CLIENT_SECRET, CC_CLIENT_SECRET]);
        // The server records every token and code it issues or receives, and every
        // PKCE verifier and state, for the scan of the logs.
        let secrets_file = super::logs::unique_file("secrets-oidc", "txt");
        let clients = json!([
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": redirect_uris,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
            {
                "client_id": CC_CLIENT_ID,
                "client_secret": CC_CLIENT_SECRET,
                "grant_types": ["client_credentials"],
                "response_types": [],
                "redirect_uris": [],
            }
        ]);
        let mut child = tokio::process::Command::new("node")
            .arg(dir().join("server.mjs"))
            .env("PORT", "0")
            .env("OIDC_CLIENTS", clients.to_string())
            .env("SECRETS_FILE", &secrets_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(issuer) = line.strip_prefix("OIDC_READY ") {
                    return issuer.trim().to_owned();
                }
            }
            panic!("the OIDC server exited before it was ready");
        })
        .await
        .expect("the OIDC server starts");
        Self {
            issuer,
            _child: child,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub async fn start() -> Self {
        Self::start_with(&[REDIRECT_URI]).await
    }

    async fn post_json(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// Token requests so far, by grant type.
    pub async fn token_requests(&self) -> BTreeMap<String, u64> {
        let stats: Value = self
            .http
            .get(format!("{}/__test/stats", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        serde_json::from_value(stats["token_requests"].clone()).unwrap_or_default()
    }

    pub async fn count(&self, grant: &str) -> u64 {
        self.token_requests().await.get(grant).copied().unwrap_or(0)
    }

    pub async fn reset_stats(&self) {
        self.post_json("/__test/reset-stats", json!({})).await;
    }

    /// Sets access-token (code flow and client credentials) lifetimes, in seconds.
    pub async fn set_ttl(&self, access: u64, client_credentials: u64) {
        self.post_json(
            "/__test/config",
            json!({"access_ttl": access, "client_credentials_ttl": client_credentials}),
        )
        .await;
    }

    /// Delays every token response by `ms`: widens race windows.
    pub async fn set_token_delay(&self, ms: u64) {
        self.post_json("/__test/config", json!({"token_delay_ms": ms}))
            .await;
    }

    /// Whether refreshes rotate the refresh token (and return one).
    pub async fn set_rotation(&self, rotate: bool) {
        self.post_json("/__test/config", json!({"rotate_refresh_tokens": rotate}))
            .await;
    }

    /// The next `count` token requests answer `status`.
    pub async fn fail_tokens(&self, status: u16, count: u32) {
        self.post_json(
            "/__test/fail-token",
            json!({"status": status, "count": count}),
        )
        .await;
    }

    /// The next `count` token requests answer `status` with this OAuth `error` code.
    pub async fn fail_tokens_with(&self, status: u16, count: u32, error: &str) {
        self.post_json(
            "/__test/fail-token",
            json!({"status": status, "count": count, "error": error}),
        )
        .await;
    }

    pub async fn revoke_grants(&self) {
        self.post_json("/__test/revoke-grants", json!({})).await;
    }

    /// Whether the server considers the access token valid (introspection).
    pub async fn accepts(&self, token: &str) -> bool {
        secrets::record(token);
        let r: Value = self
            .http
            .post(format!("{}/token/introspection", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["active"] == json!(true)
    }

    /// Presents a refresh token at the token endpoint; the answer's `error`, if any.
    pub async fn refresh_error(&self, refresh_token: &str) -> Option<String> {
        secrets::record(refresh_token);
        let r: Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["error"].as_str().map(str::to_owned)
    }

    /// Plays the end user's browser from the provider's authorization URL until the
    /// provider redirects to `redirect_prefix`; returns that redirect. Cookies are
    /// carried by hand.
    pub async fn authorize(&self, authorization_url: &str, redirect_prefix: &str) -> String {
        let mut jar: BTreeMap<String, String> = BTreeMap::new();
        let mut url = authorization_url.to_owned();
        for _ in 0..10 {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let mut request = self.http.get(&url);
            if !cookie.is_empty() {
                request = request.header("cookie", cookie);
            }
            let r = request.send().await.unwrap();
            for set in r.headers().get_all("set-cookie") {
                let pair = set.to_str().unwrap().split(';').next().unwrap();
                if let Some((k, v)) = pair.split_once('=') {
                    jar.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
            let status = r.status();
            let location = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            let Some(location) = location else {
                panic!(
                    "{url} answered {status} without a redirect: {}",
                    r.text().await.unwrap()
                );
            };
            let next = if location.starts_with("http") {
                location
            } else {
                format!("{}{location}", self.issuer)
            };
            secrets::record_url(&next);
            if next.starts_with(redirect_prefix) {
                return next;
            }
            url = next;
        }
        panic!("too many redirects");
    }
}

/// The query parameters of a URL.
pub fn query(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
