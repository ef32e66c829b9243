//! The secret recorder: every secret a test writes, receives or sees is appended to
//! `target/test-logs/secrets-<pid>.txt`, one per line, and `.ci/scan-secrets` fails
//! when any of them appears in a log there. Values shorter than [`MIN_LEN`] are not
//! recorded: they would match by chance.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use serde_json::Value;

/// The shortest value recorded (and scanned for).
pub const MIN_LEN: usize = 8;

struct Recorder {
    file: Option<File>,
    seen: HashSet<String>,
}

static RECORDER: Mutex<Option<Recorder>> = Mutex::new(None);

/// Records `secret` for the log scan. Surrounding whitespace is ignored; a value
/// spanning several lines is recorded line by line.
pub fn record(secret: &str) {
    let mut guard = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    let recorder = guard.get_or_insert_with(|| {
        let dir = super::logs::log_dir();
        let file = std::fs::create_dir_all(&dir).ok().and_then(|_| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("secrets-{}.txt", std::process::id())))
                .ok()
        });
        Recorder {
            file,
            seen: HashSet::new(),
        }
    });
    for line in secret.lines().map(str::trim) {
        if line.len() < MIN_LEN || !recorder.seen.insert(line.to_owned()) {
            continue;
        }
        if let Some(file) = recorder.file.as_mut() {
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// Every secret recorded so far in this process.
pub fn all() -> Vec<String> {
    let guard = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    guard
        .as_ref()
        .map(|r| r.seen.iter().cloned().collect())
        .unwrap_or_default()
}

/// Records each of `secrets`.
pub fn record_all<'a>(secrets: impl IntoIterator<Item = &'a str>) {
    for secret in secrets {
        record(secret);
    }
}

/// JSON keys whose string values are secrets wherever they appear in a request.
const SECRET_KEYS: [&str; 10] = [
    "credential",
    "api_key",
    "password",
    "client_secret",
    "access_token",
    "refresh_token",
    "id_token",
    "webhook_secret",
    "secret",
    "token",
];

/// Keys inside a credential that name it rather than hold a secret; the OAuth client
/// id, for one, is in every authorization URL.
const PUBLIC_KEYS: [&str; 3] = ["kind", "client_id", "username"];

/// Records every secret in a JSON request body: the strings under [`SECRET_KEYS`],
/// and every string inside a `credential` except its [`PUBLIC_KEYS`].
pub fn record_request_json(body: &Value) {
    walk(body, false);
}

fn walk(value: &Value, secret: bool) {
    match value {
        Value::String(s) if secret => record(s),
        Value::Array(items) => items.iter().for_each(|v| walk(v, secret)),
        Value::Object(map) => {
            for (key, v) in map {
                let key = key.as_str();
                let child = if PUBLIC_KEYS.contains(&key) {
                    false
                } else {
                    secret || SECRET_KEYS.contains(&key)
                };
                walk(v, child);
            }
        }
        _ => {}
    }
}

/// Records the secrets an API response hands out: a new API key's `secret`, the
/// `fields` of a credential read, and the token of a `connect_url`.
pub fn record_response_json(body: &Value) {
    if let Some(secret) = body["secret"].as_str() {
        record(secret);
    }
    if let Some(secret) = body["webhook_secret"].as_str() {
        record(secret);
    }
    if let Some(fields) = body["fields"].as_object() {
        for (key, v) in fields {
            if let Some(v) = v.as_str()
                && !PUBLIC_KEYS.contains(&key.as_str())
            {
                record(v);
            }
        }
    }
    if let Some(url) = body["connect_url"].as_str() {
        record_url(url);
    }
}

/// Query parameters that carry a secret: OAuth codes and states, PKCE verifiers.
const SECRET_PARAMS: [&str; 6] = [
    "code",
    "state",
    "code_verifier",
    "access_token",
    "refresh_token",
    "id_token",
];

/// Records the secrets a URL (absolute, or a path with a query) carries: a connect
/// link's token (`/connect/<token>`) and the values of [`SECRET_PARAMS`].
pub fn record_url(url: &str) {
    let parsed =
        url::Url::parse(url).or_else(|_| url::Url::parse("http://path.invalid")?.join(url));
    let Ok(parsed) = parsed else {
        return;
    };
    let mut segments = parsed.path_segments().into_iter().flatten();
    while let Some(segment) = segments.next() {
        if segment == "connect"
            && let Some(token) = segments.next()
        {
            record(token);
        }
    }
    for (key, value) in parsed.query_pairs() {
        if SECRET_PARAMS.contains(&key.as_ref()) {
            record(&value);
        }
    }
}

/// Every secret this process recorded so far.
pub fn recorded() -> Vec<String> {
    let guard = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    guard
        .as_ref()
        .map(|r| r.seen.iter().cloned().collect())
        .unwrap_or_default()
}
