//! Ids and names that are validated once, at the edge, and trusted afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new_v4() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the textual form of a UUID.
            pub fn parse(s: &str) -> Result<Self> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| Error::invalid(stringify!($name), "is not a UUID"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

uuid_id!(
    /// The isolation boundary: every tenant-owned row carries one.
    TenantId
);
uuid_id!(
    /// A connection's primary key (UUID v4).
    ConnectionId
);

/// A provider's catalog key: `[a-z0-9][a-z0-9-]*`, at most 64 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProviderSlug(String);

impl ProviderSlug {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self> {
        let bytes = s.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= Self::MAX_LEN
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidSlug)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ProviderSlug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProviderSlug::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ProviderSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The external account a connection authorizes (Slack team, GitHub installation,
/// Entra tenant GUID, repository URL, …): 1 to 255 characters, no control characters,
/// no surrounding whitespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ExternalId(String);

impl ExternalId {
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(Error::InvalidExternalId("it is empty"));
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(Error::InvalidExternalId("it is longer than 255 characters"));
        }
        if s.trim() != s {
            return Err(Error::InvalidExternalId(
                "it has leading or trailing whitespace",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(Error::InvalidExternalId("it contains control characters"));
        }
        // External ids are shown everywhere; a URL must not carry credentials.
        if let Ok(url) = url::Url::parse(s)
            && (!url.username().is_empty() || url.password().is_some())
        {
            return Err(Error::InvalidExternalId(
                "a URL must not contain user information (user:password@)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates a human-readable name (tenant name, display name): trimmed, non-empty,
/// at most `max` characters, no control characters.
pub fn parse_name(field: &'static str, s: &str, max: usize) -> Result<String> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}
