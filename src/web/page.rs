//! The page frame, the embedded style sheet, and error pages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::error::Error;
use crate::http::error::ApiError;

const STYLE: &str = include_str!("assets/style.css");

/// `GET /assets/style.css`.
pub async fn style() -> Response {
    let mut response = STYLE.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// A whole page: `title`, an optional top bar, and `body`.
pub fn frame(title: &str, top: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · connvault" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                @if let Some(top) = top { (top) }
                main #main { (body) }
            }
        }
    }
}

/// A rendered page with `status`.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// An error shown as a page: the status and a sentence, never a secret (the API's
/// error detail, which names no secret).
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Your key's role cannot do this, or the form was not sent from this page (a missing or stale CSRF token).",
        )
    }
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        Self::new(err.status, err.detail)
    }
}

impl From<Error> for PageError {
    fn from(err: Error) -> Self {
        ApiError::from(err).into()
    }
}

impl From<sea_orm::DbErr> for PageError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::from(err).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let body = html! {
            div.narrow {
                h1 { (title) }
                p.error role="alert" { (self.message) }
                p { a href="/console" { "Back to the console" } }
            }
        };
        respond(self.status, frame(&title, None, body))
    }
}

pub type PageResult<T> = Result<T, PageError>;

/// `303 See Other` to `location`.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
