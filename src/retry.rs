//! Retry policy shared by every network client: exponential backoff with jitter, bounded in
//! attempts and in total time, and `Retry-After` parsing.

use std::time::{Duration, Instant, SystemTime};

/// How often and how long to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Largest delay between two tries.
    pub max_delay: Duration,
    /// Tries in all, the first included.
    pub max_attempts: u32,
    /// No retry starts after this much time since the first try.
    pub max_elapsed: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_attempts: 6,
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    /// The delay after failed try number `attempt` (1-based): doubling from `initial`, capped,
    /// with jitter in [50%, 100%] so concurrent clients spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max_delay);
        let jitter = 0.5 + rand::random::<f64>() * 0.5;
        capped.mul_f64(jitter)
    }

    /// The wait before the next try, or `None` when the budget is spent. `hint` (a server's
    /// `Retry-After`) replaces the computed delay but is still bounded by the total time.
    pub fn next_wait(&self, attempt: u32, started: Instant, hint: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let wait = hint.unwrap_or_else(|| self.delay(attempt));
        let elapsed = started.elapsed();
        if elapsed + wait > self.max_elapsed {
            return None;
        }
        Some(wait)
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
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
    fn delays_grow_and_stay_capped() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Default::default()
        };
        for attempt in 1..10 {
            let d = b.delay(attempt);
            let full = Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn budget_is_bounded_in_count_and_time() {
        let b = Backoff { max_attempts: 3, max_elapsed: Duration::from_secs(5), ..Default::default() };
        let start = Instant::now();
        assert!(b.next_wait(1, start, None).is_some());
        assert!(b.next_wait(3, start, None).is_none());
        assert!(b.next_wait(1, start, Some(Duration::from_secs(60))).is_none());
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
