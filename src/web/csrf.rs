//! CSRF tokens: an HMAC of what the form is bound to (a connect session, a console
//! session) under the pages' key. A form's token is checked before anything else
//! happens; another session's token, or none, is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::Web;

impl Web {
    pub(crate) fn mac(&self, purpose: &str, value: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        mac
    }

    /// The CSRF token of forms bound to `binding`.
    pub fn csrf_token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac("csrf", binding).finalize().into_bytes())
    }

    /// Whether `token` is the CSRF token of `binding` (constant time).
    pub fn csrf_ok(&self, binding: &str, token: Option<&str>) -> bool {
        let Some(bytes) = token.and_then(|t| URL_SAFE_NO_PAD.decode(t).ok()) else {
            return false;
        };
        self.mac("csrf", binding).verify_slice(&bytes).is_ok()
    }
}
