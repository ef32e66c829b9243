//! Keyset pagination: an opaque cursor naming the last row seen, a stable order,
//! and no duplicates or gaps when rows are inserted between pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Which page to fetch.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// Rows per page; clamped to `1..=Page::MAX_LIMIT`, [`Page::DEFAULT_LIMIT`] when absent.
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page; the first page when absent.
    pub after: Option<String>,
}

impl Page {
    pub const DEFAULT_LIMIT: u64 = 50;
    pub const MAX_LIMIT: u64 = 200;

    pub fn first(limit: u64) -> Self {
        Self {
            limit: Some(limit),
            after: None,
        }
    }

    pub fn after(limit: u64, cursor: impl Into<String>) -> Self {
        Self {
            limit: Some(limit),
            after: Some(cursor.into()),
        }
    }

    pub(crate) fn effective_limit(&self) -> u64 {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}

/// One page of rows, and the cursor of the next page if there may be one.
#[derive(Clone, Debug)]
pub struct PageResult<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What a cursor names: the sort key of the last row seen, as opaque base64url JSON.
pub(crate) trait Cursor: Serialize + DeserializeOwned {
    fn encode(&self) -> String {
        // Serializing plain fields cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(cursor: &str) -> Result<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| Error::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| Error::InvalidCursor)
    }
}

/// The position after which the next page starts, in lists ordered by creation:
/// the last row's `(created_at, id)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    #[serde(rename = "t")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "i")]
    pub id: Uuid,
}

impl Cursor for Position {}

/// The position after which the next page starts, in lists ordered by a unique text
/// key (the provider slug of the catalog, of OAuth apps and of integrations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyPosition {
    #[serde(rename = "k")]
    pub key: String,
}

impl Cursor for KeyPosition {}

/// Cuts a `limit + 1` fetch down to `limit` rows and, when there was more, encodes the
/// last kept row's sort key as the next cursor.
pub(crate) fn finish<T, P: Cursor>(
    mut items: Vec<T>,
    limit: u64,
    key: impl Fn(&T) -> P,
) -> PageResult<T> {
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|last| key(last).encode())
    } else {
        None
    };
    PageResult { items, next_cursor }
}
