//! Reading the few headers a delivery is judged by: each at most once, printable
//! ASCII, bounded; and the ones worth keeping with the event.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use super::Refusal;

/// Longest delivery id, event type or kept header value.
pub const MAX_VALUE_LEN: usize = 200;

/// The header's value: `Ok(None)` when absent, `Err(refusal)` when repeated or not
/// printable ASCII.
pub(super) fn single<'h>(
    headers: &'h HeaderMap,
    name: &str,
    refusal: Refusal,
) -> Result<Option<&'h str>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(refusal);
    }
    let value = first.to_str().map_err(|_| refusal)?;
    if value.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return Err(refusal);
    }
    Ok(Some(value))
}

/// A delivery id or event type: present, once, printable, non-blank, bounded.
pub(super) fn label(headers: &HeaderMap, name: &str, missing: Refusal) -> Result<String, Refusal> {
    let value = single(headers, name, Refusal::InvalidHeader)?
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(missing)?;
    if value.len() > MAX_VALUE_LEN {
        return Err(Refusal::InvalidHeader);
    }
    Ok(value.to_owned())
}

/// The `names` present once with a printable, bounded value, by lowercase name.
pub(super) fn keep(headers: &HeaderMap, names: &[&str]) -> BTreeMap<String, String> {
    names
        .iter()
        .filter_map(|name| {
            let value = single(headers, name, Refusal::InvalidHeader).ok()??;
            (value.len() <= MAX_VALUE_LEN).then(|| ((*name).to_owned(), value.to_owned()))
        })
        .collect()
}
