//! When a failed delivery is tried again: Svix's schedule (immediately, 5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h, 10 h, then `failed`), which a deployment may compress
//! (`CONNVAULT_EVENT_RETRY_SCHEDULE`, for tests), and a receiver's `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delay before each attempt; the first is the delay after the event was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        let s = |n| Duration::from_secs(n);
        Self(vec![
            s(0),
            s(5),
            s(5 * 60),
            s(30 * 60),
            s(2 * 3600),
            s(5 * 3600),
            s(10 * 3600),
            s(10 * 3600),
        ])
    }
}

impl RetrySchedule {
    /// Parses a comma-separated list of delays, each a number with a unit (`ms`, `s`,
    /// `m`, `h`): `0,5s,5m,30m,2h,5h,10h,10h` is the default.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let (digits, unit) = part
                .find(|c: char| !c.is_ascii_digit())
                .map_or((part, ""), |i| part.split_at(i));
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("{part:?} is not a delay like 500ms, 5s, 5m or 2h"))?;
            let d = match unit {
                "ms" => Duration::from_millis(n),
                "s" | "" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => return Err(format!("{part:?}: the unit must be ms, s, m or h")),
            };
            if d > Duration::from_secs(7 * 24 * 3600) {
                return Err(format!("{part:?}: at most a week"));
            }
            out.push(d);
        }
        if out.is_empty() || out.len() > 20 {
            return Err("list 1 to 20 delays".to_owned());
        }
        Ok(Self(out))
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(&self) -> u32 {
        self.0.len() as u32
    }

    /// The delay before attempt `n` (1-based); `None` past the last.
    pub fn delay_before(&self, n: u32) -> Option<Duration> {
        self.0.get(n.checked_sub(1)? as usize).copied()
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date, as a delay from `now`,
/// capped at [`MAX_RETRY_AFTER`]. Anything else is ignored.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_svixs_schedule() {
        let s = RetrySchedule::default();
        assert_eq!(
            s,
            RetrySchedule::parse("0,5s,5m,30m,2h,5h,10h,10h").unwrap()
        );
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.delay_before(1), Some(Duration::ZERO));
        assert_eq!(s.delay_before(3), Some(Duration::from_secs(300)));
        assert_eq!(s.delay_before(9), None);
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in ["", "5x", "-1s", "8d", "1,,2"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RetrySchedule::parse("0, 100ms").unwrap().delay_before(2),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after("99999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("soon", now), None);
    }
}
