//! `sha256=<hex HMAC-SHA256(secret, raw body)>`: GitHub's `X-Hub-Signature-256` and
//! Bitbucket Cloud's `X-Hub-Signature`.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::Refusal;

/// The index of the first secret whose HMAC of `body` is `header`'s digest, compared
/// in constant time (`verify_slice`).
pub(super) fn verify(
    header: Option<&str>,
    secrets: &[SecretString],
    body: &[u8],
) -> Result<usize, Refusal> {
    let header = header.ok_or(Refusal::MissingSignature)?;
    let digest = header
        .strip_prefix("sha256=")
        .and_then(|hex| hex::decode(hex).ok())
        .filter(|d| d.len() == 32)
        .ok_or(Refusal::MalformedSignature)?;
    secrets
        .iter()
        .position(|secret| {
            let key = secret.expose_secret().as_bytes();
            !key.is_empty() && {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(body);
                mac.verify_slice(&digest).is_ok()
            }
        })
        .ok_or(Refusal::SignatureMismatch)
}
