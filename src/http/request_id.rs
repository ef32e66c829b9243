//! The request id every response and log line carries. A client's `x-request-id` is
//! kept only when it is short and plain (at most [`MAX_LEN`] characters of `A-Z`,
//! `a-z`, `0-9`, `.`, `_` and `-`); anything else is dropped before
//! `SetRequestIdLayer`, which then generates one, so a client cannot put arbitrary text
//! into the logs or make a response echo it.

use axum::extract::Request;

/// The header's name.
pub const HEADER: &str = "x-request-id";

/// Longest request id kept from a client.
pub const MAX_LEN: usize = 64;

/// Whether a client's request id is kept as it is.
pub fn acceptable(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Removes the client's request id unless it sent exactly one that is
/// [`acceptable`].
pub async fn sanitize(mut request: Request) -> Request {
    let mut sent = request.headers().get_all(HEADER).iter();
    let keep = match (sent.next(), sent.next()) {
        (None, _) => true,
        (Some(one), None) => acceptable(one.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(HEADER);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn short_plain_ids_are_kept_and_anything_else_is_not() {
        for ok in [
            "abc",
            "2f1c9a52-63c4-4c52-9b1c-3f1f0a6f3e11",
            "req_01.trace-7",
            &"a".repeat(64),
        ] {
            assert!(acceptable(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            &"a".repeat(65),
            "has space",
            "new\nline",
            "quote\"",
            "semi;colon",
            "../../etc/passwd",
            "ünïcode",
            "{\"json\":1}",
        ] {
            assert!(!acceptable(bad.as_bytes()), "{bad}");
        }
    }
}
