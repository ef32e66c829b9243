//! A connection's credential: stored only as AEAD ciphertext bound to (tenant,
//! connection, field), one row per secret field, with a display mask beside each.
//!
//! Writing is two steps so that the change can share a transaction with other writes:
//! [`seal`] encrypts (it may touch the keyring's own pool, so call it before opening a
//! transaction), then [`write_sealed`] stores inside the caller's transaction.
//! [`store`] does both. Reading is one indexed query and no write.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::crypto::{Binding, Keyring, mask};
use crate::error::{Error, Result};
use crate::models::connection::ConnectionStatus;
use crate::models::{ConnectionId, TenantId};
use crate::repositories::credential_secrets::{self, SealedRow};
use crate::tenancy::{TenantScope, TenantTxn};

/// Longest secret accepted, in bytes.
pub const SECRET_MAX_LEN: usize = 16 * 1024;

/// The kinds of credential the catalog's auth modes need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// OAuth 2.0 access token, and refresh token when the provider issues one.
    Oauth2,
    /// Client id and secret (OAuth 2.0 client credentials, or used directly), and the
    /// access token obtained with them when there is one.
    ClientCredentials,
    ApiKey,
    Basic,
    /// A repository access token and the webhook secret that signs its deliveries.
    RepositoryToken,
}

impl CredentialKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            CredentialKind::Oauth2 => "oauth2",
            CredentialKind::ClientCredentials => "client_credentials",
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Basic => "basic",
            CredentialKind::RepositoryToken => "repository_token",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "oauth2" => CredentialKind::Oauth2,
            "client_credentials" => CredentialKind::ClientCredentials,
            "api_key" => CredentialKind::ApiKey,
            "basic" => CredentialKind::Basic,
            "repository_token" => CredentialKind::RepositoryToken,
            _ => return Err(Error::MalformedCiphertext),
        })
    }
}

/// Secret material of a connection. Every secret is a `SecretString`: `Debug` prints
/// `[REDACTED]`, and the memory is zeroed on drop. It deserializes from the API's
/// `{"kind": "api_key", "api_key": "…"}` form, and never serializes. Each secret is
/// 1 byte to 16 KiB ([`SECRET_MAX_LEN`]) without control characters.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credential {
    Oauth2 {
        #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        access_token: SecretString,
        #[serde(default)]
        #[schema(value_type = Option<String>, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        refresh_token: Option<SecretString>,
    },
    ClientCredentials {
        #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        client_id: SecretString,
        #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        client_secret: SecretString,
        #[serde(default)]
        #[schema(value_type = Option<String>, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        access_token: Option<SecretString>,
    },
    ApiKey {
        #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        api_key: SecretString,
    },
    Basic {
        #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        username: SecretString,
        #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        password: SecretString,
    },
    RepositoryToken {
        #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        access_token: SecretString,
        #[schema(value_type = String, min_length = 1, max_length = 16384, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        webhook_secret: SecretString,
    },
}

impl Credential {
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::Oauth2 { .. } => CredentialKind::Oauth2,
            Credential::ClientCredentials { .. } => CredentialKind::ClientCredentials,
            Credential::ApiKey { .. } => CredentialKind::ApiKey,
            Credential::Basic { .. } => CredentialKind::Basic,
            Credential::RepositoryToken { .. } => CredentialKind::RepositoryToken,
        }
    }

    /// The secret fields, by stored field name.
    pub fn fields(&self) -> Vec<(&'static str, &SecretString)> {
        match self {
            Credential::Oauth2 {
                access_token,
                refresh_token,
            } => {
                let mut f = vec![("access_token", access_token)];
                if let Some(r) = refresh_token {
                    f.push(("refresh_token", r));
                }
                f
            }
            Credential::ClientCredentials {
                client_id,
                client_secret,
                access_token,
            } => {
                let mut f = vec![("client_id", client_id), ("client_secret", client_secret)];
                if let Some(a) = access_token {
                    f.push(("access_token", a));
                }
                f
            }
            Credential::ApiKey { api_key } => vec![("api_key", api_key)],
            Credential::Basic { username, password } => {
                vec![("username", username), ("password", password)]
            }
            Credential::RepositoryToken {
                access_token,
                webhook_secret,
            } => vec![
                ("access_token", access_token),
                ("webhook_secret", webhook_secret),
            ],
        }
    }

    fn from_fields(
        kind: CredentialKind,
        mut fields: BTreeMap<String, SecretString>,
    ) -> Result<Self> {
        let mut take = |name: &str| fields.remove(name);
        let credential = match kind {
            CredentialKind::Oauth2 => Credential::Oauth2 {
                access_token: take("access_token").ok_or(Error::MalformedCiphertext)?,
                refresh_token: take("refresh_token"),
            },
            CredentialKind::ClientCredentials => Credential::ClientCredentials {
                client_id: take("client_id").ok_or(Error::MalformedCiphertext)?,
                client_secret: take("client_secret").ok_or(Error::MalformedCiphertext)?,
                access_token: take("access_token"),
            },
            CredentialKind::ApiKey => Credential::ApiKey {
                api_key: take("api_key").ok_or(Error::MalformedCiphertext)?,
            },
            CredentialKind::Basic => Credential::Basic {
                username: take("username").ok_or(Error::MalformedCiphertext)?,
                password: take("password").ok_or(Error::MalformedCiphertext)?,
            },
            CredentialKind::RepositoryToken => Credential::RepositoryToken {
                access_token: take("access_token").ok_or(Error::MalformedCiphertext)?,
                webhook_secret: take("webhook_secret").ok_or(Error::MalformedCiphertext)?,
            },
        };
        Ok(credential)
    }

    /// Checks every secret; the error names the field, never the value.
    pub fn validate(&self) -> Result<()> {
        for (name, secret) in self.fields() {
            let value = secret.expose_secret();
            if value.is_empty() {
                return Err(Error::invalid(name, "must not be empty"));
            }
            if value.len() > SECRET_MAX_LEN {
                return Err(Error::invalid(
                    name,
                    format!("must be at most {SECRET_MAX_LEN} bytes"),
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(Error::invalid(name, "must not contain control characters"));
            }
        }
        if let Credential::Basic { username, .. } = self
            && username.expose_secret().contains(':')
        {
            return Err(Error::invalid("username", "must not contain ':'"));
        }
        Ok(())
    }
}

/// What may be shown of a stored credential: its kind and a mask per field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialSummary {
    pub kind: CredentialKind,
    pub masks: BTreeMap<String, String>,
    pub updated_at: DateTime<Utc>,
}

/// A credential encrypted for one connection, ready to be written.
pub struct SealedCredential {
    tenant: TenantId,
    connection: ConnectionId,
    kind: CredentialKind,
    fields: Vec<SealedRow>,
}

fn binding(tenant: TenantId, connection: ConnectionId, field: &str) -> Binding<'_> {
    Binding {
        tenant: tenant.as_uuid(),
        row: connection.as_uuid(),
        field,
    }
}

/// Validates and encrypts a credential for the tenant's connection. Writes nothing but
/// the keyring's encryption count.
pub async fn seal(
    keyring: &Keyring,
    tenant: TenantId,
    connection: ConnectionId,
    credential: &Credential,
) -> Result<SealedCredential> {
    credential.validate()?;
    let mut fields = Vec::new();
    for (name, secret) in credential.fields() {
        let (key_id, ciphertext) = keyring
            .encrypt(
                binding(tenant, connection, name),
                secret.expose_secret().as_bytes(),
            )
            .await?;
        fields.push(SealedRow {
            field: name,
            key_id,
            ciphertext,
            mask: mask(secret.expose_secret()),
        });
    }
    Ok(SealedCredential {
        tenant,
        connection,
        kind: credential.kind(),
        fields,
    })
}

/// Replaces the connection's credential with `sealed`, inside the caller's
/// transaction. `NotFound` when the tenant has no such connection.
pub async fn write_sealed<C: TenantScope>(
    db: &C,
    sealed: SealedCredential,
) -> Result<CredentialSummary> {
    let SealedCredential {
        tenant,
        connection,
        kind,
        fields,
    } = sealed;
    let masks = fields
        .iter()
        .map(|f| (f.field.to_owned(), f.mask.clone()))
        .collect();
    let updated_at =
        credential_secrets::replace(db, tenant, connection, kind.as_str(), fields).await?;
    Ok(CredentialSummary {
        kind,
        masks,
        updated_at,
    })
}

/// Encrypts and stores a credential for the tenant's connection, replacing any
/// previous one, in one transaction.
pub async fn store<C: TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
    keyring: &Keyring,
    tenant: TenantId,
    connection: ConnectionId,
    credential: &Credential,
) -> Result<CredentialSummary> {
    let sealed = seal(keyring, tenant, connection, credential).await?;
    let txn = TenantTxn::begin_write(db, tenant).await?;
    let summary = write_sealed(&txn, sealed).await?;
    txn.commit().await?;
    Ok(summary)
}

/// Decrypts the tenant's connection's credential: one indexed query, no write.
/// `None` when it has none (or is another tenant's).
pub async fn read<C: TenantScope>(
    db: &C,
    keyring: &Keyring,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<Option<Credential>> {
    Ok(read_with_expiry(db, keyring, tenant, connection)
        .await?
        .map(|r| r.credential))
}

/// A decrypted credential and what its connection row says about it.
pub struct CredentialRead {
    pub credential: Credential,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub status: ConnectionStatus,
    pub reason_code: Option<String>,
    pub provider: String,
}

/// [`read`], plus the connection's token expiry, status and provider, still in one
/// statement (`repositories::credential_secrets::read`).
pub async fn read_with_expiry<C: TenantScope>(
    db: &C,
    keyring: &Keyring,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<Option<CredentialRead>> {
    let rows = credential_secrets::read(db, tenant, connection).await?;
    open(keyring, tenant, connection, &rows).await
}

/// Decrypts the rows of a credential read (`repositories::credential_secrets::read`,
/// or the same rows from `services::credential_cache`), each with its own binding.
/// `None` when there are none.
pub async fn open(
    keyring: &Keyring,
    tenant: TenantId,
    connection: ConnectionId,
    rows: &[credential_secrets::SecretRow],
) -> Result<Option<CredentialRead>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let kind = CredentialKind::parse(&first.kind)?;
    let mut fields = BTreeMap::new();
    for row in rows {
        if row.kind != first.kind {
            return Err(Error::MalformedCiphertext);
        }
        let plain = keyring
            .decrypt(binding(tenant, connection, &row.field), &row.ciphertext)
            .await?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| Error::MalformedCiphertext)?;
        fields.insert(row.field.clone(), SecretString::from(text));
    }
    Ok(Some(CredentialRead {
        credential: Credential::from_fields(kind, fields)?,
        token_expires_at: first.token_expires_at,
        status: first.status,
        reason_code: first.reason_code.clone(),
        provider: first.provider.clone(),
    }))
}

/// The kind and masks of the connection's credential, without decrypting anything.
pub async fn summary<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<Option<CredentialSummary>> {
    let id = connection.as_uuid();
    Ok(summaries(db, tenant, &[id]).await?.remove(&id))
}

/// The credential summaries of several of the tenant's connections, in one query.
pub async fn summaries<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connections: &[uuid::Uuid],
) -> Result<HashMap<uuid::Uuid, CredentialSummary>> {
    let mut out: HashMap<uuid::Uuid, CredentialSummary> = HashMap::new();
    for row in credential_secrets::masks(db, tenant, connections).await? {
        let kind = CredentialKind::parse(&row.kind)?;
        out.entry(row.connection_id)
            .or_insert_with(|| CredentialSummary {
                kind,
                masks: BTreeMap::new(),
                updated_at: row.updated_at,
            })
            .masks
            .insert(row.field, row.mask);
    }
    Ok(out)
}

/// Destroys the connection's credential; returns how many secrets were deleted.
pub async fn delete<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<u64> {
    credential_secrets::delete(db, tenant, connection).await
}
