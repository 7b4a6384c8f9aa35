//! Retry policy: jittered exponential backoff for 5xx and transport failures, and parsing
//! of `Retry-After` (integer seconds, an RFC 3339 time or an HTTP date) for 429s.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use rand::Rng;

/// How the client retries. The number of 5xx/transport retries is `ZoomConfig::max_retries`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First backoff delay after a 5xx or transport failure.
    pub base_delay: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
    /// Total time one call may spend waiting on 429s before giving up with `RateLimited`.
    pub max_rate_limited_wait: Duration,
    /// Number of 429 retries of one call before giving up (guards `Retry-After: 0` loops).
    pub max_rate_limited_retries: u32,
    /// Wait after a 429 without a usable `Retry-After`.
    pub default_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_rate_limited_wait: Duration::from_secs(120),
            max_rate_limited_retries: 30,
            default_retry_after: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `attempt` (0-based): `base · 2^attempt`, capped, with
    /// "equal jitter" (between half and all of it) so that processes do not retry in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// Parses a `Retry-After` value: delta seconds (`"1"`, `"1.5"`), an RFC 3339 time
/// (`"2025-01-20T00:00:00Z"`, as Zoom sends for the daily limit) or an HTTP date
/// (`"Sun, 06 Nov 1994 08:49:37 GMT"`). A time in the past gives zero.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at: DateTime<Utc> = if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        t.with_timezone(&Utc)
    } else {
        let t: SystemTime = httpdate::parse_http_date(value).ok()?;
        t.into()
    };
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The next 00:00 UTC after `now`, and how long until then (daily limits reset there).
pub fn until_next_utc_midnight(now: DateTime<Utc>) -> Duration {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    let midnight = tomorrow.and_time(chrono::NaiveTime::MIN).and_utc();
    (midnight - now).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 19, 23, 59, 0).unwrap()
    }

    #[test]
    fn retry_after_table() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("1", Some(Duration::from_secs(1))),
            (" 120 ", Some(Duration::from_secs(120))),
            ("0", Some(Duration::ZERO)),
            ("1.5", Some(Duration::from_millis(1500))),
            ("2025-01-20T00:00:00Z", Some(Duration::from_secs(60))),
            ("2025-01-20T00:00:00+00:00", Some(Duration::from_secs(60))),
            ("2025-01-20T01:00:00+01:00", Some(Duration::from_secs(60))),
            (
                "Mon, 20 Jan 2025 00:00:00 GMT",
                Some(Duration::from_secs(60)),
            ),
            (
                "Sunday, 19-Jan-25 23:59:30 GMT",
                Some(Duration::from_secs(30)),
            ),
            ("2025-01-19T00:00:00Z", Some(Duration::ZERO)),
            ("-1", None),
            ("soon", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_retry_after(value, now()), *want, "{value:?}");
        }
    }

    #[test]
    fn midnight() {
        assert_eq!(until_next_utc_midnight(now()), Duration::from_secs(60));
        let at_midnight = Utc.with_ymd_and_hms(2025, 1, 20, 0, 0, 0).unwrap();
        assert_eq!(
            until_next_utc_midnight(at_midnight),
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d0 = p.backoff(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d2 = p.backoff(2);
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400));
            let d30 = p.backoff(30);
            assert!(d30 >= Duration::from_millis(500) && d30 <= Duration::from_secs(1));
        }
    }
}
