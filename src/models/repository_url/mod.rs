//! `RepositoryUrl::parse`: a Git repository URL validated once, in its canonical form,
//! the external id of a repository connection.
//!
//! Accepted: `https://host/owner/repo` (GitLab: `group/subgroup/…/project`) and the SSH
//! forms `git@host:owner/repo.git` and `ssh://git@host/owner/repo.git`. The canonical
//! form is `https://host/owner/repo`: `.git` and a trailing slash stripped, host and
//! path lowercased (all three services treat them case-insensitively, so one
//! repository has one canonical URL and one connection per tenant), a `www.` before a
//! public host dropped. Refused: user information, a port, a query, a fragment,
//! percent-encoding, dot or empty segments, names outside the service's own rules
//! ([`names`]), a host of no service or of another service than the one given
//! ([`RepositoryHosts`]). Every refusal is [`Error::Invalid`] naming `repository_url`
//! or `service_type` and why, without echoing the input.

mod hosts;
pub mod names;
mod service;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::Serialize;

pub use hosts::{MAX_HOSTS, RepositoryHost, RepositoryHosts, check_repository_hosts};
pub use service::ServiceType;

use crate::error::{Error, Result};
use crate::models::ExternalId;

const FIELD: &str = "repository_url";

/// Longest canonical URL: it is the connection's external id.
pub const MAX_LEN: usize = ExternalId::MAX_LEN;

/// Longest input looked at.
const MAX_INPUT_LEN: usize = 2048;

/// A repository URL in canonical form, of a known service.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct RepositoryUrl {
    service: ServiceType,
    /// `https://host/path`.
    canonical: String,
    /// Byte offset of the path in `canonical`.
    path_start: usize,
    /// Byte offset of the `/` before the repository's own name.
    name_slash: usize,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::invalid(FIELD, reason)
}

impl RepositoryUrl {
    /// Validates `input` and names its service: the one `service_type` gives, which
    /// must be the host's, or else the host's own.
    pub fn parse(
        input: &str,
        service_type: Option<ServiceType>,
        hosts: &RepositoryHosts,
    ) -> Result<Self> {
        let (host, path) = split(input)?;
        let host = canonical_host(host).map_err(|reason| invalid(format!("the host {reason}")))?;
        let service = hosts.service_of(&host, service_type)?;
        let path = canonical_path(path)?;
        let segments: Vec<&str> = path.split('/').collect();
        names::check(service, &host, &segments).map_err(invalid)?;
        let canonical = format!("https://{host}/{path}");
        if canonical.len() > MAX_LEN {
            return Err(invalid(format!(
                "is longer than {MAX_LEN} characters in canonical form"
            )));
        }
        let path_start = "https://".len() + host.len() + 1;
        let name_slash = canonical.rfind('/').unwrap_or(path_start);
        Ok(Self {
            service,
            canonical,
            path_start,
            name_slash,
        })
    }

    /// The canonical URL, `https://host/owner/repo`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    pub fn service(&self) -> ServiceType {
        self.service
    }

    /// The lowercase host.
    pub fn host(&self) -> &str {
        &self.canonical["https://".len()..self.path_start - 1]
    }

    /// The path without slashes at either end: `owner/repo`, `group/sub/project`.
    pub fn path(&self) -> &str {
        &self.canonical[self.path_start..]
    }

    /// Everything before the repository's own name: GitHub's owner, Bitbucket's
    /// workspace, GitLab's namespace (`group/sub`).
    pub fn owner(&self) -> &str {
        &self.canonical[self.path_start..self.name_slash]
    }

    /// The repository's own name: GitHub's repo, Bitbucket's slug, GitLab's project path.
    pub fn name(&self) -> &str {
        &self.canonical[self.name_slash + 1..]
    }

    /// GitLab's project id for `/projects/{id}`: the path, URL-encoded
    /// (`group%2Fsub%2Fproject`). Segments hold only `[a-z0-9._-]`, so the slash is
    /// all there is to encode.
    pub fn gitlab_project_id(&self) -> String {
        self.path().replace('/', "%2F")
    }

    /// The webhook collection of this repository, relative to the service's API base:
    /// `repos/{owner}/{repo}/hooks`, `projects/{id}/hooks`,
    /// `repositories/{workspace}/{slug}/hooks`.
    pub fn hooks_path(&self) -> String {
        match self.service {
            ServiceType::GitHub => format!("repos/{}/{}/hooks", self.owner(), self.name()),
            ServiceType::GitLab => format!("projects/{}/hooks", self.gitlab_project_id()),
            ServiceType::Bitbucket => {
                format!("repositories/{}/{}/hooks", self.owner(), self.name())
            }
        }
    }

    /// The canonical URL as a connection's external id.
    pub fn external_id(&self) -> ExternalId {
        ExternalId::parse(&self.canonical).expect("a canonical URL is a valid external id")
    }
}

impl fmt::Display for RepositoryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl From<RepositoryUrl> for String {
    fn from(url: RepositoryUrl) -> Self {
        url.canonical
    }
}

/// Splits `input` into its host and path, refusing what no repository URL carries.
fn split(input: &str) -> Result<(&str, &str)> {
    const EXPECTED: &str =
        "must be https://host/owner/repo, git@host:owner/repo.git or ssh://git@host/owner/repo.git";
    if input.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if input.len() > MAX_INPUT_LEN {
        return Err(invalid(format!("must be at most {MAX_INPUT_LEN} bytes")));
    }
    if !input.is_ascii() {
        return Err(invalid(
            "must be ASCII (write an internationalized host in its xn-- form)",
        ));
    }
    if input
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(invalid("must not contain spaces or control characters"));
    }
    if input.contains('\\') {
        return Err(invalid("must not contain backslashes"));
    }
    if input.contains('?') {
        return Err(invalid("must not have a query (?…)"));
    }
    if input.contains('#') {
        return Err(invalid("must not have a fragment (#…)"));
    }
    let (host, path) = if let Some((scheme, rest)) = input.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = match scheme.to_ascii_lowercase().as_str() {
            "https" => {
                if authority.contains('@') {
                    return Err(invalid(
                        "must not contain user information (user@ or user:password@)",
                    ));
                }
                authority
            }
            "ssh" => match authority.split_once('@') {
                Some(("git", host)) if !host.contains('@') => host,
                _ => {
                    return Err(invalid(
                        "an SSH URL must log in as git: ssh://git@host/owner/repo.git",
                    ));
                }
            },
            "http" => return Err(invalid("must use https:// (or SSH), not http://")),
            _ => return Err(invalid(EXPECTED)),
        };
        if host.starts_with('[') {
            return Err(invalid("the host must be a name, not an IPv6 address"));
        }
        if host.contains(':') {
            return Err(invalid("must not name a port"));
        }
        (host, path)
    } else if let Some(rest) = input.strip_prefix("git@") {
        match rest.split_once(':') {
            Some((host, path)) if !host.is_empty() && !host.contains(['/', '@']) => {
                if path.starts_with('/') {
                    return Err(invalid(
                        "the path of git@host:owner/repo.git must not start with /",
                    ));
                }
                (host, path)
            }
            _ => return Err(invalid(EXPECTED)),
        }
    } else if input.contains('@') && input.contains(':') {
        return Err(invalid(
            "an SSH address must log in as git: git@host:owner/repo.git",
        ));
    } else {
        return Err(invalid(EXPECTED));
    };
    if host.is_empty() {
        return Err(invalid("names no host"));
    }
    Ok((host, path))
}

/// A host as the catalog and canonical URLs write it: lowercase DNS labels; a `www.`
/// before a public host dropped. The error completes "the host …".
pub(crate) fn canonical_host(host: &str) -> Result<String, String> {
    let host = host.to_ascii_lowercase();
    if host.starts_with('[') {
        return Err("must be a name, not an IPv6 address".to_owned());
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(
            "must be a DNS name: dot-separated labels of letters, digits and hyphens".to_owned(),
        );
    }
    if let Some(public) = host.strip_prefix("www.")
        && ServiceType::ALL.iter().any(|s| s.public_host() == public)
    {
        return Ok(public.to_owned());
    }
    Ok(host)
}

/// The path without a trailing slash or `.git`, lowercased, its segments non-empty and
/// not `.` or `..`.
fn canonical_path(path: &str) -> Result<String> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let path = match path.len().checked_sub(4) {
        Some(cut) if path[cut..].eq_ignore_ascii_case(".git") => &path[..cut],
        _ => path,
    };
    if path.is_empty() {
        return Err(invalid(
            "names no repository: expected https://host/owner/repo",
        ));
    }
    if path.contains('%') {
        return Err(invalid("must not be percent-encoded"));
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(invalid("must not contain empty path segments (//)")),
            "." | ".." => return Err(invalid("must not contain . or .. path segments")),
            _ => {}
        }
    }
    Ok(path.to_ascii_lowercase())
}
