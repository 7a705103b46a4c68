//! The one retry policy of every network client (registry, forge, GitHub App, deployment
//! records, env-file updates): exponential backoff with jitter, bounded in attempts and in
//! total time. A server's `Retry-After` (seconds or an HTTP date) is honoured as asked when it
//! ends within the total time, and ends the retries when it would not: retrying earlier than
//! asked only gets limited again.
//! A loop holds a [`Backoff`] and asks it, after each failure, how long to wait.

use chrono::NaiveDateTime;
use std::time::{Duration, Instant, SystemTime};

/// How often and how long to retry a failed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time, with jitter.
    pub base_delay: Duration,
    /// Cap of one backoff delay (a server's wait is bounded by `max_total` instead).
    pub max_delay: Duration,
    /// Total time after which no retry starts (nor a wait that would end past it).
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

    /// For GitHub's secondary rate limits, whose answers name no wait: GitHub asks for at
    /// least a minute (`first`), then longer; the caller passes `first × n` as the server's
    /// wait. Three retries (1, 2 and 3 × `first`), then the error.
    pub fn for_secondary_limits(first: Duration) -> Self {
        RetryPolicy {
            max_attempts: 1 + SECONDARY_RETRIES,
            base_delay: first,
            max_delay: first * SECONDARY_RETRIES,
            // The waits (6 × first) and the requests between them.
            max_total: first * 7 + Duration::from_secs(60),
        }
    }

    /// A new loop's budget under this policy, starting now.
    pub fn backoff(&self) -> Backoff {
        Backoff { policy: *self, started: Instant::now(), failures: 0 }
    }

    /// The delay before retry number `attempt` (1-based): `base * 2^(attempt-1)`, capped, with
    /// jitter in its upper half so concurrent clients spread out; a server's wait replaces it
    /// as asked ([`allows`](Self::allows) refuses one that ends past the total time).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d;
        }
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }

    /// Whether another attempt may start after `attempts` made since `start`, waiting `wait`:
    /// attempts left, and the wait ending within the total time.
    pub fn allows(&self, attempts: u32, start: Instant, wait: Duration) -> bool {
        attempts < self.max_attempts && start.elapsed() + wait <= self.max_total
    }
}

/// Retries after GitHub secondary rate limits, in [`RetryPolicy::for_secondary_limits`].
pub(crate) const SECONDARY_RETRIES: u32 = 3;

/// The budget of one retry loop: attempts made and time spent under a policy.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    started: Instant,
    failures: u32,
}

impl Backoff {
    /// Records a failed attempt; the wait before the next one (`server_wait` when the server
    /// named one), or `None` when the policy allows no more.
    pub fn next_wait(&mut self, server_wait: Option<Duration>) -> Option<Duration> {
        self.failures += 1;
        let wait = self.policy.delay(self.failures, server_wait);
        self.policy.allows(self.failures, self.started, wait).then_some(wait)
    }

    /// Failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Time since the loop started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// True for statuses worth retrying: 408, 425, 429 and 5xx except 501 and 505.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504 | 507 | 520..=599)
}

/// Waits longer than this from a `Retry-After` are read as this (no policy waits so long).
pub(crate) const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds, or an HTTP date relative
/// to now; capped at [`RETRY_AFTER_CAP`]; `None` for anything else.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, SystemTime::now())
}

/// [`parse_retry_after`] relative to `now`; a date in the past means no wait.
pub(crate) fn parse_retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a number of seconds: the cap.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP));
    }
    // IMF-fixdate, and the obsolete RFC 850 and asctime forms recipients must accept.
    let when = ["%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())?
        .and_utc();
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(when.timestamp()).ok()?);
    Some(when.duration_since(now).unwrap_or(Duration::ZERO).min(RETRY_AFTER_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_a_server_wait() {
        let p = RetryPolicy::default();
        let d1 = p.delay(1, None);
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(200));
        let d4 = p.delay(4, None);
        assert!(d4 >= Duration::from_millis(800) && d4 <= Duration::from_millis(1600));
        assert!(p.delay(40, None) <= p.max_delay);
        let mut b = p.backoff();
        assert_eq!(b.next_wait(Some(Duration::from_secs(3))), Some(Duration::from_secs(3)), "as asked");
        let longer = p.max_delay * 4;
        assert_eq!(b.next_wait(Some(longer)), Some(longer), "not cut short: an early retry is limited again");
        assert_eq!(b.next_wait(Some(p.max_total)), None, "would end past the total time");
        assert_eq!(b.failures(), 3);
    }

    #[test]
    fn budget_is_bounded_in_count_and_time() {
        let p = RetryPolicy::default();
        let mut b = p.backoff();
        let waits: Vec<_> = std::iter::from_fn(|| b.next_wait(None)).take(100).collect();
        assert_eq!(waits.len(), 5, "6 attempts: 5 waits");
        assert!(waits.iter().all(|w| *w <= p.max_delay));
        assert!(!p.allows(1, Instant::now(), Duration::from_secs(121)), "past the total time");
        let tight = RetryPolicy { max_total: Duration::from_millis(50), ..RetryPolicy::default() };
        let mut b = tight.backoff();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.next_wait(Some(Duration::ZERO)), None, "the total time is spent");
        assert_eq!(RetryPolicy::once().backoff().next_wait(None), None);
    }

    #[test]
    fn secondary_limits_wait_at_least_the_first_wait_three_times() {
        let first = Duration::from_secs(60);
        let mut b = RetryPolicy::for_secondary_limits(first).backoff();
        let waits: Vec<_> = (1..=10).map_while(|n| b.next_wait(Some(first * n))).collect();
        assert_eq!(waits, [first, first * 2, first * 3]);
        // The test knob (0 s) still allows exactly three retries.
        let mut b = RetryPolicy::for_secondary_limits(Duration::ZERO).backoff();
        assert_eq!((1..=10).map_while(|_| b.next_wait(Some(Duration::ZERO))).count(), 3);
    }

    #[test]
    fn retry_after_seconds() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(parse_retry_after_at("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after_at(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after_at("99999999999999999999999", now), Some(RETRY_AFTER_CAP));
        assert_eq!(parse_retry_after_at("999999", now), Some(RETRY_AFTER_CAP));
    }

    #[test]
    fn retry_after_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(parse_retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after_at("Sun, 06 Nov 1994 08:50:37 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after_at("Sat, 05 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO), "past");
        assert_eq!(
            parse_retry_after_at("Sunday, 06-Nov-94 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after_at("Sun Nov  6 08:52:37 1994", now), Some(Duration::from_secs(180)));
        assert_eq!(parse_retry_after_at("Mon, 06 Nov 1995 08:49:37 GMT", now), Some(RETRY_AFTER_CAP));
    }

    #[test]
    fn retry_after_garbage_is_no_wait() {
        let now = SystemTime::UNIX_EPOCH;
        for v in [
            "",
            "soon",
            "-5",
            "1.5",
            "+3",
            "12s",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after_at(v, now), None, "{v:?}");
        }
        assert!(is_retryable_status(503) && is_retryable_status(429) && !is_retryable_status(404));
        assert!(!is_retryable_status(501));
    }
}
