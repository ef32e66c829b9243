//! The deployment's OAuth apps: one per provider, set by an operator. The client secret
//! is AEAD ciphertext bound to the app's row (tenant part of the binding: the nil UUID,
//! as the app belongs to no tenant); it is counted by key status and retirement and
//! moved by re-encryption like every other ciphertext.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use uuid::Uuid;

use super::page::{Cursor, KeyPosition, Page, PageResult};
use crate::crypto::{Binding, Keyring, mask};
use crate::error::{Error, Result};
use crate::models::json::StringList;
use crate::models::{ProviderSlug, oauth_app};
use crate::oauth::OAuthProfile;

/// Most return URLs one app may allow.
pub const MAX_RETURN_URLS: usize = 50;

const FIELD: &str = "client_secret";

/// What an operator sets. The secret may be left out when updating.
pub struct OAuthAppInput {
    pub provider: ProviderSlug,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub allowed_return_urls: Vec<String>,
}

/// What may be shown of an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OAuthAppSummary {
    pub provider: String,
    pub client_id: String,
    /// At most the last four characters of the client secret.
    pub client_secret_mask: String,
    pub allowed_return_urls: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<oauth_app::Model> for OAuthAppSummary {
    fn from(m: oauth_app::Model) -> Self {
        Self {
            provider: m.provider_slug,
            client_id: m.client_id,
            client_secret_mask: m.secret_mask,
            allowed_return_urls: m.allowed_return_urls.0,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn binding(id: Uuid) -> Binding<'static> {
    Binding {
        tenant: Uuid::nil(),
        row: id,
        field: FIELD,
    }
}

/// A return URL must be absolute, https (http only on loopback), at most 2048 bytes,
/// without control characters, credentials or fragment. Returned normalized, as compared later.
pub fn check_return_url(field: &'static str, raw: &str) -> Result<String> {
    let url = super::providers::https_url(field, raw)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(field, "must not contain credentials"));
    }
    if url.fragment().is_some() {
        return Err(Error::invalid(field, "must not contain a fragment"));
    }
    Ok(url.to_string())
}

fn check_client_id(client_id: &str) -> Result<()> {
    if client_id.is_empty() || client_id.len() > 512 || client_id.chars().any(char::is_control) {
        return Err(Error::invalid(
            "client_id",
            "use 1 to 512 characters without control characters",
        ));
    }
    Ok(())
}

fn check_secret(secret: &SecretString) -> Result<()> {
    let s = secret.expose_secret();
    if s.is_empty() || s.len() > 4096 || s.chars().any(char::is_control) {
        return Err(Error::invalid(
            "client_secret",
            "use 1 to 4096 characters without control characters",
        ));
    }
    Ok(())
}

/// Creates or replaces the provider's app, in one transaction. A new app needs a
/// secret; an update without one keeps the stored secret.
pub async fn set<C: TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    input: OAuthAppInput,
) -> Result<OAuthAppSummary> {
    check_client_id(&input.client_id)?;
    if let Some(secret) = &input.client_secret {
        check_secret(secret)?;
    }
    if input.allowed_return_urls.len() > MAX_RETURN_URLS {
        return Err(Error::invalid(
            "allowed_return_urls",
            format!("at most {MAX_RETURN_URLS}"),
        ));
    }
    let mut urls = Vec::with_capacity(input.allowed_return_urls.len());
    for raw in &input.allowed_return_urls {
        let url = check_return_url("allowed_return_urls", raw)?;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    // Encrypt before the write transaction: the keyring counts encryptions through its
    // own pool, which a SQLite write transaction would block.
    let id = {
        let conn = db.begin().await?;
        let provider = super::providers::get_by_slug(&conn, &input.provider)
            .await?
            .ok_or_else(|| Error::UnknownProvider(input.provider.to_string()))?;
        OAuthProfile::from_provider(&provider)?;
        let id = get(&conn, input.provider.as_str()).await?.map(|e| e.id);
        conn.commit().await?;
        id
    };
    let fresh = id.is_none();
    let id = id.unwrap_or_else(Uuid::new_v4);
    let sealed = match &input.client_secret {
        Some(secret) => Some((
            keyring
                .encrypt(binding(id), secret.expose_secret().as_bytes())
                .await?,
            mask(secret.expose_secret()),
        )),
        None => None,
    };
    let txn = super::begin_write(db).await?;
    let existing = get(&txn, input.provider.as_str()).await?;
    if existing.as_ref().map(|e| e.id) != (!fresh).then_some(id) {
        return Err(Error::invalid(
            "provider",
            "the OAuth app was changed concurrently; try again",
        ));
    }
    let now = super::now();
    let model = match existing {
        Some(existing) => {
            let revision = existing.revision + 1;
            let mut row: oauth_app::ActiveModel = existing.into();
            row.client_id = Set(input.client_id);
            row.allowed_return_urls = Set(StringList(urls));
            row.revision = Set(revision);
            row.updated_at = Set(now);
            if let Some(((key_id, ciphertext), mask)) = sealed {
                row.secret_ciphertext = Set(ciphertext);
                row.secret_key_id = Set(key_id as i32);
                row.secret_mask = Set(mask);
            }
            row.update(&txn).await?
        }
        None => {
            let Some(((key_id, ciphertext), mask)) = sealed else {
                return Err(Error::invalid(
                    "client_secret",
                    "is required for a new OAuth app",
                ));
            };
            oauth_app::ActiveModel {
                id: Set(id),
                provider_slug: Set(input.provider.as_str().to_owned()),
                client_id: Set(input.client_id),
                secret_ciphertext: Set(ciphertext),
                secret_key_id: Set(key_id as i32),
                secret_mask: Set(mask),
                allowed_return_urls: Set(StringList(urls)),
                revision: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    Ok(model.into())
}

pub async fn get<C: ConnectionTrait>(db: &C, provider: &str) -> Result<Option<oauth_app::Model>> {
    Ok(oauth_app::Entity::find()
        .filter(oauth_app::Column::ProviderSlug.eq(provider))
        .one(db)
        .await?)
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<OAuthAppSummary>> {
    Ok(oauth_app::Entity::find()
        .order_by_asc(oauth_app::Column::ProviderSlug)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// One page of the apps, in provider slug order.
pub async fn list_page<C: ConnectionTrait>(
    db: &C,
    page: Page,
) -> Result<PageResult<OAuthAppSummary>> {
    let limit = page.effective_limit();
    let mut query = oauth_app::Entity::find();
    if let Some(cursor) = page.after.as_deref() {
        let after = KeyPosition::decode(cursor)?;
        query = query.filter(oauth_app::Column::ProviderSlug.gt(after.key));
    }
    let items = query
        .order_by_asc(oauth_app::Column::ProviderSlug)
        .limit(limit + 1)
        .all(db)
        .await?
        .into_iter()
        .map(OAuthAppSummary::from)
        .collect();
    Ok(super::page::finish(items, limit, |a: &OAuthAppSummary| {
        KeyPosition {
            key: a.provider.clone(),
        }
    }))
}

/// Deletes the provider's app; `NotFound` when there is none.
pub async fn delete<C: ConnectionTrait>(db: &C, provider: &str) -> Result<()> {
    let result = oauth_app::Entity::delete_many()
        .filter(oauth_app::Column::ProviderSlug.eq(provider))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(Error::NotFound("OAuth app"));
    }
    Ok(())
}

/// The app's client secret, decrypted.
pub async fn client_secret(keyring: &Keyring, app: &oauth_app::Model) -> Result<SecretString> {
    let plain = keyring
        .decrypt(binding(app.id), &app.secret_ciphertext)
        .await?;
    let text = String::from_utf8(plain.to_vec()).map_err(|_| Error::MalformedCiphertext)?;
    Ok(SecretString::from(text))
}

/// Moves every app secret under a key older than `target` to the active key, each with
/// a compare-and-swap on its revision. Returns (re-encrypted, unreadable).
pub async fn reencrypt<C: ConnectionTrait>(
    db: &C,
    keyring: &Keyring,
    target: u32,
) -> Result<(u64, u64)> {
    let stale = oauth_app::Entity::find()
        .filter(oauth_app::Column::SecretKeyId.lt(target as i32))
        .all(db)
        .await?;
    let (mut done, mut unreadable) = (0, 0);
    for app in stale {
        let secret = match client_secret(keyring, &app).await {
            Ok(s) => s,
            Err(err) => {
                tracing::error!(provider = %app.provider_slug, error = %err, "OAuth app secret cannot be decrypted");
                unreadable += 1;
                continue;
            }
        };
        let (key_id, ciphertext) = keyring
            .encrypt(binding(app.id), secret.expose_secret().as_bytes())
            .await?;
        let result = oauth_app::Entity::update_many()
            .set(oauth_app::ActiveModel {
                secret_ciphertext: Set(ciphertext),
                secret_key_id: Set(key_id as i32),
                revision: Set(app.revision + 1),
                ..Default::default()
            })
            .filter(oauth_app::Column::Id.eq(app.id))
            .filter(oauth_app::Column::Revision.eq(app.revision))
            .exec(db)
            .await?;
        done += result.rows_affected;
    }
    Ok((done, unreadable))
}

#[cfg(test)]
mod tests {
    use super::check_return_url;

    #[test]
    fn return_urls_are_normalized_and_refused_with_credentials_or_fragments() {
        assert_eq!(
            check_return_url("return_url", "https://App.example/done").unwrap(),
            "https://app.example/done"
        );
        for bad in [
            "https://user:pw@app.example/done",
            "https://app.example/done#frag",
            "http://app.example/done",
        ] {
            assert!(check_return_url("return_url", bad).is_err(), "{bad}");
        }
        let long = format!("https://app.example/{}", "a".repeat(2100));
        assert!(check_return_url("return_url", &long).is_err());
    }
}
