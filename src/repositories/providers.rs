//! The global provider catalog: `get_by_slug`, `list_all`, `upsert`.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde::Deserialize;
use url::Url;

use super::page::{Cursor, KeyPosition, Page, PageResult};
use crate::error::{Error, Result};
use crate::models::checks::{check_metadata, check_no_control, check_scopes};
use crate::models::ids::parse_name;
use crate::models::json::{AuthMode, AuthModes, HealthCheck, StringList};
use crate::models::provider::ManagedBy;
use crate::models::repository_url::check_repository_hosts;
use crate::models::{ProviderSlug, provider};

/// Everything that defines a catalog entry. Deserialized from the catalog file (and
/// from operator requests); checked by [`ProviderUpsert::validate`] before any write.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpsert {
    pub slug: ProviderSlug,
    pub display_name: String,
    pub auth_modes: Vec<AuthMode>,
    #[serde(default)]
    pub authorization_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    #[serde(default)]
    pub docs_url: Option<String>,
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

const HEALTH_CHECK_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

impl ProviderUpsert {
    /// Checks every field; the error names the first field that is wrong.
    pub fn validate(&self) -> Result<()> {
        parse_name("display_name", &self.display_name, 200)?;
        if self.auth_modes.is_empty() {
            return Err(Error::invalid("auth_modes", "must name at least one mode"));
        }
        for (i, mode) in self.auth_modes.iter().enumerate() {
            if self.auth_modes[..i].contains(mode) {
                return Err(Error::invalid(
                    "auth_modes",
                    format!("{} is listed twice", mode.as_str()),
                ));
            }
        }
        check_url("authorization_url", self.authorization_url.as_deref())?;
        check_url("token_url", self.token_url.as_deref())?;
        check_url("docs_url", self.docs_url.as_deref())?;
        if self.auth_modes.contains(&AuthMode::Oauth2AuthorizationCode)
            && self.authorization_url.is_none()
        {
            return Err(Error::invalid(
                "authorization_url",
                "is required for oauth2_authorization_code",
            ));
        }
        if self.auth_modes.iter().any(AuthMode::is_oauth2) && self.token_url.is_none() {
            return Err(Error::invalid(
                "token_url",
                "is required for OAuth 2.0 modes",
            ));
        }
        check_scopes("default_scopes", &self.default_scopes)?;
        if let Some(check) = &self.health_check {
            if !HEALTH_CHECK_METHODS.contains(&check.method.as_str()) {
                return Err(Error::invalid(
                    "health_check.method",
                    format!("must be one of {HEALTH_CHECK_METHODS:?}"),
                ));
            }
            check_url("health_check.url", Some(&check.url))?;
            if let Some(status) = check.expect_status
                && !(100..=599).contains(&status)
            {
                return Err(Error::invalid(
                    "health_check.expect_status",
                    "must be an HTTP status code",
                ));
            }
            if check.body.is_some() && check.method != "POST" {
                return Err(Error::invalid(
                    "health_check.body",
                    "is sent only with POST",
                ));
            }
            for (field, value) in [
                ("health_check.ok_field", &check.ok_field),
                ("health_check.error_field", &check.error_field),
            ] {
                if let Some(value) = value {
                    check_json_key(field, value)?;
                }
            }
            if check.rejected_errors.len() > 32 {
                return Err(Error::invalid(
                    "health_check.rejected_errors",
                    "must name at most 32 errors",
                ));
            }
            for error in &check.rejected_errors {
                check_json_key("health_check.rejected_errors", error)?;
            }
        }
        if let Some(header) = self.metadata.get("api_key_header") {
            let valid = header.as_str().is_some_and(|h| {
                !h.is_empty()
                    && h.len() <= 64
                    && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_ok()
            });
            if !valid {
                return Err(Error::invalid(
                    "metadata.api_key_header",
                    "must be an HTTP header name of at most 64 characters",
                ));
            }
        }
        check_metadata("metadata", &self.metadata)?;
        check_repository_hosts(self.slug.as_str(), &self.metadata)
    }
}

/// A JSON key or error name of a health check: 1 to 64 printable ASCII characters.
fn check_json_key(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 64 || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid(
            field,
            "must be 1 to 64 printable ASCII characters",
        ));
    }
    Ok(())
}

/// Provider endpoints must be HTTPS; plain HTTP is accepted only on the loopback
/// interface, for local development and tests.
fn check_url(field: &'static str, value: Option<&str>) -> Result<()> {
    match value {
        Some(value) => https_url(field, value).map(|_| ()),
        None => Ok(()),
    }
}

/// Longest URL accepted, in bytes.
pub const URL_MAX_LEN: usize = 2048;

/// `value` parsed, if it is an https:// URL (or http:// on the loopback interface) of
/// at most [`URL_MAX_LEN`] bytes. Control characters are refused rather than left to
/// the parser, which drops some and encodes others while the text as given is stored.
pub(crate) fn https_url(field: &'static str, value: &str) -> Result<Url> {
    if value.len() > URL_MAX_LEN {
        return Err(Error::invalid(field, "must be at most 2048 bytes"));
    }
    check_no_control(field, value)?;
    let url = Url::parse(value).map_err(|e| Error::invalid(field, format!("not a URL: {e}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(Error::invalid(field, "must be an https:// URL")),
    }
}

pub async fn get_by_slug<C: ConnectionTrait>(
    db: &C,
    slug: &ProviderSlug,
) -> Result<Option<provider::Model>> {
    Ok(provider::Entity::find_by_id(slug.as_str()).one(db).await?)
}

pub async fn list_all<C: ConnectionTrait>(db: &C) -> Result<Vec<provider::Model>> {
    Ok(provider::Entity::find()
        .order_by_asc(provider::Column::Slug)
        .all(db)
        .await?)
}

/// One page of the catalog, in slug order.
pub async fn list_page<C: ConnectionTrait>(
    db: &C,
    page: Page,
) -> Result<PageResult<provider::Model>> {
    let limit = page.effective_limit();
    let mut query = provider::Entity::find();
    if let Some(cursor) = page.after.as_deref() {
        let after = KeyPosition::decode(cursor)?;
        query = query.filter(provider::Column::Slug.gt(after.key));
    }
    let items = query
        .order_by_asc(provider::Column::Slug)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(super::page::finish(items, limit, |p| KeyPosition {
        key: p.slug.clone(),
    }))
}

/// Inserts the provider, or updates it if it differs from what is stored. An unchanged
/// entry is left untouched (its `updated_at` too), so seeding is idempotent.
pub async fn upsert<C: TransactionTrait>(db: &C, input: ProviderUpsert) -> Result<provider::Model> {
    write(db, input, ManagedBy::Operator).await
}

/// Inserts a built-in catalog entry, or updates the stored one if the catalog still
/// manages it (an entry an operator set through [`upsert`] is left as it is).
pub async fn seed<C: TransactionTrait>(db: &C, input: ProviderUpsert) -> Result<provider::Model> {
    write(db, input, ManagedBy::Catalog).await
}

async fn write<C: TransactionTrait>(
    db: &C,
    input: ProviderUpsert,
    owner: ManagedBy,
) -> Result<provider::Model> {
    input.validate()?;
    let txn = super::begin_write(db).await?;
    let now = super::now();
    let mut model = provider::ActiveModel {
        slug: Set(input.slug.as_str().to_owned()),
        display_name: Set(input.display_name.trim().to_owned()),
        auth_modes: Set(AuthModes(input.auth_modes)),
        authorization_url: Set(input.authorization_url),
        token_url: Set(input.token_url),
        default_scopes: Set(StringList(input.default_scopes)),
        health_check: Set(input.health_check),
        docs_url: Set(input.docs_url),
        metadata: Set(input.metadata),
        managed_by: Set(owner),
        created_at: Set(now),
        updated_at: Set(now),
    };
    provider::Entity::insert(model.clone())
        .on_conflict(
            OnConflict::column(provider::Column::Slug)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    let stored = provider::Entity::find_by_id(input.slug.as_str())
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("provider"))?;
    let same = stored.display_name == *model.display_name.as_ref()
        && stored.auth_modes == *model.auth_modes.as_ref()
        && stored.authorization_url == *model.authorization_url.as_ref()
        && stored.token_url == *model.token_url.as_ref()
        && stored.default_scopes == *model.default_scopes.as_ref()
        && stored.health_check == *model.health_check.as_ref()
        && stored.docs_url == *model.docs_url.as_ref()
        && stored.metadata == *model.metadata.as_ref()
        && stored.managed_by == owner;
    let keep = same || (owner == ManagedBy::Catalog && stored.managed_by == ManagedBy::Operator);
    let result = if keep {
        stored
    } else {
        model.created_at = Set(stored.created_at);
        model.reset_all().update(&txn).await?
    };
    txn.commit().await?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::https_url;

    #[test]
    fn provider_urls_are_https_or_loopback_http() {
        assert!(https_url("token_url", "https://example.com/token").is_ok());
        for loopback in [
            "http://127.0.0.1:9/t",
            "http://localhost/t",
            "http://[::1]:80/t",
        ] {
            assert!(https_url("token_url", loopback).is_ok(), "{loopback}");
        }
        for bad in [
            "http://example.com/token",
            "ftp://example.com",
            "not a url",
            "/relative",
        ] {
            let err = https_url("token_url", bad).unwrap_err().to_string();
            assert!(err.contains("token_url"), "{err}");
        }
    }
}
