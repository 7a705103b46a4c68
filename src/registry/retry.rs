//! Retry policy: exponential backoff with jitter, bounded in attempts and in total time.

use std::time::{Duration, Instant};

/// How often and how long to retry a failed request.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time.
    pub base_delay: Duration,
    /// Cap of one delay (also of a server's `Retry-After`).
    pub max_delay: Duration,
    /// Total time after which no retry starts.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
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

    /// The delay before retry number `attempt` (1-based): `base * 2^(attempt-1)`, capped,
    /// with full jitter in its upper half; a server's `Retry-After` replaces it (capped).
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

/// Parses `Retry-After` given in seconds (an HTTP date is treated as one second).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    Some(v.parse::<u64>().map(Duration::from_secs).unwrap_or(Duration::from_secs(1)))
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
        assert!(!p.allows(6, Instant::now(), Duration::ZERO));
        assert!(!p.allows(1, Instant::now(), Duration::from_secs(121)));
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert!(is_retryable_status(503) && is_retryable_status(429) && !is_retryable_status(404));
    }
}
