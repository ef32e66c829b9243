//! New webhook secrets.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use zeroize::Zeroize;

/// Prefix of a Standard Webhooks signing key.
pub const SIGNING_KEY_PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and 32 random bytes in base64. GitHub and Bitbucket take it
/// as an HMAC secret, GitLab as a secret token and as a signing token (GitLab requires
/// that form, a 32-byte key, for the latter).
pub fn generate_secret() -> SecretString {
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    let secret = format!("{SIGNING_KEY_PREFIX}{}", STANDARD.encode(key));
    key.zeroize();
    SecretString::from(secret)
}
