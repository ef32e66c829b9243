//! Extractors that turn every malformed request into a problem response with a stable
//! code: JSON bodies, path ids and query strings. A problem names the field, never the
//! value that failed to parse; a field name the caller made up is shown only when it
//! is short and plain.

use axum::extract::path::ErrorKind;
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
        JsonRejection::JsonDataError(e) => data_error_problem(&e.body_text()),
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

/// `name` if it is fit to show: at most 64 characters of ASCII letters, digits and
/// `_.[]-`. Anything else came from the caller and is not echoed.
fn shown(name: &str) -> Option<&str> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.[]-".contains(&b));
    plain.then_some(name)
}

/// `Some(name)` when serde refused an unknown field, `name` being `None` when it is
/// not fit to show.
fn unknown_field(text: &str) -> Option<Option<&str>> {
    let rest = text.split("unknown field `").nth(1)?;
    Some(rest.split('`').next().and_then(shown))
}

/// 422 `unknown_field`, naming the field when it is fit to show.
fn unknown_field_problem(field: Option<&str>) -> ApiError {
    let problem =
        |detail: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_field", detail);
    match field {
        Some(field) => problem(format!("unknown field {field:?}")).field(field),
        None => problem("the body has a field this operation does not take".to_owned()),
    }
}

/// A refusal of a body that does not fit its type, naming the field (when fit to show)
/// or answering `unknown_field`.
pub(super) fn data_error_problem(text: &str) -> ApiError {
    match unknown_field(text) {
        Some(field) => unknown_field_problem(field),
        None => {
            let (field, reason) = describe_data_error(text);
            ApiError::validation(&field, reason)
        }
    }
}

/// The field path and a reason for a body or query that does not fit its type,
/// without the offending value: serde quotes it (`invalid type: string "…"`), and it
/// may be a secret sent in the wrong place.
pub(super) fn describe_data_error(text: &str) -> (String, String) {
    let text = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .or_else(|| text.strip_prefix("Failed to deserialize query string: "))
        .unwrap_or(text);
    let text = text.split(" at line ").next().unwrap_or(text);
    let (field, message) = match text.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => {
            (shown(path).unwrap_or_default().to_owned(), rest)
        }
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
    let named = if field.is_empty() {
        "body".to_owned()
    } else {
        field.clone()
    };
    (field, format!("{named}: {reason}"))
}

/// Path parameters. A malformed id → 400 `invalid_id`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(path_problem(e.kind())),
            Err(other) => Err(ApiError::new(
                other.status(),
                "bad_request",
                other.body_text(),
            )),
        }
    }
}

/// 400 `invalid_id` naming the path parameter (the keys are the route's own), never
/// its value. A programmer's error (an unsupported type, a wrong count) is a 500.
fn path_problem(kind: &ErrorKind) -> ApiError {
    let key = match kind {
        ErrorKind::ParseErrorAtKey { key, .. }
        | ErrorKind::DeserializeError { key, .. }
        | ErrorKind::InvalidUtf8InPathParam { key } => Some(key.as_str()),
        ErrorKind::UnsupportedType { .. } | ErrorKind::WrongNumberOfParameters { .. } => {
            tracing::error!(error = %kind, "path parameters do not fit the handler");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the request could not be completed; the cause is in the service log",
            );
        }
        _ => None,
    };
    match key.and_then(shown) {
        Some(key) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("the path parameter {key} is malformed"),
        )
        .field(key),
        None => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            "a path parameter is malformed",
        ),
    }
}

/// Query parameters. Malformed → 400 `invalid_query`, naming the parameter (when fit
/// to show) and never its value.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                let problem = |field: &str, detail: String| {
                    let e = ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", detail);
                    if field.is_empty() { e } else { e.field(field) }
                };
                Err(match unknown_field(&text) {
                    Some(Some(name)) => problem(name, format!("unknown query parameter {name:?}")),
                    Some(None) => problem("", "unknown query parameter".to_owned()),
                    None => {
                        let (field, reason) = describe_data_error(&text);
                        problem(&field, reason)
                    }
                })
            }
            Err(other) => Err(ApiError::new(
                other.status(),
                "bad_request",
                other.body_text(),
            )),
        }
    }
}
