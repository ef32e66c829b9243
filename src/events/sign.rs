//! Standard Webhooks signing: `webhook-signature` is a space-separated list of
//! `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, one per secret that signs (two
//! while a rotated secret's overlap lasts); the key is the `whsec_<base64>` secret
//! decoded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::webhooks::SIGNING_KEY_PREFIX;

/// The `webhook-signature` value for `body` sent as `id` at `timestamp` (Unix
/// seconds). A secret that is not `whsec_<base64>` signs nothing.
pub fn signature(secrets: &[SecretString], id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    secrets
        .iter()
        .filter_map(|secret| {
            let encoded = secret.expose_secret().strip_prefix(SIGNING_KEY_PREFIX)?;
            let key = Zeroizing::new(STANDARD.decode(encoded).ok()?);
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            Some(format!(
                "v1,{}",
                STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_the_specifications_example() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = signature(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
