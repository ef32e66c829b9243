//! Console sessions: a cookie that names the signed-in API key, signed with the pages'
//! key. `HttpOnly`, `SameSite=Strict`, `Secure` when the public URL is https, scoped to
//! `/console`. It ends after `idle` without a request (each request renews it) and
//! `absolute` after sign-in; the key is looked up on every request, so a revoked key
//! ends its sessions at once. Signing out clears the cookie.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Web;

pub const COOKIE: &str = "connvault_console";
const PURPOSE: &str = "console-session";

/// What the cookie carries (no secret: ids and times).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The API key signed in with.
    pub key: Uuid,
    /// Its tenant, `None` for an operator key.
    pub tenant: Option<Uuid>,
    /// Random per sign-in: the CSRF tokens of this session are bound to it.
    pub nonce: Uuid,
    /// Sign-in time, Unix seconds.
    pub issued: i64,
    /// Last request, Unix seconds.
    pub seen: i64,
}

impl Claims {
    pub fn new(key: Uuid, tenant: Option<Uuid>, now: i64) -> Self {
        Self {
            key,
            tenant,
            nonce: Uuid::new_v4(),
            issued: now,
            seen: now,
        }
    }

    /// The binding of this session's CSRF tokens.
    pub fn csrf_binding(&self) -> String {
        format!("console/{}", self.nonce)
    }
}

impl Web {
    /// The cookie value of `claims`.
    pub fn seal(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let tag = URL_SAFE_NO_PAD.encode(self.mac(PURPOSE, &body).finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// The claims of a cookie value whose signature holds and that has not expired at
    /// `now`.
    pub fn open(&self, value: &str, now: i64) -> Option<Claims> {
        let (body, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(PURPOSE, body).verify_slice(&tag).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        let idle = self.options.idle.as_secs() as i64;
        let absolute = self.options.absolute.as_secs() as i64;
        (now - claims.seen < idle && now - claims.issued < absolute && claims.seen <= now + 60)
            .then_some(claims)
    }

    /// The `Set-Cookie` value that stores `value` (or, for `None`, clears the cookie).
    pub fn set_cookie(&self, value: Option<&str>) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        match value {
            Some(v) => format!(
                "{COOKIE}={v}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                self.options.absolute.as_secs()
            ),
            None => {
                format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
            }
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others() {
        assert_eq!(
            cookie("a=1; connvault_console=x.y; b=2", COOKIE),
            Some("x.y")
        );
        assert_eq!(cookie("a=1", COOKIE), None);
    }
}
