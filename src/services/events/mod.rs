//! Outbound events: endpoints (create, change, rotate the secret, delete; URL rules),
//! and the delivery worker (`deliver`). The events themselves are written by
//! `repositories::activity::record` (every entry that reports a change) and by the
//! inbound webhooks (`repository.event`), in the change's transaction.

pub mod deliver;
pub mod endpoints;
pub mod resolve;

use std::time::Duration;

use crate::config::Profile;
use crate::events::RetrySchedule;
use crate::events::url::UrlPolicy;

/// How events are delivered.
#[derive(Clone, Debug)]
pub struct EventOptions {
    /// What endpoint URLs may be.
    pub url_policy: UrlPolicy,
    /// Delays before each attempt.
    pub schedule: RetrySchedule,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// An endpoint whose every attempt failed for this long is disabled.
    pub disable_after: Duration,
    /// How long a rotated-out secret keeps signing.
    pub secret_overlap: Duration,
    /// Attempts sent at once by one process.
    pub concurrency: usize,
    /// Deliveries claimed at a time.
    pub batch: u64,
    /// How often the worker looks for due deliveries.
    pub poll: Duration,
    /// Days an event (with its deliveries) is kept.
    pub retention_days: u32,
}

/// The default retention of events, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

impl Default for EventOptions {
    fn default() -> Self {
        Self {
            url_policy: UrlPolicy::OPEN,
            schedule: RetrySchedule::default(),
            timeout: Duration::from_secs(15),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            secret_overlap: Duration::from_secs(24 * 3600),
            concurrency: 16,
            batch: 100,
            poll: Duration::from_secs(1),
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl EventOptions {
    /// The URL rules of a profile: https and public addresses only in production
    /// (unless `allow_private`).
    pub fn url_policy_for(profile: Profile, allow_private: bool) -> UrlPolicy {
        let production = profile == Profile::Production;
        UrlPolicy {
            require_https: production,
            allow_private: !production || allow_private,
        }
    }

    /// How long a worker holds a claimed delivery: longer than one attempt can take.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }
}
