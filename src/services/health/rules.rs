//! What a check's verdict does to a connection, pure: the lifecycle status it moves to,
//! the error it records, the health transition worth an activity entry, and when the
//! next scheduled check is due.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::classify::{CREDENTIAL_REJECTED, Verdict};
use crate::models::connection::{self, ConnectionStatus, HealthStatus};

/// What the verdict changes beside the health and the check time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes {
    pub status: Option<ConnectionStatus>,
    pub reason_code: Option<String>,
    pub message: Option<String>,
}

/// A rejected credential takes an active connection to `needs_reauth` (OAuth: only a
/// new consent helps) or `error` (a static key must be replaced); a healthy answer
/// brings back a connection that a rejection had taken there. A connection that is
/// not active keeps the reason that explains its status unless the provider now
/// rejects or accepts the credential.
pub fn changes(current: &connection::Model, verdict: &Verdict, oauth: bool) -> Changes {
    let active = current.status == ConnectionStatus::Active;
    let rejected_before = current.last_error_reason_code.as_deref() == Some(CREDENTIAL_REJECTED);
    let status = if verdict.rejected() && active {
        Some(if oauth {
            ConnectionStatus::NeedsReauth
        } else {
            ConnectionStatus::Error
        })
    } else if verdict.is_healthy() && !active && rejected_before {
        Some(ConnectionStatus::Active)
    } else {
        None
    };
    let takes_verdict = active || verdict.rejected() || (verdict.is_healthy() && rejected_before);
    if !takes_verdict {
        return Changes {
            status,
            reason_code: current.last_error_reason_code.clone(),
            message: current.last_error_message.clone(),
        };
    }
    Changes {
        status,
        reason_code: verdict.reason_code.clone(),
        message: verdict.message.clone(),
    }
}

/// Whether going from `before` to `after` is a transition worth recording: any change
/// of health, except the first verdict on a connection never checked.
pub fn transition(before: HealthStatus, after: HealthStatus) -> bool {
    before != after && before != HealthStatus::Unknown
}

/// When the next scheduled check is due: `interval` after `now`, moved by up to a
/// tenth of it either way by `random` (in `[0, 1)`), so that connections checked
/// together drift apart.
pub fn next_due(now: DateTime<Utc>, interval: Duration, random: f64) -> DateTime<Utc> {
    let secs = interval.as_secs_f64();
    let jittered = secs * (0.9 + 0.2 * random.clamp(0.0, 1.0));
    let delta = TimeDelta::try_milliseconds((jittered * 1000.0) as i64).unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(delta)
        .unwrap_or(crate::models::checks::latest_instant())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::health::classify::{PROVIDER_TIMEOUT, Verdict};

    fn conn(status: ConnectionStatus, reason: Option<&str>) -> connection::Model {
        let now = Utc::now();
        connection::Model {
            id: uuid::Uuid::new_v4(),
            tenant_id: uuid::Uuid::new_v4(),
            provider_slug: "stripe".into(),
            external_id: "acct".into(),
            display_name: None,
            status,
            health_status: HealthStatus::Unknown,
            is_default: true,
            scopes_granted: Default::default(),
            token_expires_at: None,
            last_health_check_at: None,
            last_error_reason_code: reason.map(str::to_owned),
            last_error_message: reason.map(|r| format!("because {r}")),
            metadata: serde_json::json!({}),
            created_at: now,
            updated_at: now,
            refresh_lease_until: None,
            refresh_lease_owner: None,
            last_refreshed_at: None,
            refresh_retry_at: None,
            refresh_failures: 0,
            health_check_due_at: None,
            health_lease_until: None,
            health_lease_owner: None,
        }
    }

    fn rejected() -> Verdict {
        Verdict::failed(
            HealthStatus::Unhealthy,
            CREDENTIAL_REJECTED,
            "401",
            Some(401),
        )
    }

    fn timeout() -> Verdict {
        Verdict::failed(HealthStatus::Degraded, PROVIDER_TIMEOUT, "slow", None)
    }

    #[test]
    fn a_rejection_needs_reauth_for_oauth_and_is_an_error_for_static_keys() {
        let active = conn(ConnectionStatus::Active, None);
        assert_eq!(
            changes(&active, &rejected(), true).status,
            Some(ConnectionStatus::NeedsReauth)
        );
        let c = changes(&active, &rejected(), false);
        assert_eq!(c.status, Some(ConnectionStatus::Error));
        assert_eq!(c.reason_code.as_deref(), Some(CREDENTIAL_REJECTED));
    }

    #[test]
    fn degraded_answers_never_change_the_status() {
        let active = conn(ConnectionStatus::Active, None);
        let c = changes(&active, &timeout(), true);
        assert_eq!(c.status, None);
        assert_eq!(c.reason_code.as_deref(), Some(PROVIDER_TIMEOUT));
    }

    #[test]
    fn a_healthy_answer_brings_back_only_what_a_rejection_took_away() {
        let rejected_key = conn(ConnectionStatus::Error, Some(CREDENTIAL_REJECTED));
        let c = changes(&rejected_key, &Verdict::healthy(Some(200)), false);
        assert_eq!(c.status, Some(ConnectionStatus::Active));
        assert_eq!(c.reason_code, None);
        let revoked_grant = conn(ConnectionStatus::NeedsReauth, Some("refresh_token_revoked"));
        let c = changes(&revoked_grant, &Verdict::healthy(Some(200)), true);
        assert_eq!(c.status, None);
        assert_eq!(c.reason_code.as_deref(), Some("refresh_token_revoked"));
        let c = changes(&revoked_grant, &timeout(), true);
        assert_eq!(c.reason_code.as_deref(), Some("refresh_token_revoked"));
    }

    #[test]
    fn transitions_are_changes_after_a_first_verdict() {
        use HealthStatus::*;
        assert!(!transition(Unknown, Healthy));
        assert!(!transition(Unknown, Unhealthy));
        assert!(!transition(Healthy, Healthy));
        assert!(transition(Healthy, Unhealthy));
        assert!(transition(Unhealthy, Healthy));
        assert!(transition(Degraded, Healthy));
    }

    #[test]
    fn the_next_check_is_an_interval_away_within_a_tenth() {
        let now = Utc::now();
        let hour = Duration::from_secs(3600);
        assert_eq!(next_due(now, hour, 0.5), now + TimeDelta::seconds(3600));
        assert_eq!(next_due(now, hour, 0.0), now + TimeDelta::seconds(3240));
        assert!(next_due(now, hour, 0.999) <= now + TimeDelta::seconds(3960));
    }
}
