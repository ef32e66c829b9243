//! Checks of outside input shared by every edge (HTTP, CLI, catalog file, library
//! callers): text without control characters, JSON both backends can store (PostgreSQL
//! refuses NUL in `jsonb` and `text`), scopes, and instants that RFC 3339 and both
//! databases represent. Errors name the field, never the value.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::error::{Error, Result};

/// Longest scope accepted, in bytes.
pub const SCOPE_MAX_LEN: usize = 512;

/// Refuses control characters (C0, DEL, C1), NUL included: for one-line values such
/// as ids, names, scopes, URLs and JSON keys.
pub fn check_no_control(field: &'static str, value: &str) -> Result<()> {
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Whether `c` may appear in free text (a JSON string value): anything but a control
/// character, except tab, line feed and carriage return.
fn free_text(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

/// A JSON value as a metadata column stores it: every object key without control
/// characters, every string without NUL or control characters other than tab, line
/// feed and carriage return, at any depth.
pub fn check_json(field: &'static str, value: &Value) -> Result<()> {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(s) if !s.chars().all(free_text) => {
                return Err(Error::invalid(
                    field,
                    "a string must not contain NUL or control characters other than tab, line feed and carriage return",
                ));
            }
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => {
                if map.keys().any(|k| k.chars().any(char::is_control)) {
                    return Err(Error::invalid(
                        field,
                        "a key must not contain control characters",
                    ));
                }
                pending.extend(map.values());
            }
            _ => {}
        }
    }
    Ok(())
}

/// A metadata column's value: a JSON object that passes [`check_json`].
pub fn check_metadata(field: &'static str, value: &Value) -> Result<()> {
    if !value.is_object() {
        return Err(Error::invalid(field, "must be a JSON object"));
    }
    check_json(field, value)
}

/// Each scope non-empty, at most [`SCOPE_MAX_LEN`] bytes, without whitespace or
/// control characters; the error names the list and the index.
pub fn check_scopes(field: &'static str, scopes: &[String]) -> Result<()> {
    for (index, scope) in scopes.iter().enumerate() {
        let problem = if scope.is_empty() {
            "is empty"
        } else if scope.len() > SCOPE_MAX_LEN {
            "is longer than 512 bytes"
        } else if scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
            "contains whitespace or control characters"
        } else {
            continue;
        };
        return Err(Error::invalid(
            field,
            format!("the scope at index {index} {problem}"),
        ));
    }
    Ok(())
}

/// The earliest instant accepted as input: 1970-01-01T00:00:00Z.
pub fn earliest_instant() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// The latest instant accepted as input: 9999-12-31T23:59:59Z, the last whole second
/// with a four-digit year (RFC 3339), so that rounding to the microseconds PostgreSQL
/// keeps cannot carry it into year 10000.
pub fn latest_instant() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .expect("a valid date")
        .and_utc()
}

/// An instant within [`earliest_instant`] ..= [`latest_instant`].
pub fn check_instant(field: &'static str, at: DateTime<Utc>) -> Result<()> {
    if at < earliest_instant() || at > latest_instant() {
        return Err(Error::invalid(
            field,
            "must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_line_values_refuse_every_control_character() {
        assert!(check_no_control("name", "Acme (EU) — ünïcode").is_ok());
        for bad in [
            "a\0b",
            "tab\there",
            "line\n",
            "\u{7f}",
            "\u{85}",
            "\u{1b}[31m",
        ] {
            let err = check_no_control("name", bad).unwrap_err().to_string();
            assert!(err.contains("name"), "{err}");
            assert!(!err.contains(bad), "{err}");
        }
    }

    #[test]
    fn json_refuses_nul_and_control_characters_at_any_depth() {
        let fine = json!({"note": "two\nlines\tand\r\n", "n": [1, {"deep": "ok"}], "x": null});
        assert!(check_json("metadata", &fine).is_ok());
        for bad in [
            json!({"k": "v\u{0000}"}),
            json!({"k\u{0000}": "v"}),
            json!({"k\n": "v"}),
            json!({"a": [{"b": ["\u{1b}"]}]}),
            json!(["\u{7f}"]),
            json!("\u{0}"),
        ] {
            let err = check_json("metadata", &bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid metadata"), "{err}");
        }
    }

    #[test]
    fn metadata_is_an_object() {
        assert!(check_metadata("metadata", &json!({})).is_ok());
        for bad in [json!([]), json!("x"), json!(1), json!(null)] {
            assert!(check_metadata("metadata", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_are_non_empty_bounded_single_words_and_errors_name_the_index() {
        let ok: Vec<String> = ["repo", "read:org", "https://graph.microsoft.com/.default"]
            .map(String::from)
            .into();
        assert!(check_scopes("scopes", &ok).is_ok());
        assert!(check_scopes("scopes", &[]).is_ok());
        for bad in [
            "",
            "two words",
            "tab\there",
            "nul\0",
            "\u{85}",
            &"x".repeat(513),
        ] {
            let list = vec!["repo".to_owned(), bad.to_owned()];
            let err = check_scopes("scopes", &list).unwrap_err().to_string();
            assert!(err.contains("scopes") && err.contains("index 1"), "{err}");
            if !bad.is_empty() {
                assert!(!err.contains(bad), "the value is not echoed: {err}");
            }
        }
    }

    #[test]
    fn instants_are_bounded_to_four_digit_years_from_the_epoch() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        for ok in [
            "1970-01-01T00:00:00Z",
            "2030-06-01T12:00:00Z",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59+00:00",
        ] {
            assert!(check_instant("token_expires_at", at(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "1969-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.5Z",
            "9999-12-31T23:59:59-01:00",
        ] {
            let err = check_instant("token_expires_at", at(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains("token_expires_at"), "{err}");
        }
        let far = "+99999-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert!(check_instant("token_expires_at", far).is_err());
    }
}
