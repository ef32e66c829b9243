//! Inbound webhook verification against independent signers and real payloads: the
//! npm package in `tests/webhooks` signs deliveries the way each service does
//! (GitHub's own `@octokit/webhooks-methods`, the `standardwebhooks` library, Node's
//! crypto for Bitbucket) over real GitHub payloads (`@octokit/webhooks-examples`) and
//! the services' documented GitLab and Bitbucket payloads; `connvault::webhooks::verify`
//! must accept exactly those and refuse every alteration.

mod bitbucket;
mod github;
mod gitlab;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use connvault::models::ServiceType;
use connvault::webhooks::{self, Refusal, VerifiedDelivery};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::support::secrets;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks")
}

static INSTALL: Mutex<bool> = Mutex::new(false);

/// Installs the signers from the lock file once, if missing.
pub fn ensure_installed() {
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if *done || dir().join("node_modules/standardwebhooks").is_dir() {
        *done = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(dir())
        .status()
        .expect("npm runs (Node.js is needed for the webhook tests)");
    assert!(status.success(), "npm ci in tests/webhooks failed");
    *done = true;
}

/// One delivery as the service would send it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: String,
    pub body: Vec<u8>,
    pub headers: HeaderMap,
}

impl Delivery {
    pub fn verify(
        &self,
        service: ServiceType,
        secrets: &[&SecretString],
    ) -> Result<VerifiedDelivery, Refusal> {
        self.verify_at(service, secrets, Utc::now())
    }

    pub fn verify_at(
        &self,
        service: ServiceType,
        secrets: &[&SecretString],
        now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery, Refusal> {
        let owned: Vec<SecretString> = secrets.iter().map(|s| (*s).clone()).collect();
        webhooks::verify(service, &owned, &self.headers, &self.body, now)
    }

    /// The same delivery without `name`.
    pub fn without(&self, name: &str) -> Self {
        let mut copy = self.clone();
        copy.headers.remove(name);
        copy
    }

    /// The same delivery with `name` set to `value` (replacing it).
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut copy = self.clone();
        copy.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        copy
    }

    /// The same delivery with `value` appended as a second `name` header.
    pub fn with_another(&self, name: &str, value: &str) -> Self {
        let mut copy = self.clone();
        copy.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        copy
    }

    /// The same headers over another body.
    pub fn with_body(&self, body: &[u8]) -> Self {
        Self {
            body: body.to_vec(),
            ..self.clone()
        }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
}

/// Runs the signers over `requests` (a JSON array); one list of deliveries per request.
pub fn sign(requests: Value) -> Vec<Vec<Delivery>> {
    ensure_installed();
    let mut child = Command::new("node")
        .arg(dir().join("sign.mjs"))
        .current_dir(dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(requests.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("node runs");
    assert!(out.status.success(), "sign.mjs failed");
    let results: Vec<Vec<Value>> =
        serde_json::from_slice(&out.stdout).expect("sign.mjs answers JSON");
    results
        .into_iter()
        .map(|list| list.into_iter().map(delivery).collect())
        .collect()
}

/// The one delivery of a single request.
pub fn sign_one(request: Value) -> Delivery {
    sign(Value::Array(vec![request])).remove(0).remove(0)
}

fn delivery(value: Value) -> Delivery {
    let mut headers = HeaderMap::new();
    for (name, v) in value["headers"].as_object().expect("headers") {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
        );
    }
    Delivery {
        event: value["event"].as_str().unwrap().to_owned(),
        body: value["body"].as_str().unwrap().as_bytes().to_vec(),
        headers,
    }
}

/// A new secret, recorded for the log scan.
pub fn new_secret() -> SecretString {
    let secret = webhooks::generate_secret();
    secrets::record(secret.expose_secret());
    secret
}

/// A fixed secret, recorded for the log scan.
pub fn secret(value: &str) -> SecretString {
    secrets::record(value);
    SecretString::from(value.to_owned())
}

/// A documented payload from `tests/webhooks/payloads`.
pub fn payload(name: &str) -> String {
    std::fs::read_to_string(dir().join("payloads").join(name)).expect("payload file")
}

/// `body` with one byte changed, still valid JSON when it was.
pub fn tampered(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let pos = text
        .find(|c: char| c.is_ascii_digit())
        .expect("a digit to change");
    let mut bytes = body.to_vec();
    bytes[pos] = if bytes[pos] == b'9' {
        b'8'
    } else {
        bytes[pos] + 1
    };
    bytes
}

#[test]
fn generated_secrets_are_fresh_signing_keys() {
    use base64::Engine;
    let a = new_secret();
    let b = new_secret();
    assert_ne!(a.expose_secret(), b.expose_secret());
    for s in [&a, &b] {
        let encoded = s
            .expose_secret()
            .strip_prefix("whsec_")
            .expect("whsec_ form");
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        assert_eq!(key.len(), 32);
    }
    // Debug never shows it.
    assert!(!format!("{a:?}").contains(a.expose_secret()));
}
