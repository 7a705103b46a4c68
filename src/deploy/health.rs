//! Health checks: poll a URL with backoff until it answers the expected status (and body),
//! or the timeout passes. Replaces the `sleep 60` of hand-written deploy scripts.

use std::time::{Duration, Instant};

/// One URL to poll and what "healthy" means for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// The URL to GET.
    pub url: String,
    /// The status that means healthy (default 200).
    pub expect_status: u16,
    /// Text the body must contain (e.g. the deployed version), if any.
    pub body_contains: Option<String>,
    /// Give up after this long.
    pub timeout: Duration,
    /// First wait between polls; doubles up to 10 s.
    pub interval: Duration,
}

impl HealthCheck {
    /// A check of `url` for 200 within `timeout`.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Self {
        HealthCheck {
            url: url.into(),
            expect_status: 200,
            body_contains: None,
            timeout,
            interval: Duration::from_millis(500),
        }
    }
}

/// A healthy answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthy {
    /// Polls made.
    pub attempts: u32,
    /// Time until healthy.
    pub elapsed: Duration,
}

/// Why the service was not healthy in time.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The deadline passed; `last` says what the final poll saw.
    #[error("{url} was not healthy after {attempts} checks in {elapsed:.1?}: {last}")]
    Timeout {
        /// The URL polled.
        url: String,
        /// Polls made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// What the last poll saw (status, body mismatch, connection error).
        last: String,
    },
}

/// Polls until healthy or the timeout. `progress` gets one line per failed poll.
pub async fn wait_healthy(
    client: &reqwest::Client,
    check: &HealthCheck,
    mut progress: impl FnMut(&str),
) -> Result<Healthy, HealthError> {
    let start = Instant::now();
    let deadline = start + check.timeout;
    let mut wait = check.interval;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let per_request = remaining.clamp(Duration::from_millis(100), Duration::from_secs(10));
        let last = match poll(client, check, per_request).await {
            Ok(()) => return Ok(Healthy { attempts, elapsed: start.elapsed() }),
            Err(why) => why,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(HealthError::Timeout {
                url: crate::secret::redact_url(&check.url),
                attempts,
                elapsed: start.elapsed(),
                last,
            });
        }
        progress(&format!("{}: {last}; next check in {wait:.1?}", crate::secret::redact_url(&check.url)));
        tokio::time::sleep(wait.min(deadline - now)).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

async fn poll(client: &reqwest::Client, check: &HealthCheck, timeout: Duration) -> Result<(), String> {
    let resp = client.get(&check.url).timeout(timeout).send().await.map_err(describe)?;
    let status = resp.status().as_u16();
    if status != check.expect_status {
        return Err(format!("status {status}, expected {}", check.expect_status));
    }
    if let Some(needle) = &check.body_contains {
        let body = resp.text().await.map_err(describe)?;
        if !body.contains(needle.as_str()) {
            let shown: String = body.chars().take(120).collect();
            return Err(format!("body lacks {needle:?} (got {shown:?})"));
        }
    }
    Ok(())
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        // reqwest's Display includes the URL, which may carry credentials.
        crate::secret::redact(&e.without_url().to_string())
    }
}

/// The placeholder a `health-url` may hold for the host a multi-host target just deployed
/// (`http://{host}:8080/health`): such a check runs on each host, after that host's deploy.
pub(crate) const HOST_PLACEHOLDER: &str = "{host}";

/// The checks of `checks` that name [`HOST_PLACEHOLDER`], with it replaced by `host` (an IPv6
/// address in brackets).
pub(crate) fn for_host(checks: &[HealthCheck], host: &str) -> Vec<HealthCheck> {
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
    checks
        .iter()
        .filter(|c| c.url.contains(HOST_PLACEHOLDER))
        .map(|c| HealthCheck { url: c.url.replace(HOST_PLACEHOLDER, &host), ..c.clone() })
        .collect()
}

/// The checks of `checks` that name no host: run once, after every host.
pub(crate) fn host_free(checks: &[HealthCheck]) -> Vec<HealthCheck> {
    checks.iter().filter(|c| !c.url.contains(HOST_PLACEHOLDER)).cloned().collect()
}

/// Runs `checks` one after the other; the error (`health check failed: …`) names the first
/// that failed.
pub(crate) async fn check_all(
    checks: &[HealthCheck],
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), String> {
    if checks.is_empty() {
        return Ok(());
    }
    let client = reqwest::Client::builder().build().map_err(|e| format!("health check client: {e}"))?;
    for check in checks {
        let healthy = wait_healthy(&client, check, |line| progress(line))
            .await
            .map_err(|e| format!("health check failed: {e}"))?;
        progress(&format!(
            "{} healthy after {} check(s) in {:.1?}",
            crate::secret::redact_url(&check.url),
            healthy.attempts,
            healthy.elapsed
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_checks_are_split_from_the_others() {
        let checks = [
            HealthCheck::new("http://{host}:8080/health", Duration::from_secs(1)),
            HealthCheck::new("https://app.example/health", Duration::from_secs(1)),
        ];
        let urls = |c: Vec<HealthCheck>| c.into_iter().map(|c| c.url).collect::<Vec<_>>();
        assert_eq!(urls(for_host(&checks, "10.0.0.2")), ["http://10.0.0.2:8080/health"]);
        assert_eq!(urls(for_host(&checks, "::1")), ["http://[::1]:8080/health"]);
        assert_eq!(urls(host_free(&checks)), ["https://app.example/health"]);
    }
}
