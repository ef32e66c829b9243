//! Outbound events end to end: each change writes its event in its own transaction
//! (and a rolled-back change none), endpoints over the API (secrets shown once, URL
//! rules, roles), and delivery to a real receiver (`tests/webhooks/receiver.mjs`) that
//! verifies every delivery with the Standard Webhooks library — an implementation
//! independent of connvault's signer: retries on a compressed schedule, Retry-After,
//! 410, disabling after failing too long, secret rotation, two workers sharing the
//! work, a process killed mid-delivery, and no secret in any body.

mod api;
mod delivery;
mod emitted;
mod replicas;

use std::process::Stdio;
use std::time::Duration;

use connvault::crypto::Keyring;
use connvault::services::events::EventOptions;
use connvault::services::events::deliver::Deliverer;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::TestDb;

/// The receiver: a Node.js HTTP server verifying with `standardwebhooks`.
pub struct Receiver {
    _child: tokio::process::Child,
    pub base: String,
    http: reqwest::Client,
}

impl Receiver {
    pub async fn start() -> Self {
        crate::webhooks::ensure_installed();
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks");
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("receiver.mjs"))
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts the receiver");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the receiver's port");
            line.trim_start_matches("listening on ").trim().to_owned()
        })
        .await
        .expect("the receiver listens");
        Self {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// Configures hook `name` (secrets it verifies with, answers it gives); its URL.
    pub async fn hook(&self, name: &str, secrets: &[&str], script: Value) -> String {
        let r = self
            .http
            .post(format!("{}/_control/hooks/{name}", self.base))
            .json(&json!({ "secrets": secrets, "script": script }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        format!("{}/hooks/{name}", self.base)
    }

    /// Every delivery received so far.
    pub async fn log(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/_control/log", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Deliveries received by hook `name`.
    pub async fn of(&self, name: &str) -> Vec<Value> {
        self.log()
            .await
            .into_iter()
            .filter(|d| d["hook"] == name)
            .collect()
    }

    /// Whether the library accepts `delivery` (as logged) `skew_secs` later.
    pub async fn verifies_later(&self, secret: &str, delivery: &Value, skew_secs: i64) -> Value {
        let headers = json!({
            "webhook-id": delivery["id"],
            "webhook-timestamp": delivery["timestamp"],
            "webhook-signature": delivery["signature"],
        });
        self.verify_with(secret, headers, delivery["body"].clone(), skew_secs)
            .await
    }

    pub async fn verify_with(&self, secret: &str, headers: Value, body: Value, skew: i64) -> Value {
        self.http
            .post(format!("{}/_control/verify", self.base))
            .json(&json!({ "secret": secret, "headers": headers, "body": body, "skew_secs": skew }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until `done` holds of the log (at most 60 s); the log then.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        for _ in 0..1200 {
            let log = self.log().await;
            if done(&log) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver never saw {what}: {:#?}", self.log().await);
    }
}

/// Every delivery in `log` was verified by the library with at least one secret, and
/// none was refused.
pub fn assert_all_verified(log: &[Value]) {
    for d in log {
        assert!(
            !d["verified_with"].as_array().unwrap().is_empty(),
            "the standardwebhooks library rejected a delivery: {d:#}"
        );
        assert_eq!(d["content_type"], "application/json");
    }
}

/// No body the receiver got holds any secret this test process recorded (API keys,
/// credentials, signing secrets, tokens), nor anything secret-looking.
pub fn assert_no_secret_in_bodies(log: &[Value]) {
    let recorded = crate::support::secrets::recorded();
    for d in log {
        let body = d["body"].as_str().unwrap();
        for marker in [
            "whsec_", "sk_live_", "sk_test_", "gho_", "ghr_", "cv_", "cvr_",
        ] {
            assert!(
                !body.contains(marker),
                "an event body holds {marker}: {body}"
            );
        }
        for secret in &recorded {
            assert!(
                !body.contains(secret.as_str()),
                "an event body holds a recorded secret: {body}"
            );
        }
    }
}

/// Options for tests: the schedule compressed, short timeouts.
pub fn fast_options() -> EventOptions {
    EventOptions {
        schedule: connvault::events::RetrySchedule::parse("0,100ms,100ms,100ms").unwrap(),
        timeout: Duration::from_secs(3),
        poll: Duration::from_millis(50),
        ..EventOptions::default()
    }
}

pub fn deliverer(t: &TestDb, keyring: &Keyring, options: EventOptions) -> Deliverer {
    Deliverer::new(t.db.clone(), keyring.clone(), options)
}

/// Runs passes until `done` holds of the receiver's log (at most 60 s).
pub async fn deliver_until(
    worker: &Deliverer,
    receiver: &Receiver,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..600 {
        worker.pass().await.expect("a delivery pass");
        let log = receiver.log().await;
        if done(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never delivered {what}: {:#?}", receiver.log().await);
}

/// The deliveries of `id` (`webhook-id`) to hook `hook` in `log`.
pub fn count(log: &[Value], hook: &str, id: &str) -> usize {
    log.iter()
        .filter(|d| d["hook"] == hook && d["id"] == id)
        .count()
}

/// The parsed body of a logged delivery.
pub fn body(d: &Value) -> Value {
    serde_json::from_str(d["body"].as_str().unwrap()).unwrap()
}
