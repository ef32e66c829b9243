//! Extractors that turn every malformed request into a problem response with a stable
//! code: JSON bodies, path ids and query strings.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body. Wrong content type → 415, too large → 413, not JSON → 400, unknown
/// field → 422 `unknown_field`, wrong shape → 422 `validation_failed`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.body_text())
        }
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let field = text
                .split("unknown field `")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned);
            match field {
                Some(field) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_field",
                    format!("unknown field {field:?}"),
                )
                .field(field),
                None => {
                    let (field, reason) = describe_data_error(&text);
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        reason,
                    )
                    .field(field)
                }
            }
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the limit",
            )
        }
        other => ApiError::new(other.status(), "bad_request", other.body_text()),
    }
}

/// The field path and a reason for a body that does not fit its type, without the
/// offending value: serde quotes it (`invalid type: string "…"`), and it may be a
/// secret sent in the wrong place.
pub(super) fn describe_data_error(text: &str) -> (String, String) {
    let text = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text);
    let text = text.split(" at line ").next().unwrap_or(text);
    let (field, message) = match text.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (path.to_owned(), rest),
        _ => (String::new(), text),
    };
    let reason = match message.split_once(", expected ") {
        Some((problem, expected)) => {
            let kind = problem
                .split([':', ' '])
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            format!("{kind}, expected {expected}")
        }
        None if message.starts_with("missing field") => message.to_owned(),
        None => "the value does not fit this field".to_owned(),
    };
    let shown = if field.is_empty() {
        "body".to_owned()
    } else {
        field.clone()
    };
    (field, format!("{shown}: {reason}"))
}

/// Path parameters. A malformed id → 400 `invalid_id`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_id",
                e.body_text(),
            )),
            Err(other) => Err(ApiError::new(
                other.status(),
                "bad_request",
                other.body_text(),
            )),
        }
    }
}

/// Query parameters. Malformed → 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                e.body_text(),
            )),
            Err(other) => Err(ApiError::new(
                other.status(),
                "bad_request",
                other.body_text(),
            )),
        }
    }
}
