//! The built-in provider catalog (`catalog/providers.toml`, compiled in) and seeding.
//!
//! [`KNOWN_PROVIDERS`] is the one list of slugs the code relies on; a catalog must
//! contain exactly those, each entry well-formed, or loading fails with a message that
//! names the entry and the field.

use std::collections::BTreeSet;
use std::path::Path;

use sea_orm::{TransactionSession, TransactionTrait};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::models::RepositoryHosts;
use crate::repositories::{self, providers::ProviderUpsert};

/// The catalog compiled into the binary.
pub const BUILTIN: &str = include_str!("../catalog/providers.toml");

/// Every provider slug connvault knows. Adding a provider means adding it here and to
/// `catalog/providers.toml`.
pub const KNOWN_PROVIDERS: &[&str] = &[
    "atlassian",
    "bitbucket",
    "dropbox",
    "github",
    "gitlab",
    "google",
    "hubspot",
    "linear",
    "microsoft",
    "notion",
    "salesforce",
    "slack",
    "stripe",
    "twilio",
    "zoom",
];

/// A parsed and validated catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    pub providers: Vec<ProviderUpsert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    providers: Vec<toml::Value>,
}

impl Catalog {
    /// The built-in catalog.
    pub fn builtin() -> Result<Self> {
        Self::parse(BUILTIN, "built-in catalog")
    }

    /// The catalog at `path`, or the built-in one when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        match path {
            None => Self::builtin(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::Catalog(format!("cannot read {}: {e}", path.display())))?;
                Self::parse(&text, &path.display().to_string())
            }
        }
    }

    /// Parses and validates catalog text; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let file: CatalogFile = toml::from_str(text)
            .map_err(|e| Error::Catalog(format!("{origin} is not a valid catalog: {e}")))?;
        let mut providers = Vec::with_capacity(file.providers.len());
        let mut seen = BTreeSet::new();
        for (index, raw) in file.providers.into_iter().enumerate() {
            let name = raw
                .get("slug")
                .and_then(toml::Value::as_str)
                .map(|s| format!("provider {s:?}"))
                .unwrap_or_else(|| format!("provider #{}", index + 1));
            let entry: ProviderUpsert = raw
                .try_into()
                .map_err(|e| Error::Catalog(format!("{origin}: {name}: {e}")))?;
            entry
                .validate()
                .map_err(|e| Error::Catalog(format!("{origin}: {name}: {e}")))?;
            let slug = entry.slug.as_str().to_owned();
            if !KNOWN_PROVIDERS.contains(&slug.as_str()) {
                return Err(Error::Catalog(format!(
                    "{origin}: unknown provider slug {slug:?}: it is not one of connvault's known providers"
                )));
            }
            if !seen.insert(slug.clone()) {
                return Err(Error::Catalog(format!(
                    "{origin}: provider {slug:?} is listed twice"
                )));
            }
            providers.push(entry);
        }
        let missing: Vec<&str> = KNOWN_PROVIDERS
            .iter()
            .copied()
            .filter(|slug| !seen.contains(*slug))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Catalog(format!(
                "{origin} lacks known providers: {}",
                missing.join(", ")
            )));
        }
        // A host is one service's: a repository URL on it must not be ambiguous.
        let hosts = RepositoryHosts::from_metadata(
            providers.iter().map(|p| (p.slug.as_str(), &p.metadata)),
        )
        .map_err(|e| Error::Catalog(format!("{origin}: {e}")))?;
        if let Some((host, services)) = hosts.conflicts().first() {
            let services: Vec<&str> = services.iter().map(|s| s.as_str()).collect();
            return Err(Error::Catalog(format!(
                "{origin}: repository host {host:?} is listed by several providers: {}",
                services.join(", ")
            )));
        }
        Ok(Self { providers })
    }

    /// The Git hosts of this catalog: which service each belongs to, and its API.
    pub fn repository_hosts(&self) -> Result<RepositoryHosts> {
        RepositoryHosts::from_metadata(
            self.providers
                .iter()
                .map(|p| (p.slug.as_str(), &p.metadata)),
        )
    }
}

/// Upserts every catalog entry in one transaction: all or nothing. Running it twice
/// leaves the catalog as the first run left it.
pub async fn seed<C: TransactionTrait>(db: &C, catalog: &Catalog) -> Result<usize> {
    let txn = repositories::begin_write(db).await?;
    for entry in &catalog.providers {
        repositories::providers::seed(&txn, entry.clone()).await?;
    }
    txn.commit().await?;
    Ok(catalog.providers.len())
}
