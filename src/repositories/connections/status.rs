//! A connection's token metadata and state as a caller reports them: expiry, scopes,
//! status, health and the last error (reason code and a sanitized message).

use chrono::{DateTime, Utc};
use sea_orm::{EntityTrait, Set};

use super::{ERROR_MESSAGE_MAX_LEN, update_one};
use crate::error::{Error, Result};
use crate::models::checks::{check_instant, check_scopes};
use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::json::StringList;
use crate::models::{ConnectionId, TenantId};
use crate::sanitize;
use crate::tenancy::TenantScope;

/// The last error seen on a connection: a stable reason code and a sanitized message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionError {
    pub reason_code: String,
    pub message: String,
}

/// A partial update of a connection's token metadata and state (the credential itself
/// is stored through `services::credentials`). `None` leaves a field as it
/// is; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenStatusPatch {
    pub token_expires_at: Option<Option<DateTime<Utc>>>,
    pub scopes_granted: Option<Vec<String>>,
    pub status: Option<ConnectionStatus>,
    pub health_status: Option<HealthStatus>,
    pub last_health_check_at: Option<Option<DateTime<Utc>>>,
    pub last_error: Option<Option<ConnectionError>>,
}

fn check_error(error: &ConnectionError) -> Result<String> {
    let code = &error.reason_code;
    let valid_code = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid_code {
        return Err(Error::invalid(
            "last_error.reason_code",
            "use 1 to 64 characters of a-z, 0-9 and '_'",
        ));
    }
    Ok(sanitize::message(&error.message, ERROR_MESSAGE_MAX_LEN))
}

/// Applies `patch` to the tenant's connection and returns the updated row;
/// `NotFound` (and no change) when the tenant has no such connection.
pub async fn update_tokens_status<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    id: ConnectionId,
    patch: TokenStatusPatch,
) -> Result<connection::Model> {
    let mut row = connection::ActiveModel {
        updated_at: Set(crate::repositories::now()),
        ..Default::default()
    };
    if let Some(v) = patch.token_expires_at {
        if let Some(at) = v {
            check_instant("token_expires_at", at)?;
        }
        row.token_expires_at = Set(v);
    }
    if let Some(v) = patch.scopes_granted {
        check_scopes("scopes_granted", &v)?;
        row.scopes_granted = Set(StringList(v));
    }
    if let Some(v) = patch.status {
        row.status = Set(v);
    }
    if let Some(v) = patch.health_status {
        row.health_status = Set(v);
    }
    if let Some(v) = patch.last_health_check_at {
        if let Some(at) = v {
            check_instant("last_health_check_at", at)?;
        }
        row.last_health_check_at = Set(v);
    }
    if let Some(error) = patch.last_error {
        match error {
            Some(error) => {
                let message = check_error(&error)?;
                row.last_error_reason_code = Set(Some(error.reason_code));
                row.last_error_message = Set(Some(message));
            }
            None => {
                row.last_error_reason_code = Set(None);
                row.last_error_message = Set(None);
            }
        }
    }
    update_one(db, tenant, id, connection::Entity::update_many().set(row)).await
}
