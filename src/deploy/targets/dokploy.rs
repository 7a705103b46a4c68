//! `dokploy`: queue a deploy of each compose app through Dokploy's API
//! (`POST /api/compose.deploy`), in order, each followed by its own health check.

use super::{Rollout, Target, TargetError};
use crate::deploy::health::{HealthCheck, wait_healthy};
use crate::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use crate::secret::{Secret, redact, redact_url};
use std::time::{Duration, Instant};

const NAME: &str = "dokploy";

/// One compose app of Dokploy, and the URL that says it runs the new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DokployCompose {
    /// Dokploy's `composeId`.
    pub id: String,
    /// Health URL polled after the deploy is queued; none: no check.
    pub health_url: Option<String>,
}

/// A Dokploy instance and the apps to deploy.
#[derive(Clone, Debug)]
pub struct Dokploy {
    /// Base URL (`https://dokploy.example.com`), no trailing slash.
    pub url: String,
    /// The `x-api-key`.
    pub api_key: Secret,
    /// Apps in deploy order.
    pub composes: Vec<DokployCompose>,
    /// Status, body match, timeout and interval of the per-app health checks (its URL is unused).
    pub health: HealthCheck,
    /// Retries of a 5xx/429 answer or a refused connection.
    pub retry: RetryPolicy,
    client: reqwest::Client,
}

impl Dokploy {
    /// A client for `url`; health checks default to 200 within 5 minutes.
    pub fn new(url: &str, api_key: Secret, composes: Vec<DokployCompose>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("deploy-action/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Dokploy {
            url: url.trim().trim_end_matches('/').trim_end_matches("/api").to_owned(),
            api_key,
            composes,
            health: HealthCheck::new("", Duration::from_secs(300)),
            retry: RetryPolicy::for_forge(),
            client,
        })
    }

    /// The deploy endpoint.
    pub fn deploy_url(&self) -> String {
        format!("{}/api/compose.deploy", self.url)
    }

    /// Queues the deploy of one compose app, retrying 5xx/429 and refused connections.
    pub async fn deploy_one(
        &self,
        id: &str,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        let url = self.deploy_url();
        let shown = redact_url(&url);
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let sent = self
                .client
                .post(&url)
                .header("x-api-key", self.api_key.expose())
                .json(&serde_json::json!({ "composeId": id }))
                .send()
                .await;
            let (why, retry_after) = match sent {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let body = resp.text().await.unwrap_or_default();
                    let why =
                        format!("{shown} answered {status} for composeId {id}: {}", server_message(&body));
                    if !is_retryable_status(status) {
                        return Err(TargetError::failed(NAME, hint(status, why)));
                    }
                    (why, retry_after)
                }
                Err(e) if e.is_connect() => (format!("{shown}: connection refused or unreachable"), None),
                Err(e) => {
                    let e = redact(&e.without_url().to_string());
                    return Err(TargetError::failed(NAME, format!("{shown} for composeId {id}: {e}")));
                }
            };
            let wait = self.retry.delay(attempts, retry_after);
            if !self.retry.allows(attempts, start, wait) {
                return Err(TargetError::failed(NAME, format!("{why} (gave up after {attempts} attempts)")));
            }
            progress(&format!("dokploy: {why}; retry in {wait:.1?}"));
            tokio::time::sleep(wait).await;
        }
    }
}

/// Dokploy's error body is `{"message": …, "code": …}`; anything else is shown shortened.
fn server_message(body: &str) -> String {
    let text = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.trim().chars().take(300).collect());
    let text = if text.is_empty() { "(empty body)".to_owned() } else { text };
    redact(&text)
}

fn hint(status: u16, why: String) -> String {
    match status {
        401 | 403 => format!("{why}. Check the `api-key` input (Dokploy: Settings → Profile → API/CLI keys)"),
        404 => format!("{why}. Check `dokploy-url` and the ids in `dokploy-compose-ids`"),
        _ => why,
    }
}

impl Target for Dokploy {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn deploy(
        &self,
        _rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        for c in &self.composes {
            self.deploy_one(&c.id, progress).await?;
            progress(&format!("dokploy: deploy of compose {} queued", c.id));
            let Some(health) = &c.health_url else { continue };
            let check = HealthCheck { url: health.clone(), ..self.health.clone() };
            let healthy = wait_healthy(&self.client, &check, |l| progress(&format!("dokploy: {l}")))
                .await
                .map_err(|e| TargetError::failed(NAME, format!("compose {}: {e}", c.id)))?;
            progress(&format!(
                "dokploy: compose {} healthy after {:.1?} ({} checks)",
                c.id, healthy.elapsed, healthy.attempts
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_extracted_and_redacted() {
        crate::secret::register("dok-secret-key-1");
        assert_eq!(
            server_message(r#"{"message":"Unauthorized dok-secret-key-1","code":"UNAUTHORIZED"}"#),
            "Unauthorized ***"
        );
        assert_eq!(server_message(""), "(empty body)");
        assert_eq!(server_message("<html>bad gateway</html>"), "<html>bad gateway</html>");
    }

    #[test]
    fn base_url_is_normalized() {
        let d = Dokploy::new("https://dok.example/api/", Secret::new("abcd"), vec![]).unwrap();
        assert_eq!(d.deploy_url(), "https://dok.example/api/compose.deploy");
    }
}
