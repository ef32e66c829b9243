//! Inbound webhooks from Git services: a delivery's raw bytes verified against the
//! connection's secrets before anything is parsed or stored, in constant time.
//!
//! - [`verify`]: GitHub (`X-Hub-Signature-256`), GitLab (`X-Gitlab-Token`, or a signing
//!   token by the Standard Webhooks scheme), Bitbucket Cloud (`X-Hub-Signature`); the
//!   delivery id and event type each service sends beside them.
//! - [`generate_secret`]: a new webhook secret, usable by all three services.
//!
//! A [`Refusal`] carries the reason for logs and metrics; the HTTP answer to every
//! refusal is the same, so a sender learns nothing about which check failed.

mod headers;
mod hmac_hex;
mod secret;
mod standard;
mod verify;

pub use secret::{SIGNING_KEY_PREFIX, generate_secret};
pub use standard::TOLERANCE_SECS;
pub use verify::verify;

use std::collections::BTreeMap;

/// How a delivery proved it came from the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
    GitHubHmacSha256,
    /// GitLab: `X-Gitlab-Token` equal to the secret.
    GitLabToken,
    /// GitLab signing token: `webhook-signature: v1,<base64 HMAC-SHA256(key,
    /// "id.timestamp.body")>` (Standard Webhooks), the timestamp within
    /// [`TOLERANCE_SECS`].
    StandardWebhooks,
    /// Bitbucket Cloud: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
    BitbucketHmacSha256,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::GitHubHmacSha256 => "github_hmac_sha256",
            Scheme::GitLabToken => "gitlab_token",
            Scheme::StandardWebhooks => "standard_webhooks",
            Scheme::BitbucketHmacSha256 => "bitbucket_hmac_sha256",
        }
    }
}

/// A delivery whose body the service signed with one of the connection's secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedDelivery {
    /// The service's id of this delivery, stable across its retries: the dedupe key.
    pub delivery_id: String,
    /// `push`, `Push Hook`, `repo:push`, …: the service's own event name.
    pub event_type: String,
    pub scheme: Scheme,
    /// Which of the secrets given verified it: 0 the current one, 1 the previous one
    /// while a rotation is under way.
    pub secret_index: usize,
    /// The service's headers worth keeping with the event (lowercase names): ids,
    /// event, hook, instance, attempt, user agent. Never a token or a signature.
    pub headers: BTreeMap<String, String>,
}

/// Why a delivery was refused. For logs and metrics only: the sender always gets the
/// same answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the connection has no webhook secret")]
    NoSecret,
    #[error("the delivery carries no signature or token")]
    MissingSignature,
    #[error("the signature header is malformed, repeated or of an unsupported algorithm")]
    MalformedSignature,
    #[error("no secret of the connection produces the signature")]
    SignatureMismatch,
    #[error(
        "the delivery is signed by the Standard Webhooks scheme, but no secret is a whsec_ signing key"
    )]
    NoSigningKey,
    #[error("webhook-id or webhook-timestamp is missing")]
    MissingSigningHeader,
    #[error("webhook-timestamp is not a number of seconds")]
    MalformedTimestamp,
    #[error("webhook-timestamp is too far in the past")]
    StaleTimestamp,
    #[error("webhook-timestamp is too far in the future")]
    FutureTimestamp,
    #[error("the delivery id header is missing")]
    MissingDeliveryId,
    #[error("the event type header is missing")]
    MissingEventType,
    #[error("a delivery id or event header is repeated, too long or not printable ASCII")]
    InvalidHeader,
}

impl Refusal {
    /// A stable snake_case code, for metrics labels and the health's reason.
    pub fn reason_code(self) -> &'static str {
        match self {
            Refusal::NoSecret => "no_secret",
            Refusal::MissingSignature => "missing_signature",
            Refusal::MalformedSignature => "malformed_signature",
            Refusal::SignatureMismatch => "signature_mismatch",
            Refusal::NoSigningKey => "no_signing_key",
            Refusal::MissingSigningHeader => "missing_signing_header",
            Refusal::MalformedTimestamp => "malformed_timestamp",
            Refusal::StaleTimestamp => "stale_timestamp",
            Refusal::FutureTimestamp => "future_timestamp",
            Refusal::MissingDeliveryId => "missing_delivery_id",
            Refusal::MissingEventType => "missing_event_type",
            Refusal::InvalidHeader => "invalid_header",
        }
    }

    /// The metric label of this refusal: `refused_` and its reason code.
    pub fn metric_label(self) -> &'static str {
        match self {
            Refusal::NoSecret => "refused_no_secret",
            Refusal::MissingSignature => "refused_missing_signature",
            Refusal::MalformedSignature => "refused_malformed_signature",
            Refusal::SignatureMismatch => "refused_signature_mismatch",
            Refusal::NoSigningKey => "refused_no_signing_key",
            Refusal::MissingSigningHeader => "refused_missing_signing_header",
            Refusal::MalformedTimestamp => "refused_malformed_timestamp",
            Refusal::StaleTimestamp => "refused_stale_timestamp",
            Refusal::FutureTimestamp => "refused_future_timestamp",
            Refusal::MissingDeliveryId => "refused_missing_delivery_id",
            Refusal::MissingEventType => "refused_missing_event_type",
            Refusal::InvalidHeader => "refused_invalid_header",
        }
    }
}
