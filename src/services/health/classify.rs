//! What a provider's answer to a health check says about the credential: pure, so that
//! every rule is a unit test. 401/403 reject the credential; 429, 5xx, timeouts and
//! unreachable providers degrade it; a provider that answers errors with 200 (Slack's
//! `{"ok": false, "error": "invalid_auth"}`) is read by its catalog entry's `ok_field`,
//! `error_field` and `rejected_errors`. Messages name statuses and error names only,
//! never the body, and are sanitized and bounded.

use crate::models::connection::HealthStatus;
use crate::models::json::HealthCheck;
use crate::sanitize;

/// Longest message recorded for a check.
pub const MESSAGE_MAX_LEN: usize = 300;

pub const CREDENTIAL_REJECTED: &str = "credential_rejected";
pub const PROVIDER_UNAVAILABLE: &str = "provider_unavailable";
pub const PROVIDER_RATE_LIMITED: &str = "provider_rate_limited";
pub const PROVIDER_TIMEOUT: &str = "provider_timeout";
/// A redirect, which is never followed with the credential.
pub const PROVIDER_REDIRECTED: &str = "provider_redirected";
/// Any other answer the check does not count as healthy (404, `ok: false` with an
/// error that is not a rejection, a body that is not what `ok_field` expects).
pub const UNEXPECTED_RESPONSE: &str = "unexpected_response";

/// Slack-style error names that mean "slow down".
const RATE_LIMIT_ERRORS: [&str; 2] = ["ratelimited", "rate_limited"];

/// What the provider did with the check's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// It answered (redirects included, unfollowed); `body` is at most the probe's limit.
    Response { status: u16, body: Vec<u8> },
    /// No answer within the timeout.
    Timeout,
    /// No connection, TLS failure, or a broken answer.
    Unreachable,
}

/// A check's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub health: HealthStatus,
    /// `None` when healthy.
    pub reason_code: Option<String>,
    /// Sanitized and bounded; `None` when healthy.
    pub message: Option<String>,
    /// The provider's HTTP status, when it answered.
    pub http_status: Option<u16>,
}

impl Verdict {
    pub fn healthy(http_status: Option<u16>) -> Self {
        Self {
            health: HealthStatus::Healthy,
            reason_code: None,
            message: None,
            http_status,
        }
    }

    pub fn failed(
        health: HealthStatus,
        reason_code: &str,
        message: &str,
        http_status: Option<u16>,
    ) -> Self {
        Self {
            health,
            reason_code: Some(reason_code.to_owned()),
            message: Some(sanitize::message(message, MESSAGE_MAX_LEN)),
            http_status,
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.health == HealthStatus::Healthy
    }

    /// Whether the provider refused the credential itself.
    pub fn rejected(&self) -> bool {
        self.reason_code.as_deref() == Some(CREDENTIAL_REJECTED)
    }
}

fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// The verdict on `answer` to `check`.
pub fn classify(check: &HealthCheck, answer: &Answer) -> Verdict {
    let (status, body) = match answer {
        Answer::Timeout => {
            return Verdict::failed(
                HealthStatus::Degraded,
                PROVIDER_TIMEOUT,
                "the provider did not answer the health check in time",
                None,
            );
        }
        Answer::Unreachable => {
            return Verdict::failed(
                HealthStatus::Degraded,
                PROVIDER_UNAVAILABLE,
                "the provider could not be reached",
                None,
            );
        }
        Answer::Response { status, body } => (*status, body),
    };
    let code = Some(status);
    let said = format!("the provider answered {}", status_text(status));
    match status {
        401 | 403 => {
            return Verdict::failed(HealthStatus::Unhealthy, CREDENTIAL_REJECTED, &said, code);
        }
        429 => {
            return Verdict::failed(HealthStatus::Degraded, PROVIDER_RATE_LIMITED, &said, code);
        }
        500..=599 => {
            return Verdict::failed(HealthStatus::Degraded, PROVIDER_UNAVAILABLE, &said, code);
        }
        300..=399 => {
            let message = format!("{said}, a redirect, which is not followed with the credential");
            return Verdict::failed(HealthStatus::Degraded, PROVIDER_REDIRECTED, &message, code);
        }
        _ => {}
    }
    let expected = match check.expect_status {
        Some(expect) => status == expect,
        None => (200..=299).contains(&status),
    };
    if !expected {
        return Verdict::failed(HealthStatus::Degraded, UNEXPECTED_RESPONSE, &said, code);
    }
    match &check.ok_field {
        None => Verdict::healthy(code),
        Some(ok_field) => read_ok_field(check, ok_field, body, code),
    }
}

/// A 2xx answer of a provider that reports errors in its body.
fn read_ok_field(check: &HealthCheck, ok_field: &str, body: &[u8], code: Option<u16>) -> Verdict {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Verdict::failed(
            HealthStatus::Degraded,
            UNEXPECTED_RESPONSE,
            "the provider's answer is not JSON",
            code,
        );
    };
    match json.get(ok_field).and_then(serde_json::Value::as_bool) {
        Some(true) => return Verdict::healthy(code),
        Some(false) => {}
        None => {
            let message = format!("the provider's answer has no boolean {ok_field:?}");
            return Verdict::failed(HealthStatus::Degraded, UNEXPECTED_RESPONSE, &message, code);
        }
    }
    let error = check
        .error_field
        .as_deref()
        .and_then(|f| json.get(f))
        .and_then(serde_json::Value::as_str)
        .map(|e| sanitize::message(e, 64));
    let Some(error) = error else {
        let message = format!("the provider answered {ok_field}: false");
        return Verdict::failed(HealthStatus::Degraded, UNEXPECTED_RESPONSE, &message, code);
    };
    let message = format!("the provider answered error {error}");
    if check.rejected_errors.contains(&error) {
        Verdict::failed(HealthStatus::Unhealthy, CREDENTIAL_REJECTED, &message, code)
    } else if RATE_LIMIT_ERRORS.contains(&error.as_str()) {
        Verdict::failed(
            HealthStatus::Degraded,
            PROVIDER_RATE_LIMITED,
            &message,
            code,
        )
    } else {
        Verdict::failed(HealthStatus::Degraded, UNEXPECTED_RESPONSE, &message, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> HealthCheck {
        HealthCheck {
            method: "GET".into(),
            url: "https://api.example.com/me".into(),
            expect_status: None,
            body: None,
            ok_field: None,
            error_field: None,
            rejected_errors: Vec::new(),
        }
    }

    fn slack() -> HealthCheck {
        HealthCheck {
            method: "POST".into(),
            ok_field: Some("ok".into()),
            error_field: Some("error".into()),
            rejected_errors: vec!["invalid_auth".into(), "token_revoked".into()],
            ..plain()
        }
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer::Response {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    fn reason(v: &Verdict) -> (HealthStatus, Option<&str>) {
        (v.health, v.reason_code.as_deref())
    }

    #[test]
    fn a_2xx_is_healthy_and_401_or_403_rejects_the_credential() {
        assert!(classify(&plain(), &answer(200, "{}")).is_healthy());
        assert!(classify(&plain(), &answer(204, "")).is_healthy());
        for status in [401, 403] {
            let v = classify(
                &plain(),
                &answer(status, "{\"message\":\"Bad credentials\"}"),
            );
            assert_eq!(
                reason(&v),
                (HealthStatus::Unhealthy, Some(CREDENTIAL_REJECTED))
            );
            assert_eq!(v.http_status, Some(status));
            assert!(v.rejected());
        }
    }

    #[test]
    fn rate_limits_outages_timeouts_and_redirects_degrade() {
        let cases = [
            (answer(429, ""), PROVIDER_RATE_LIMITED),
            (answer(500, ""), PROVIDER_UNAVAILABLE),
            (answer(503, ""), PROVIDER_UNAVAILABLE),
            (answer(302, ""), PROVIDER_REDIRECTED),
            (answer(404, ""), UNEXPECTED_RESPONSE),
            (Answer::Timeout, PROVIDER_TIMEOUT),
            (Answer::Unreachable, PROVIDER_UNAVAILABLE),
        ];
        for (a, code) in cases {
            let v = classify(&plain(), &a);
            assert_eq!(reason(&v), (HealthStatus::Degraded, Some(code)), "{a:?}");
            assert!(!v.rejected());
        }
    }

    #[test]
    fn an_expected_status_replaces_any_2xx() {
        let check = HealthCheck {
            expect_status: Some(204),
            ..plain()
        };
        assert!(classify(&check, &answer(204, "")).is_healthy());
        let v = classify(&check, &answer(200, "{}"));
        assert_eq!(
            reason(&v),
            (HealthStatus::Degraded, Some(UNEXPECTED_RESPONSE))
        );
    }

    #[test]
    fn slack_style_errors_with_200_are_read_from_the_body() {
        assert!(classify(&slack(), &answer(200, r#"{"ok":true,"team":"T1"}"#)).is_healthy());
        let v = classify(
            &slack(),
            &answer(200, r#"{"ok":false,"error":"invalid_auth"}"#),
        );
        assert_eq!(
            reason(&v),
            (HealthStatus::Unhealthy, Some(CREDENTIAL_REJECTED))
        );
        assert_eq!(
            v.message.as_deref(),
            Some("the provider answered error invalid_auth")
        );
        let v = classify(
            &slack(),
            &answer(200, r#"{"ok":false,"error":"ratelimited"}"#),
        );
        assert_eq!(
            reason(&v),
            (HealthStatus::Degraded, Some(PROVIDER_RATE_LIMITED))
        );
        for body in [
            r#"{"ok":false,"error":"missing_scope"}"#,
            r#"{"ok":false}"#,
            r#"{"team":"T1"}"#,
            "<html>",
        ] {
            let v = classify(&slack(), &answer(200, body));
            assert_eq!(
                reason(&v),
                (HealthStatus::Degraded, Some(UNEXPECTED_RESPONSE)),
                "{body}"
            );
        }
    }

    #[test]
    fn messages_never_carry_the_body_and_stay_bounded() {
        let secret = "xoxb-1234567890-abcdefghijklmnopqrstuvwxyz";
        let body = format!(r#"{{"ok":false,"error":"token={secret}"}}"#);
        let v = classify(&slack(), &answer(200, &body));
        let message = v.message.unwrap();
        assert!(!message.contains(secret), "{message}");
        assert!(message.len() <= MESSAGE_MAX_LEN);
        let v = classify(&plain(), &answer(401, secret));
        assert!(!v.message.unwrap().contains(secret));
    }
}
