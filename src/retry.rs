//! The one retry policy of every network client (registry, forge): exponential backoff with
//! jitter, bounded in attempts and in total time, and `Retry-After` parsing.

use std::time::{Duration, Instant, SystemTime};

/// How often and how long to retry a failed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time, with jitter.
    pub base_delay: Duration,
    /// Cap of one delay (also of a server's `Retry-After`).
    pub max_delay: Duration,
    /// Total time after which no retry starts.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    /// For registries: quick first retries, 6 attempts, 2 minutes at most.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(15),
            max_total: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries (the caller retries a larger unit itself).
    pub fn once() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// For forge APIs: GitHub's rate limits ask for waits of up to a minute.
    pub fn for_forge() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_total: Duration::from_secs(180),
        }
    }

    /// For optimistic-concurrency updates: more attempts, shorter waits (each loser of a race
    /// re-reads and tries again; several services may deploy at once).
    pub fn for_updates() -> Self {
        RetryPolicy {
            max_attempts: 12,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_total: Duration::from_secs(120),
        }
    }

    /// For a release's deployment records (create, status reports): a few retries of 1, 2
    /// and 4 s at most, since the release waits on them.
    pub fn for_records() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            max_total: Duration::from_secs(30),
        }
    }

    /// The delay before retry number `attempt` (1-based): `base * 2^(attempt-1)`, capped, with
    /// jitter in its upper half so concurrent clients spread out; a server's `Retry-After`
    /// replaces it (capped).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_delay);
        }
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }

    /// Whether another attempt may start after `attempts` made since `start`, waiting `wait`.
    pub fn allows(&self, attempts: u32, start: Instant, wait: Duration) -> bool {
        attempts < self.max_attempts && start.elapsed() + wait <= self.max_total
    }
}

/// True for statuses worth retrying: 408, 425, 429 and 5xx except 501 and 505.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504 | 507 | 520..=599)
}

/// Parses a `Retry-After` value: delay-seconds, or an HTTP date (relative to now).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, SystemTime::now())
}

/// [`parse_retry_after`] relative to `now`; a date in the past means no wait.
pub fn parse_retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(when.timestamp()).ok()?);
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy::default();
        let d1 = p.delay(1, None);
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(200));
        let d4 = p.delay(4, None);
        assert!(d4 >= Duration::from_millis(800) && d4 <= Duration::from_millis(1600));
        assert!(p.delay(40, None) <= p.max_delay);
        assert_eq!(p.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(p.delay(1, Some(Duration::from_secs(3600))), p.max_delay);
    }

    #[test]
    fn budget_is_bounded_in_count_and_time() {
        let p = RetryPolicy::default();
        assert!(p.allows(1, Instant::now(), Duration::ZERO));
        assert!(!p.allows(6, Instant::now(), Duration::ZERO));
        assert!(!p.allows(1, Instant::now(), Duration::from_secs(121)));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after_at("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after_at("Sun, 06 Nov 1994 08:50:37 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after_at("soon", now), None);
        assert!(is_retryable_status(503) && is_retryable_status(429) && !is_retryable_status(404));
    }
}
