//! Name resolution for endpoint URLs that refuses forbidden addresses: used at
//! registration and, as the HTTP client's resolver, for every attempt, so the address
//! checked is the address connected to (a name that later resolves inside is refused
//! then too).

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::events::url::{UrlPolicy, forbidden_kind};

/// A forbidden address was all a name resolved to.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The addresses of `host:port` the policy allows; an error names why there are none.
pub async fn allowed_addrs(
    host: &str,
    port: u16,
    policy: UrlPolicy,
) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| "the URL's host does not resolve".to_owned())?
        .collect();
    if addrs.is_empty() {
        return Err("the URL's host does not resolve".to_owned());
    }
    if policy.allow_private {
        return Ok(addrs);
    }
    // Any forbidden address refuses the name: a rebinding name may alternate.
    for a in &addrs {
        if let Some(kind) = forbidden_kind(a.ip()) {
            return Err(format!("the URL's host resolves to a {kind} address"));
        }
    }
    Ok(addrs)
}

/// The HTTP client's resolver under a policy.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver(pub UrlPolicy);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addrs = allowed_addrs(name.as_str(), 0, policy)
                .await
                .map_err(|why| {
                    Box::new(Refused(why)) as Box<dyn std::error::Error + Send + Sync>
                })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
