//! The Standard Webhooks scheme, as GitLab's signing tokens use it: `webhook-id`,
//! `webhook-timestamp` (Unix seconds, within [`TOLERANCE_SECS`] of now either way)
//! and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256(key,
//! "id.timestamp.body")>`; the key is the secret's `whsec_<base64>` decoded.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::Refusal;
use super::headers::{MAX_VALUE_LEN, single};
use super::secret::SIGNING_KEY_PREFIX;

/// How far a delivery's timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// Most signatures one header may list (a sender rotating keys sends two or three).
const MAX_SIGNATURES: usize = 16;

/// The index of the secret that signed the delivery, and its signed `webhook-id`.
pub(super) fn verify<'h>(
    headers: &'h HeaderMap,
    secrets: &[SecretString],
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(usize, &'h str), Refusal> {
    let signature = single(headers, "webhook-signature", Refusal::MalformedSignature)?
        .ok_or(Refusal::MissingSignature)?;
    let id = single(headers, "webhook-id", Refusal::InvalidHeader)?
        .filter(|id| !id.is_empty())
        .ok_or(Refusal::MissingSigningHeader)?;
    if id.len() > MAX_VALUE_LEN {
        return Err(Refusal::InvalidHeader);
    }
    let timestamp = single(headers, "webhook-timestamp", Refusal::MalformedTimestamp)?
        .ok_or(Refusal::MissingSigningHeader)?;
    let seconds: i64 = Some(timestamp)
        .filter(|t| (1..=12).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(Refusal::MalformedTimestamp)?;
    let age = now.timestamp() - seconds;
    if age > TOLERANCE_SECS {
        return Err(Refusal::StaleTimestamp);
    }
    if age < -TOLERANCE_SECS {
        return Err(Refusal::FutureTimestamp);
    }
    let given: Vec<Vec<u8>> = signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .filter(|s| s.len() == 32)
        .take(MAX_SIGNATURES)
        .collect();
    if given.is_empty() {
        return Err(Refusal::MalformedSignature);
    }
    let keys: Vec<(usize, Zeroizing<Vec<u8>>)> = secrets
        .iter()
        .enumerate()
        .filter_map(|(i, secret)| {
            let encoded = secret.expose_secret().strip_prefix(SIGNING_KEY_PREFIX)?;
            let key = Zeroizing::new(STANDARD.decode(encoded).ok()?);
            (!key.is_empty()).then_some((i, key))
        })
        .collect();
    if keys.is_empty() {
        return Err(Refusal::NoSigningKey);
    }
    for (index, key) in &keys {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        if given.iter().any(|g| bool::from(expected[..].ct_eq(g))) {
            return Ok((*index, id));
        }
    }
    Err(Refusal::SignatureMismatch)
}
