//! [`verify`]: one delivery, one service, the connection's secrets.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::headers::{keep, label, single};
use super::{Refusal, Scheme, VerifiedDelivery, hmac_hex, standard};
use crate::models::ServiceType;

const GITHUB_KEPT: &[&str] = &[
    "x-github-delivery",
    "x-github-event",
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "user-agent",
];
const GITLAB_KEPT: &[&str] = &[
    "x-gitlab-event",
    "x-gitlab-event-uuid",
    "x-gitlab-webhook-uuid",
    "x-gitlab-instance",
    "idempotency-key",
    "webhook-id",
    "webhook-timestamp",
    "user-agent",
];
const BITBUCKET_KEPT: &[&str] = &[
    "x-request-uuid",
    "x-event-key",
    "x-hook-uuid",
    "x-attempt-number",
    "user-agent",
];

/// Verifies a delivery of `service` against `secrets` (the current one first, then,
/// while a rotation is under way, the previous one) over the raw body, before anything
/// reads the body. `now` bounds the Standard Webhooks timestamp.
///
/// - GitHub: `X-Hub-Signature-256`; `X-GitHub-Delivery`, `X-GitHub-Event`.
/// - GitLab: `webhook-signature` by the Standard Webhooks scheme, else (or when that
///   fails) `X-Gitlab-Token` equal to a secret; the delivery id is the signed
///   `webhook-id`, or for a token `Idempotency-Key` (stable across GitLab's retries),
///   else `webhook-id`; `X-Gitlab-Event`.
/// - Bitbucket Cloud: `X-Hub-Signature`; `X-Request-UUID`, `X-Event-Key`.
///
/// Signatures and tokens are compared in constant time.
pub fn verify(
    service: ServiceType,
    secrets: &[SecretString],
    headers: &HeaderMap,
    raw_body: &[u8],
    now: DateTime<Utc>,
) -> Result<VerifiedDelivery, Refusal> {
    if secrets.iter().all(|s| s.expose_secret().is_empty()) {
        return Err(Refusal::NoSecret);
    }
    let (scheme, secret_index, delivery_id, event, kept) = match service {
        ServiceType::GitHub => {
            let signature = single(headers, "x-hub-signature-256", Refusal::MalformedSignature)?;
            let index = hmac_hex::verify(signature, secrets, raw_body)?;
            let id = label(headers, "x-github-delivery", Refusal::MissingDeliveryId)?;
            (
                Scheme::GitHubHmacSha256,
                index,
                id,
                "x-github-event",
                GITHUB_KEPT,
            )
        }
        ServiceType::Bitbucket => {
            let signature = single(headers, "x-hub-signature", Refusal::MalformedSignature)?;
            let index = hmac_hex::verify(signature, secrets, raw_body)?;
            let id = label(headers, "x-request-uuid", Refusal::MissingDeliveryId)?;
            (
                Scheme::BitbucketHmacSha256,
                index,
                id,
                "x-event-key",
                BITBUCKET_KEPT,
            )
        }
        ServiceType::GitLab => {
            let (scheme, index, id) = gitlab(headers, secrets, raw_body, now)?;
            (scheme, index, id, "x-gitlab-event", GITLAB_KEPT)
        }
    };
    Ok(VerifiedDelivery {
        delivery_id,
        event_type: label(headers, event, Refusal::MissingEventType)?,
        scheme,
        secret_index,
        headers: keep(headers, kept),
    })
}

fn gitlab(
    headers: &HeaderMap,
    secrets: &[SecretString],
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(Scheme, usize, String), Refusal> {
    let token = single(headers, "x-gitlab-token", Refusal::MalformedSignature)?;
    if headers.contains_key("webhook-signature") {
        match standard::verify(headers, secrets, body, now) {
            Ok((index, id)) => return Ok((Scheme::StandardWebhooks, index, id.to_owned())),
            // A hook may carry both a signing token and a secret token; either proves
            // the sender. Without a token the signature's refusal stands.
            Err(refusal) if token.is_none() => return Err(refusal),
            Err(_) => {}
        }
    }
    let token = token.ok_or(Refusal::MissingSignature)?;
    let index = token_index(token, secrets).ok_or(Refusal::SignatureMismatch)?;
    let id = match single(headers, "idempotency-key", Refusal::InvalidHeader)? {
        Some(_) => label(headers, "idempotency-key", Refusal::MissingDeliveryId)?,
        None => label(headers, "webhook-id", Refusal::MissingDeliveryId)?,
    };
    Ok((Scheme::GitLabToken, index, id))
}

/// The index of the secret equal to `token`. Digests are compared, in constant time,
/// so neither the content nor the length of a secret shows in the timing.
fn token_index(token: &str, secrets: &[SecretString]) -> Option<usize> {
    let given = Sha256::digest(token.as_bytes());
    secrets.iter().position(|secret| {
        let secret = secret.expose_secret();
        !secret.is_empty() && bool::from(Sha256::digest(secret.as_bytes()).ct_eq(&given))
    })
}
