//! Text from outside (provider error bodies, caller-supplied messages) made fit to store,
//! log and show: one line, bounded, and with anything that looks like a credential
//! replaced by `[redacted]`.

use uuid::Uuid;

/// A message fit to store and show: single line, at most `max` characters, and with
/// anything that looks like a credential taken out (provider errors sometimes echo
/// the request).
pub fn message(message: &str, max: usize) -> String {
    let one_line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    redact_secrets(&one_line)
}

/// Names after which a value is a secret, in `name=value`, `name: value` or JSON form.
const SECRET_NAMES: [&str; 9] = [
    "access_token",
    "refresh_token",
    "client_secret",
    "password",
    "api_key",
    "apikey",
    "token",
    "secret",
    "authorization",
];

/// Replaces bearer tokens, values of secret-named parameters, and long opaque strings
/// (20+ characters of letters, digits and `_-./+=`) with `[redacted]`.
pub fn redact_secrets(message: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut redact_next = false;
    for word in message.split(' ') {
        let lower = word.to_ascii_lowercase();
        if lower == "bearer" || lower == "basic" {
            out.push(word.to_owned());
            redact_next = true;
            continue;
        }
        if redact_next && !word.is_empty() {
            out.push("[redacted]".to_owned());
            redact_next = false;
            continue;
        }
        // name=value / "name":"value" / name: value
        let mut redacted = None;
        for name in SECRET_NAMES {
            if let Some(pos) = lower.find(name) {
                let rest = &word[pos + name.len()..];
                let rest_trimmed = rest.trim_start_matches(['"', '\'']);
                if let Some(value) = rest_trimmed.strip_prefix(['=', ':']) {
                    let value = value.trim_start_matches(['"', '\'']);
                    if value.is_empty() {
                        redact_next = true;
                        redacted = Some(word.to_owned());
                    } else {
                        redacted = Some(format!("{}[redacted]", &word[..word.len() - value.len()]));
                    }
                    break;
                }
            }
        }
        if let Some(w) = redacted {
            out.push(w);
            continue;
        }
        let opaque = word.len() >= 20
            && Uuid::parse_str(word).is_err()
            && word.chars().any(|c| c.is_ascii_digit())
            && word.chars().any(|c| c.is_ascii_alphabetic())
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./+=".contains(c));
        out.push(if opaque {
            "[redacted]".to_owned()
        } else {
            word.to_owned()
        });
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_values_are_redacted() {
        assert_eq!(
            redact_secrets("header Authorization: Bearer abc.def was refused"),
            "header Authorization: Bearer [redacted] was refused"
        );
        assert_eq!(redact_secrets("Basic dXNlcjpwYXNz"), "Basic [redacted]");
    }

    #[test]
    fn secret_named_parameters_keep_their_name() {
        assert_eq!(
            redact_secrets("?access_token=s3cr3t&x"),
            "?access_token=[redacted]"
        );
        assert_eq!(
            redact_secrets(r#"{"refresh_token":"r1"}"#),
            r#"{"refresh_token":"[redacted]"#
        );
        assert_eq!(
            redact_secrets("client_secret: hunter2 rejected"),
            "client_secret: [redacted] rejected"
        );
    }

    #[test]
    fn long_opaque_words_are_redacted_but_uuids_and_prose_are_not() {
        assert_eq!(
            redact_secrets("got ghr_1234567890abcdefghijKLMNop back"),
            "got [redacted] back"
        );
        let harmless = "connection 2f1c9a52-63c4-4c52-9b1c-3f1f0a6f3e11 is rate limited";
        assert_eq!(redact_secrets(harmless), harmless);
        assert_eq!(
            redact_secrets("averyveryverylongwordwithoutdigits"),
            "averyveryverylongwordwithoutdigits"
        );
    }

    #[test]
    fn a_message_is_one_bounded_line() {
        assert_eq!(message("a\nb\tc", 100), "a b c");
        assert_eq!(message("abcdef", 3), "abc");
        assert_eq!(message("x\ntoken=abc", 100), "x token=[redacted]");
    }
}
