//! Which host belongs to which service, and where that host's REST API is.
//!
//! The public hosts (`github.com`, `gitlab.com`, `bitbucket.org`) always belong to
//! their service; their API is the provider's `metadata.api_base_url` (or the public
//! one). Self-hosted instances are listed in the provider's `metadata.repository_hosts`:
//!
//! ```toml
//! repository_hosts = ["github.com", "github.example.com",
//!                     { host = "gitlab.example.com", api_base_url = "https://gitlab.example.com/api/v4" }]
//! ```
//!
//! A bare host's API is the service's self-hosted default (GitHub Enterprise Server
//! `https://<host>/api/v3`, GitLab `https://<host>/api/v4`). Bitbucket takes no
//! self-hosted host: Bitbucket Data Center's URLs, API and webhooks differ from
//! Bitbucket Cloud's.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::{RepositoryUrl, ServiceType, canonical_host};
use crate::error::{Error, Result};

const FIELD: &str = "metadata.repository_hosts";

/// Most self-hosted hosts one provider may list.
pub const MAX_HOSTS: usize = 50;

/// One host of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryHost {
    pub host: String,
    pub service: ServiceType,
    /// The REST API that serves this host's repositories.
    pub api_base: Url,
}

/// Hosts and the services they belong to, read from the catalog's provider entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryHosts {
    /// Usually one service per host; several only when providers' metadata disagree
    /// (the catalog refuses that, an operator's later edit may not).
    hosts: BTreeMap<String, Vec<RepositoryHost>>,
}

impl Default for RepositoryHosts {
    fn default() -> Self {
        Self::public()
    }
}

impl RepositoryHosts {
    /// The three public services only, with their public APIs.
    pub fn public() -> Self {
        let mut hosts = BTreeMap::new();
        for service in ServiceType::ALL {
            hosts.insert(
                service.public_host().to_owned(),
                vec![RepositoryHost {
                    host: service.public_host().to_owned(),
                    service,
                    api_base: Url::parse(service.public_api_base()).expect("a valid built-in URL"),
                }],
            );
        }
        Self { hosts }
    }

    /// Hosts from providers' `(slug, metadata)`: the public hosts, each provider's
    /// `api_base_url` for its public host, and its `repository_hosts`. Providers that
    /// are not Git services are ignored; malformed metadata is an error naming the
    /// provider.
    pub fn from_metadata<'a>(
        providers: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> Result<Self> {
        let mut all = Self::public();
        for (slug, metadata) in providers {
            let Some(service) = ServiceType::from_slug(slug) else {
                continue;
            };
            let entries = parse_entries(service, metadata)
                .map_err(|reason| Error::invalid(FIELD, format!("{slug}: {reason}")))?;
            if let Some(base) = public_api_base(metadata).map_err(|reason| {
                Error::invalid("metadata.api_base_url", format!("{slug}: {reason}"))
            })? && let Some(claims) = all.hosts.get_mut(service.public_host())
            {
                claims[0].api_base = base;
            }
            for entry in entries {
                let claims = all.hosts.entry(entry.host.clone()).or_default();
                if !claims.iter().any(|c| c.service == entry.service) {
                    claims.push(entry);
                }
            }
        }
        Ok(all)
    }

    /// Hosts claimed by more than one service, with those services.
    pub fn conflicts(&self) -> Vec<(&str, Vec<ServiceType>)> {
        self.hosts
            .iter()
            .filter(|(_, claims)| claims.len() > 1)
            .map(|(host, claims)| (host.as_str(), claims.iter().map(|c| c.service).collect()))
            .collect()
    }

    /// Every host, in host order.
    pub fn iter(&self) -> impl Iterator<Item = &RepositoryHost> {
        self.hosts.values().flatten()
    }

    /// The host of `url` as its service knows it: where its API is.
    pub fn get(&self, url: &RepositoryUrl) -> Option<&RepositoryHost> {
        self.hosts
            .get(url.host())?
            .iter()
            .find(|c| c.service == url.service())
    }

    /// The REST API that serves `url`'s repository.
    pub fn api_base(&self, url: &RepositoryUrl) -> Option<&Url> {
        self.get(url).map(|h| &h.api_base)
    }

    /// The service `host` belongs to, agreeing with `given` when the caller named one.
    pub(super) fn service_of(&self, host: &str, given: Option<ServiceType>) -> Result<ServiceType> {
        let claims = self.hosts.get(host).map(Vec::as_slice).unwrap_or_default();
        match (claims, given) {
            ([], Some(given)) => Err(Error::invalid(
                "repository_url",
                format!(
                    "{host} is not a {} host: {} is, and the self-hosted hosts listed in the provider catalog",
                    given.display_name(),
                    given.public_host()
                ),
            )),
            ([], None) => Err(Error::invalid(
                "repository_url",
                format!(
                    "{host} is not a known GitHub, GitLab or Bitbucket host (self-hosted hosts are listed in the provider catalog)"
                ),
            )),
            ([only], None) => Ok(only.service),
            ([only], Some(given)) if only.service == given => Ok(given),
            ([only], Some(given)) => Err(Error::invalid(
                "service_type",
                format!(
                    "is {}, but {host} is a {} host",
                    given.as_str(),
                    only.service.display_name()
                ),
            )),
            (several, Some(given)) if several.iter().any(|c| c.service == given) => Ok(given),
            (_, _) => Err(Error::invalid(
                "service_type",
                format!(
                    "{host} is listed for several services in the provider catalog: name its service_type"
                ),
            )),
        }
    }
}

/// The provider's `metadata.api_base_url`, if it names one.
fn public_api_base(metadata: &Value) -> Result<Option<Url>, String> {
    match metadata.get("api_base_url") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => api_url(s).map(Some),
        Some(_) => Err("must be a URL".to_owned()),
    }
}

/// Checks a provider's `metadata.repository_hosts` (the catalog and operator edits
/// both pass here): only Git services take it, each entry a lowercase host name or
/// `{ host, api_base_url }`.
pub fn check_repository_hosts(slug: &str, metadata: &Value) -> Result<()> {
    let listed = metadata.get("repository_hosts").is_some();
    match ServiceType::from_slug(slug) {
        Some(service) => parse_entries(service, metadata)
            .map(|_| ())
            .map_err(|reason| Error::invalid(FIELD, reason)),
        None if listed => Err(Error::invalid(
            FIELD,
            "only github, gitlab and bitbucket have repository hosts",
        )),
        None => Ok(()),
    }
}

fn parse_entries(service: ServiceType, metadata: &Value) -> Result<Vec<RepositoryHost>, String> {
    let items = match metadata.get("repository_hosts") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("must be a list of hosts".to_owned()),
    };
    if items.len() > MAX_HOSTS {
        return Err(format!("lists more than {MAX_HOSTS} hosts"));
    }
    let mut out: Vec<RepositoryHost> = Vec::with_capacity(items.len());
    for item in items {
        let (host, api) = match item {
            Value::String(host) => (host.as_str(), None),
            Value::Object(map)
                if map.keys().all(|k| k == "host" || k == "api_base_url")
                    && map.get("host").is_some_and(Value::is_string)
                    && map.get("api_base_url").is_none_or(Value::is_string) =>
            {
                (
                    map["host"].as_str().unwrap_or_default(),
                    map.get("api_base_url").and_then(Value::as_str),
                )
            }
            _ => {
                return Err(
                    "each entry is a host name or { host = \"…\", api_base_url = \"…\" }"
                        .to_owned(),
                );
            }
        };
        let canonical = canonical_host(host).map_err(|reason| format!("a host {reason}"))?;
        if canonical != host {
            return Err("a host must be written in lowercase, without a www. prefix".to_owned());
        }
        if let Some(other) = ServiceType::ALL
            .into_iter()
            .find(|s| *s != service && s.public_host() == host)
        {
            return Err(format!("{host} is {}'s public host", other.display_name()));
        }
        if out.iter().any(|h| h.host == host) {
            return Err(format!("{host} is listed twice"));
        }
        if host == service.public_host() {
            if api.is_some() {
                return Err(format!(
                    "{host} is the public host: its API is metadata.api_base_url"
                ));
            }
            continue;
        }
        let api_base = match (service, api) {
            (ServiceType::Bitbucket, _) => {
                return Err(
                    "Bitbucket takes no self-hosted host: only Bitbucket Cloud (bitbucket.org) is supported".to_owned(),
                );
            }
            (_, Some(api)) => api_url(api)?,
            (ServiceType::GitHub, None) => api_url(&format!("https://{host}/api/v3"))?,
            (ServiceType::GitLab, None) => api_url(&format!("https://{host}/api/v4"))?,
        };
        out.push(RepositoryHost {
            host: host.to_owned(),
            service,
            api_base,
        });
    }
    Ok(out)
}

/// An API base: https (plain http only on the loopback interface, for tests), no user,
/// query or fragment.
fn api_url(value: &str) -> Result<Url, String> {
    if value.len() > 2048 || value.chars().any(char::is_control) {
        return Err("an API base URL must be one line of at most 2048 bytes".to_owned());
    }
    let url = Url::parse(value).map_err(|e| format!("an API base URL is not a URL: {e}"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err("an API base URL must be https://".to_owned());
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(
            "an API base URL must not carry user information, a query or a fragment".to_owned(),
        );
    }
    Ok(url)
}
