//! The HTTP plumbing both clients share: auth headers, URLs built from segments, bounded
//! retries for rate limits and transient failures, `Link` pagination.

use super::error::{ForgeError, Op, classify};
use crate::context::ForgeKind;
use crate::retry::{SECONDARY_RETRIES, is_retryable_status, parse_retry_after};
use crate::secret::Secret;
use reqwest::header::{HeaderMap, HeaderValue};
use std::time::Duration;

pub use crate::retry::RetryPolicy;

/// Which failures a request may be retried on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Reads: rate limits, 5xx and dropped connections.
    Idempotent,
    /// Writes and dispatches: only rate limits (the server did nothing); the caller decides
    /// about the rest (a write re-reads first, a dispatch must not run twice).
    RateLimitOnly,
}

/// A raw answer.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Answer {
    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        forge: ForgeKind,
        target: &str,
    ) -> Result<T, ForgeError> {
        serde_json::from_str(&self.body).map_err(|e| ForgeError::Protocol {
            forge,
            target: target.to_owned(),
            reason: format!("HTTP {} body is not the expected JSON: {e}", self.status),
        })
    }

    /// The URL of `rel="next"` in the `Link` header.
    pub fn next_link(&self) -> Option<String> {
        let link = self.headers.get("link")?.to_str().ok()?;
        link.split(',').find_map(|part| {
            let (url, params) = part.split_once(';')?;
            params
                .split(';')
                .any(|p| p.trim() == "rel=\"next\"")
                .then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        })
    }
}

/// An authenticated client for one forge's API.
#[derive(Clone, Debug)]
pub struct Http {
    /// Which forge (for messages and auth style).
    pub forge: ForgeKind,
    base: url::Url,
    client: reqwest::Client,
    token: Option<Secret>,
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
    /// The first wait after a GitHub secondary rate limit without `retry-after` (GitHub asks
    /// for at least a minute); later waits are multiples of it. Shortened only by tests.
    pub secondary_wait: Duration,
}

impl Http {
    /// A client for the API at `base` (`https://api.github.com`, `https://host/api/v1`).
    pub fn new(forge: ForgeKind, base: &str, token: Option<Secret>) -> Result<Self, ForgeError> {
        let protocol =
            |reason: String| ForgeError::Protocol { forge, target: format!("using API URL {base}"), reason };
        let base = url::Url::parse(base.trim_end_matches('/')).map_err(|e| protocol(e.to_string()))?;
        let mut headers = HeaderMap::new();
        match forge {
            ForgeKind::Github => {
                headers.insert("accept", HeaderValue::from_static("application/vnd.github+json"));
                headers.insert("x-github-api-version", HeaderValue::from_static("2022-11-28"));
            }
            ForgeKind::Forgejo => {
                headers.insert("accept", HeaderValue::from_static("application/json"));
            }
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("deploy-action/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| protocol(e.to_string()))?;
        Ok(Http {
            forge,
            base,
            client,
            token: token.filter(|t| !t.is_empty()),
            retry: RetryPolicy::for_forge(),
            secondary_wait: Duration::from_secs(60),
        })
    }

    /// The API URL of `segments` under the base (each segment percent-encoded; a file path's
    /// `/` separate segments).
    pub fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.extend(s.split('/').filter(|p| !p.is_empty()));
            }
        }
        url
    }

    /// True when requests carry a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The web URL of the forge (the API base without `/api/v1` or `/api/v3`; github.com for
    /// api.github.com).
    pub fn web_base(&self) -> String {
        let s = self.base.as_str().trim_end_matches('/');
        if self.base.host_str() == Some("api.github.com") {
            return "https://github.com".to_owned();
        }
        s.trim_end_matches("/api/v1").trim_end_matches("/api/v3").to_owned()
    }

    /// Sends a request, retrying as `retry` allows, and returns any answer the retries did
    /// not absorb (the caller maps statuses). Transport failures become errors.
    pub async fn send(
        &self,
        target: &str,
        method: reqwest::Method,
        url: url::Url,
        body: Option<&serde_json::Value>,
        retry: Retry,
    ) -> Result<Answer, ForgeError> {
        let mut backoff = self.retry.backoff();
        // Waits of 1, 2 and 3 × the secondary wait (60, 120 and 180 s), then the error.
        let mut secondary = RetryPolicy::for_secondary_limits(self.secondary_wait).backoff();
        loop {
            let mut req = self.client.request(method.clone(), url.clone());
            if let Some(t) = &self.token {
                let scheme = if self.forge == ForgeKind::Forgejo { "token" } else { "Bearer" };
                let mut v = HeaderValue::from_str(&format!("{scheme} {}", t.expose())).map_err(|_| {
                    ForgeError::Protocol {
                        forge: self.forge,
                        target: target.to_owned(),
                        reason: "the token holds characters not allowed in an HTTP header".to_owned(),
                    }
                })?;
                v.set_sensitive(true);
                req = req.header("authorization", v);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    match resp.text().await {
                        Ok(body) => Ok(Answer { status, headers, body }),
                        Err(e) => Err(transport(self.forge, target, &e)),
                    }
                }
                Err(e) => Err(transport(self.forge, target, &e)),
            };
            // `Some(wait)`: retry, after the server's wait if it named one.
            let server_wait: Option<Duration> = match &outcome {
                Ok(a) => match rate_limit_wait(a) {
                    Some(w) => w,
                    None if retry == Retry::Idempotent && is_retryable_status(a.status) => None,
                    None => return outcome,
                },
                Err(_) if retry == Retry::Idempotent => None,
                Err(_) => return outcome,
            };
            // GitHub's secondary limits come without `retry-after`: wait at least a minute
            // (retrying sooner can get the integration banned), within its own bound.
            let is_secondary = self.forge == ForgeKind::Github
                && server_wait.is_none()
                && outcome.as_ref().is_ok_and(|a| rate_limit_wait(a).is_some());
            if is_secondary {
                let Ok(a) = outcome else { unreachable!() };
                let n = secondary.failures() + 1;
                let Some(wait) = secondary.next_wait(Some(self.secondary_wait * n)) else {
                    return Err(ForgeError::RateLimited {
                        forge: self.forge,
                        status: a.status,
                        target: target.to_owned(),
                        retry_after: None,
                        server: super::error::server_message(&a.body, a.status),
                    });
                };
                eprintln!(
                    "secondary rate limit: waiting {} s (attempt {n} of {SECONDARY_RETRIES}) while {target}",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            // A server's wait is honoured as asked; when it does not fit the budget, the error
            // says how long to wait.
            let Some(delay) = backoff.next_wait(server_wait) else {
                return match outcome {
                    Ok(a) => match rate_limit_wait(&a) {
                        Some(w) => Err(ForgeError::RateLimited {
                            forge: self.forge,
                            status: a.status,
                            target: target.to_owned(),
                            retry_after: w,
                            server: super::error::server_message(&a.body, a.status),
                        }),
                        None => Ok(a),
                    },
                    Err(e) => Err(e),
                };
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// Maps a non-success answer to the error for `op`.
    pub fn error(&self, op: Op, target: &str, repo: &str, answer: &Answer) -> ForgeError {
        if self.token.is_none() && matches!(answer.status, 401 | 403 | 404) {
            return ForgeError::NoToken {
                forge: self.forge,
                status: answer.status,
                target: target.to_owned(),
                repo: repo.to_owned(),
                server: super::error::server_message(&answer.body, answer.status),
            };
        }
        classify(self.forge, op, target, repo, answer.status, &answer.body)
    }
}

/// `Some(wait)` when the answer is a rate limit: 429; 403 with `retry-after`,
/// `x-ratelimit-remaining: 0` or a message naming a rate limit; 503 with `retry-after`. The inner value is the server's wait, if it named one.
fn rate_limit_wait(a: &Answer) -> Option<Option<Duration>> {
    let header = |n: &str| a.headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let retry_after = header("retry-after").and_then(parse_retry_after);
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    // GitHub's secondary limits may come as a bare 403 whose message names the limit.
    let named = a.status == 403 && a.body.to_ascii_lowercase().contains("rate limit");
    // A proxy in front of Forgejo may answer 503 with Retry-After.
    let limited = a.status == 429
        || (a.status == 403 && (retry_after.is_some() || exhausted || named))
        || (a.status == 503 && retry_after.is_some());
    if !limited {
        return None;
    }
    if retry_after.is_some() {
        return Some(retry_after);
    }
    if exhausted {
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(reset.map(|r| Duration::from_secs(r.saturating_sub(now).max(1))));
    }
    Some(None)
}

fn transport(forge: ForgeKind, target: &str, e: &reqwest::Error) -> ForgeError {
    // reqwest's Display names the URL, never the headers; redact anyway.
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    ForgeError::Transport { forge, target: target.to_owned(), reason: crate::secret::redact(&reason) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&'static str, String)], body: &str) -> Answer {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Answer { status, headers: h, body: body.to_owned() }
    }

    #[test]
    fn rate_limits_read_retry_after_as_seconds_or_an_http_date() {
        let secs = |a: &Answer| rate_limit_wait(a).map(|w| w.map(|d| d.as_secs()));
        assert_eq!(secs(&answer(429, &[("retry-after", "7".into())], "")), Some(Some(7)));
        let in_30s = chrono::Utc::now() + chrono::Duration::seconds(30);
        let date = in_30s.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let got = secs(&answer(403, &[("retry-after", date)], "")).flatten().unwrap();
        assert!((28..=30).contains(&got), "{got}");
        // GitHub's secondary limit: a 403 naming the limit, no wait given.
        assert_eq!(secs(&answer(403, &[], "You have exceeded a secondary rate limit")), Some(None));
        assert_eq!(secs(&answer(403, &[("retry-after", "soon".into())], "forbidden")), None);
        assert_eq!(secs(&answer(503, &[], "")), None, "a 503 without a wait is a server error");
    }
}
