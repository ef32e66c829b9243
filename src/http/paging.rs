//! The paging contract of every list: a keyset `cursor` (the `next_cursor` of the
//! previous page) and a `limit` of 1 to 200 items (50 when absent). A limit out of
//! range is 400 `invalid_query`, never clamped; a cursor that is not one of ours is
//! 400 `invalid_cursor`.

use axum::http::StatusCode;
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use crate::repositories::Page;

/// The query of a list that has no filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page; the first page when absent.
    cursor: Option<String>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200, example = 50)]
    limit: Option<u64>,
}

impl PageQuery {
    pub fn page(self) -> ApiResult<Page> {
        page(self.cursor, self.limit)
    }
}

/// The page a list asks for, with its limit checked.
pub fn page(cursor: Option<String>, limit: Option<u64>) -> ApiResult<Page> {
    if let Some(limit) = limit
        && !(1..=Page::MAX_LIMIT).contains(&limit)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be between 1 and {}", Page::MAX_LIMIT),
        )
        .field("limit"));
    }
    Ok(Page {
        limit,
        after: cursor,
    })
}
