//! The library's error type: one variant per thing a caller can get wrong, plus the
//! database failures nobody can fix by changing their input.

use sea_orm::{ActiveEnum, DbErr, SqlErr};

use crate::models::connection::ConnectionStatus;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid provider slug: use 1 to 64 characters of a-z, 0-9 and '-', starting with a letter or digit"
    )]
    InvalidSlug,

    #[error("invalid external id: {0}")]
    InvalidExternalId(&'static str),

    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    #[error("unknown provider {0:?}")]
    UnknownProvider(String),

    #[error("unknown tenant {0}")]
    UnknownTenant(uuid::Uuid),

    #[error(
        "a connection to {provider} for external id {external_id:?} already exists in this tenant"
    )]
    DuplicateConnection {
        provider: String,
        external_id: String,
        /// The tenant's connection that holds this key, when it could be found.
        existing: Option<crate::models::ConnectionId>,
    },

    #[error("{0} not found")]
    NotFound(&'static str),

    #[error("invalid pagination cursor")]
    InvalidCursor,

    #[error("provider catalog: {0}")]
    Catalog(String),

    #[error("master key: {0}")]
    MasterKey(String),

    #[error(
        "ciphertext failed authentication: wrong key, tampered bytes, or copied from another row, tenant or field"
    )]
    Decrypt,

    #[error("ciphertext is malformed or of an unknown format version")]
    MalformedCiphertext,

    #[error("data key {0} is unknown (retired, or never existed)")]
    UnknownDataKey(u32),

    #[error("data key {id} is still used by {ciphertexts} ciphertext(s): re-encrypt first")]
    KeyInUse { id: u32, ciphertexts: u64 },

    #[error("data key {0} is the active key: rotate first")]
    KeyIsActive(u32),

    #[error("refusing to serve: tenant isolation is not enforced by the database: {0}")]
    Isolation(String),

    #[error("the connection cannot be used ({}): {}", status.to_value(), reason_code.as_deref().unwrap_or("no reason recorded"))]
    ConnectionUnusable {
        status: ConnectionStatus,
        reason_code: Option<String>,
    },

    /// The connection cannot be tested: `disconnected`, `not_connected`,
    /// `no_health_check` (its provider has none), `no_credential`, or
    /// `unsendable_credential`.
    #[error("the connection cannot be tested ({0})")]
    ConnectionNotTestable(&'static str),

    #[error("the state names no connect session of this service")]
    InvalidState,

    #[error("the provider could not renew the token ({reason_code}); try again later")]
    ProviderUnavailable {
        reason_code: String,
        retry_after_secs: Option<u64>,
    },

    /// The claim token presented does not hold the run (any more): wrong, or replaced
    /// by a later claim after the run was taken back, or the run has completed.
    #[error(
        "this claim token does not hold the run: the run was taken back, completed, or never claimed with it"
    )]
    ClaimLost,

    #[error("no OAuth app is configured for provider {0:?}")]
    OAuthAppMissing(String),

    /// The Git service did not create the repository's webhook: one sanitized line
    /// (its status and why), never the token or the secret.
    #[error("the provider did not create the webhook: {0}")]
    WebhookRegistration(String),
    #[error("unknown operation type {0:?}")]
    UnknownOperationType(String),

    #[error("operation type {0:?} has runs: it cannot be deleted")]
    OperationTypeInUse(String),

    #[error("the operation run is already completed")]
    OperationFinished,

    /// The database cannot be opened or reached: one line naming the file or the server
    /// (never a password).
    #[error("{0}")]
    DatabaseUnavailable(String),

    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Whether a database error is a unique-key violation (on either backend).
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether a database error is a foreign-key violation (on either backend).
pub(crate) fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}
