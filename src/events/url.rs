//! The rules an endpoint URL must meet: an absolute `http(s)` URL of at most 2048
//! bytes, without user info or fragment; https only in `production`; and, in
//! `production` unless private addresses are allowed, no address that is loopback,
//! private, link-local, shared, unspecified, multicast or a cloud metadata service,
//! checked on every address the host resolves to, at registration and before every
//! attempt (the address checked is the one connected to).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// What the deployment allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlPolicy {
    pub require_https: bool,
    pub allow_private: bool,
}

impl UrlPolicy {
    /// Anything goes but the syntax rules (local and test profiles, or an explicit
    /// allowance).
    pub const OPEN: UrlPolicy = UrlPolicy {
        require_https: false,
        allow_private: true,
    };
}

/// The URL, normalized, or why it is refused (a sentence for the 422).
pub fn check_syntax(raw: &str, policy: UrlPolicy) -> Result<Url, String> {
    if raw.len() > 2048 {
        return Err("the URL is longer than 2048 bytes".to_owned());
    }
    if raw.chars().any(char::is_control) {
        return Err("the URL holds control characters".to_owned());
    }
    let url = Url::parse(raw).map_err(|_| "not an absolute URL".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if !policy.require_https => {}
        "http" => return Err("the URL must be https in production".to_owned()),
        _ => return Err("the URL must be http or https".to_owned()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not hold user info".to_owned());
    }
    if url.fragment().is_some() {
        return Err("the URL must not have a fragment".to_owned());
    }
    match url.host() {
        None => return Err("the URL has no host".to_owned()),
        Some(Host::Ipv4(ip)) => check_address(IpAddr::V4(ip), policy)?,
        Some(Host::Ipv6(ip)) => check_address(IpAddr::V6(ip), policy)?,
        Some(Host::Domain(d)) => {
            if !policy.allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                return Err("the URL's host is loopback".to_owned());
            }
        }
    }
    Ok(url)
}

/// Refuses an address the policy forbids, naming its kind.
pub fn check_address(ip: IpAddr, policy: UrlPolicy) -> Result<(), String> {
    if policy.allow_private {
        return Ok(());
    }
    match forbidden_kind(ip) {
        Some(kind) => Err(format!(
            "the URL's host resolves to a {kind} address ({ip})"
        )),
        None => Ok(()),
    }
}

/// The kind of an address an endpoint may not have in production, if it is one.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        // 169.254.0.0/16 holds the cloud metadata services (169.254.169.254).
        Some("link-local or metadata")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else if ip == Ipv4Addr::new(192, 0, 0, 192) {
        Some("metadata")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        // fc00::/7 unique local; fd00:ec2::254 is a metadata service in it.
        Some("private")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("reserved")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // 64:ff9b::/96 NAT64 reaches IPv4 addresses, private ones included.
        Some("translated")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROD: UrlPolicy = UrlPolicy {
        require_https: true,
        allow_private: false,
    };

    #[test]
    fn production_refuses_what_could_reach_inside() {
        for (url, why) in [
            ("http://example.com/hook", "https"),
            ("https://user:pw@example.com/", "user info"),
            ("https://127.0.0.1/", "loopback"),
            ("https://localhost:8080/", "loopback"),
            ("https://10.1.2.3/", "private"),
            ("https://192.168.0.1/", "private"),
            ("https://169.254.169.254/latest/meta-data", "metadata"),
            ("https://[::1]/", "loopback"),
            ("https://[fd00:ec2::254]/", "private"),
            ("https://[::ffff:127.0.0.1]/", "loopback"),
            ("https://100.64.0.1/", "shared"),
            ("https://0.0.0.0/", "unspecified"),
            ("ftp://example.com/", "http or https"),
            ("https://example.com/#x", "fragment"),
        ] {
            let err = check_syntax(url, PROD).expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
        }
        assert!(check_syntax("https://hooks.example.com/connvault", PROD).is_ok());
        assert!(check_syntax("https://93.184.215.14/", PROD).is_ok());
    }

    #[test]
    fn local_profiles_allow_http_and_loopback_but_not_user_info() {
        assert!(check_syntax("http://127.0.0.1:9000/hook", UrlPolicy::OPEN).is_ok());
        assert!(check_syntax("http://u@127.0.0.1/", UrlPolicy::OPEN).is_err());
    }
}
