//! The three Git hosting services a repository connection can name, each by the slug
//! of its catalog provider.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A Git hosting service; its `as_str` is the slug of its catalog provider.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    #[serde(alias = "GitHub")]
    GitHub,
    #[serde(alias = "GitLab")]
    GitLab,
    #[serde(alias = "Bitbucket")]
    Bitbucket,
}

impl ServiceType {
    pub const ALL: [ServiceType; 3] = [
        ServiceType::GitHub,
        ServiceType::GitLab,
        ServiceType::Bitbucket,
    ];

    /// The catalog provider slug: `github`, `gitlab` or `bitbucket`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::GitHub => "github",
            ServiceType::GitLab => "gitlab",
            ServiceType::Bitbucket => "bitbucket",
        }
    }

    /// The service's own spelling of its name, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            ServiceType::GitHub => "GitHub",
            ServiceType::GitLab => "GitLab",
            ServiceType::Bitbucket => "Bitbucket",
        }
    }

    /// The host of the public service, always one of its hosts.
    pub fn public_host(self) -> &'static str {
        match self {
            ServiceType::GitHub => "github.com",
            ServiceType::GitLab => "gitlab.com",
            ServiceType::Bitbucket => "bitbucket.org",
        }
    }

    /// The public service's REST API, used when its catalog entry names none.
    pub fn public_api_base(self) -> &'static str {
        match self {
            ServiceType::GitHub => "https://api.github.com",
            ServiceType::GitLab => "https://gitlab.com/api/v4",
            ServiceType::Bitbucket => "https://api.bitbucket.org/2.0",
        }
    }

    /// The service whose provider slug is `slug`, if any.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == slug)
    }

    /// Parses a `service_type` given by a caller: the slug or the service's own
    /// spelling, in any case (`github`, `GitHub`, `GITHUB`).
    pub fn parse(value: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value))
            .ok_or_else(|| {
                Error::invalid("service_type", "must be one of github, gitlab, bitbucket")
            })
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
