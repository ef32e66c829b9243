//! RFC 9457 problem details with a stable machine `code`. Internal failures are logged
//! and answered with a 500 that says nothing about them.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;
use crate::models::connection::ConnectionStatus;

/// The `Retry-After` of a `database_unavailable` answer, in seconds.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// Why a connection cannot be used (`refresh_token_revoked`, …).
    pub reason_code: Option<String>,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
    /// The caller's connection a refused duplicate would have repeated (boxed: a
    /// large error makes every `Result` of the handlers large).
    pub existing_connection_id: Option<Box<uuid::Uuid>>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    existing_connection_id: Option<uuid::Uuid>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            reason_code: None,
            retry_after: None,
            existing_connection_id: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthenticated(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn validation(field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            detail,
        )
        .field(field)
    }

    /// 503 `database_unavailable`: the database is down, unreachable or unusable; the
    /// cause goes to the log only. Every route answers it the same way.
    fn database_unavailable(cause: &Error) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; try again later",
        );
        e.retry_after = Some(DATABASE_RETRY_AFTER_SECS);
        e
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the request could not be completed; the cause is in the service log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = Problem {
            kind: format!("urn:connvault:problem:{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            field: self.field.as_deref(),
            reason_code: self.reason_code.as_deref(),
            existing_connection_id: self.existing_connection_id.as_deref().copied(),
        };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        Error::from(err).into()
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match &err {
            Error::InvalidSlug => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_slug",
                err.to_string(),
            )
            .field("provider"),
            Error::InvalidExternalId(_) => ApiError::validation("external_id", err.to_string()),
            Error::Invalid { field, .. } => ApiError::validation(field, err.to_string()),
            Error::UnknownProvider(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_provider",
                err.to_string(),
            )
            .field("provider"),
            Error::UnknownTenant(_) => ApiError::not_found("tenant"),
            Error::NotFound(what) => ApiError::not_found(what),
            Error::DuplicateConnection { existing, .. } => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    "duplicate_connection",
                    err.to_string(),
                );
                e.existing_connection_id = existing.map(|id| Box::new(id.as_uuid()));
                e
            }
            Error::InvalidCursor => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", err.to_string())
            }
            Error::KeyInUse { .. } | Error::KeyIsActive(_) => {
                ApiError::new(StatusCode::CONFLICT, "key_in_use", err.to_string())
            }
            Error::Decrypt | Error::MalformedCiphertext | Error::UnknownDataKey(_) => {
                tracing::error!(error = %err, "stored credential cannot be decrypted");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "credential_unreadable",
                    "the stored credential cannot be decrypted; the cause is in the service log",
                )
            }
            Error::ConnectionUnusable {
                status,
                reason_code,
            } => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    if *status == ConnectionStatus::NeedsReauth {
                        "connection_needs_reauth"
                    } else {
                        "connection_unusable"
                    },
                    err.to_string(),
                );
                e.reason_code = reason_code.clone();
                e
            }
            Error::ProviderUnavailable {
                reason_code,
                retry_after_secs,
            } => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "provider_unavailable",
                    err.to_string(),
                );
                e.reason_code = Some(reason_code.clone());
                e.retry_after = Some(retry_after_secs.unwrap_or(1));
                e
            }
            Error::ConnectionNotTestable(reason) => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    "connection_not_testable",
                    err.to_string(),
                );
                e.reason_code = Some((*reason).to_owned());
                e
            }
            Error::ClaimLost => ApiError::new(StatusCode::CONFLICT, "claim_lost", err.to_string()),
            Error::InvalidState => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_state", err.to_string())
            }
            Error::OAuthAppMissing(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "oauth_app_missing",
                err.to_string(),
            )
            .field("provider"),
            Error::WebhookRegistration(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "webhook_registration_failed",
                err.to_string(),
            ),
            Error::UnknownOperationType(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_operation_type",
                err.to_string(),
            )
            .field("type"),
            Error::OperationTypeInUse(_) => ApiError::new(
                StatusCode::CONFLICT,
                "operation_type_in_use",
                err.to_string(),
            ),
            Error::OperationFinished => {
                ApiError::new(StatusCode::CONFLICT, "operation_finished", err.to_string())
            }
            Error::DatabaseUnavailable(_) => ApiError::database_unavailable(&err),
            Error::Database(db) if crate::db::is_unavailable(db) => {
                ApiError::database_unavailable(&err)
            }
            Error::Catalog(_) | Error::MasterKey(_) | Error::Isolation(_) | Error::Database(_) => {
                tracing::error!(error = %err, "request failed");
                ApiError::internal()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
