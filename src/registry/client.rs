//! One registry's HTTP client: scheme choice, authentication, retries and error mapping.
//! Blob and manifest operations live in `blob.rs` and `manifest.rs`.

use super::auth::{
    AuthState, Challenge, Credential, Credentials, fetch_token, normalize_host, parse_challenge,
};
use super::error::{RegistryError, summarize_body};
use crate::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use reqwest::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Settings shared by every registry client of a run.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Credentials per host.
    pub credentials: Credentials,
    /// Hosts (with port) allowed over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// Retry policy of single requests.
    pub retry: RetryPolicy,
    /// Blobs up to this size are uploaded in one request.
    pub monolithic_max: u64,
    /// Chunk size of chunked uploads.
    pub chunk_size: u64,
    /// Blobs transferred at once per repository.
    pub concurrency: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: Credentials::default(),
            insecure: Vec::new(),
            retry: RetryPolicy::default(),
            monolithic_max: 32 << 20,
            chunk_size: 64 << 20,
            concurrency: 4,
        }
    }
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]` (any port).
pub fn is_loopback(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h).to_owned()
    };
    name == "localhost"
        || name == "[::1]"
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// HTTP clients built on first use: loading the system's root certificates costs more than a
/// whole `copy` to a loopback registry, so plain-HTTP runs never load them.
#[derive(Debug, Default)]
pub struct HttpClients {
    plain: OnceLock<reqwest::Client>,
    tls: OnceLock<reqwest::Client>,
}

impl HttpClients {
    /// The client for `https` URLs (system roots) or plain `http` ones (no roots).
    pub fn get(&self, https: bool) -> &reqwest::Client {
        let cell = if https { &self.tls } else { &self.plain };
        cell.get_or_init(|| {
            let b = reqwest::Client::builder()
                .user_agent(concat!("deploy-action/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(15))
                .read_timeout(Duration::from_secs(120));
            let b = if https { b } else { b.tls_certs_only(Vec::new()) };
            b.build().expect("HTTP client builds with static settings")
        })
    }
}

/// The clients of a run, one per registry host, sharing connection pools.
#[derive(Debug)]
pub struct Registries {
    http: Arc<HttpClients>,
    opts: ClientOptions,
    clients: Mutex<HashMap<String, Arc<RegistryClient>>>,
}

impl Registries {
    /// A client set with these options.
    pub fn new(opts: ClientOptions) -> Self {
        Registries { http: Arc::default(), opts, clients: Mutex::new(HashMap::new()) }
    }

    /// The options in force.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// The client of `registry` (a reference's registry; `docker.io` maps to its API host).
    pub fn client(&self, registry: &str) -> Result<Arc<RegistryClient>, RegistryError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(registry) {
            return Ok(c.clone());
        }
        let api = if registry == super::reference::DOCKER_HUB {
            super::reference::DOCKER_HUB_API
        } else {
            registry
        };
        let plain = is_loopback(api)
            || self.opts.insecure.iter().any(|h| normalize_host(h) == normalize_host(registry));
        let scheme = if plain { "http" } else { "https" };
        let base =
            url::Url::parse(&format!("{scheme}://{api}/")).map_err(|_| RegistryError::InvalidReference {
                reference: registry.to_owned(),
                reason: "has an invalid registry host".into(),
            })?;
        let client = Arc::new(RegistryClient {
            registry: registry.to_owned(),
            base,
            http: self.http.clone(),
            cred: self.opts.credentials.get(registry).cloned(),
            auth: tokio::sync::Mutex::new(AuthState::default()),
            retry: self.opts.retry,
        });
        clients.insert(registry.to_owned(), client.clone());
        Ok(client)
    }
}

/// A client of one registry.
#[derive(Debug)]
pub struct RegistryClient {
    pub(super) registry: String,
    pub(super) base: url::Url,
    http: Arc<HttpClients>,
    cred: Option<Credential>,
    auth: tokio::sync::Mutex<AuthState>,
    pub(super) retry: RetryPolicy,
}

/// The token scope to pull from `repository`.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The token scope to push to `repository`.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

impl RegistryClient {
    /// The registry host as written in references.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `base/v2/<path>`.
    pub(super) fn url(&self, path: &str) -> url::Url {
        self.base.join(&format!("v2/{path}")).expect("registry paths are valid URL paths")
    }

    /// Resolves a `Location` header against the registry's base URL.
    pub(super) fn location(
        &self,
        resp: &Response,
        repository: &str,
        op: &str,
    ) -> Result<url::Url, RegistryError> {
        resp.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| resp.url().join(l).ok())
            .ok_or_else(|| {
                self.status_error(repository, op, resp.status().as_u16(), "response has no Location header")
            })
    }

    /// A status error naming this registry.
    pub(super) fn status_error(&self, repository: &str, op: &str, status: u16, body: &str) -> RegistryError {
        RegistryError::Status {
            registry: self.registry.clone(),
            repository: repository.to_owned(),
            operation: op.to_owned(),
            status,
            body: crate::secret::redact(body),
        }
    }

    /// Turns an unexpected response into an error carrying the server's message.
    pub(super) async fn fail(&self, repository: &str, op: &str, resp: Response) -> RegistryError {
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map(|b| summarize_body(&b)).unwrap_or_default();
        if status == 401 {
            let (who, hint) = match self.cred.as_ref() {
                Some(c) => {
                    (format!("user {:?}", c.username), format!("the credential came from {}", c.source))
                }
                None => (
                    "anonymous access".to_owned(),
                    "no credential is set for this registry: add a `registry-auth` line for it".to_owned(),
                ),
            };
            return RegistryError::Auth {
                registry: self.registry.clone(),
                reason: format!("{op} on {repository}: {who} was refused (HTTP 401: {body}); {hint}"),
            };
        }
        self.status_error(repository, op, status, &body)
    }

    /// The `Authorization` header for `scopes`: fetches a bearer token when the registry
    /// asked for one earlier and none is cached.
    async fn auth_header(&self, scopes: &[String]) -> Result<Option<String>, RegistryError> {
        let mut auth = self.auth.lock().await;
        if let Some(h) = auth.header(self.cred.as_ref(), scopes) {
            return Ok(Some(h));
        }
        if let Some(Challenge::Bearer { realm, service, .. }) = auth.challenge().cloned() {
            let (token, life) = fetch_token(
                self.http.get(realm.starts_with("https:")),
                &self.registry,
                &realm,
                service.as_deref(),
                scopes,
                self.cred.as_ref(),
            )
            .await?;
            auth.store(scopes, token, life);
            return Ok(auth.header(self.cred.as_ref(), scopes));
        }
        Ok(None)
    }

    /// Records a 401's challenge. Returns false when there is nothing new to try.
    async fn challenged(&self, resp: &Response, sent: Option<&str>) -> bool {
        let Some(challenge) =
            resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).and_then(parse_challenge)
        else {
            return false;
        };
        if challenge == Challenge::Basic && self.cred.is_none() {
            return false;
        }
        self.auth.lock().await.challenged(challenge, sent);
        true
    }

    /// Sends the request `build` makes, authenticating on 401 (once) and retrying
    /// connection failures and retryable statuses under `policy`.
    pub(super) async fn send_with<F>(
        &self,
        policy: &RetryPolicy,
        repository: &str,
        op: &str,
        scopes: &[String],
        build: F,
    ) -> Result<Response, RegistryError>
    where
        F: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let mut backoff = policy.backoff();
        // One 401 to learn the scheme, one more to replace a refused token.
        let (mut discovered, mut refreshed) = (false, false);
        loop {
            let (http, req) = build(self.http.get(self.base.scheme() == "https")).build_split();
            let mut req = req.map_err(|e| RegistryError::Transport {
                registry: self.registry.clone(),
                operation: op.to_owned(),
                source: e,
            })?;
            // Credentials go to the registry's own origin only, never to a storage redirect.
            let same_origin = req.url().origin() == self.base.origin();
            let sent = if same_origin { self.auth_header(scopes).await? } else { None };
            if let Some(h) = &sent
                && let Ok(mut value) = reqwest::header::HeaderValue::from_str(h)
            {
                value.set_sensitive(true);
                req.headers_mut().insert(AUTHORIZATION, value);
            }
            let (last, retry_after) = match http.execute(req).await {
                Ok(resp)
                    if resp.status() == 401
                        && !(if sent.is_some() { refreshed } else { discovered })
                        && self.challenged(&resp, sent.as_deref()).await =>
                {
                    if sent.is_some() {
                        refreshed = true;
                    } else {
                        discovered = true;
                    }
                    continue;
                }
                Ok(resp) if is_retryable_status(resp.status().as_u16()) => {
                    let ra = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.map(|b| summarize_body(&b)).unwrap_or_default();
                    let asked =
                        ra.map(|d| format!(" (asked to retry after {} s)", d.as_secs())).unwrap_or_default();
                    (format!("HTTP {status} {body}{asked}"), ra)
                }
                Ok(resp) => return Ok(resp),
                Err(e) if e.is_builder() => {
                    return Err(RegistryError::Transport {
                        registry: self.registry.clone(),
                        operation: op.to_owned(),
                        source: e,
                    });
                }
                Err(e) => (error_chain(&e), None),
            };
            let Some(wait) = backoff.next_wait(retry_after) else {
                return Err(RegistryError::RetriesExhausted {
                    registry: self.registry.clone(),
                    operation: format!("{op} ({repository})"),
                    attempts: backoff.failures(),
                    elapsed: backoff.elapsed(),
                    last: crate::secret::redact(&last),
                });
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// [`send_with`](Self::send_with) under the client's retry policy.
    pub(super) async fn send<F>(
        &self,
        repository: &str,
        op: &str,
        scopes: &[String],
        build: F,
    ) -> Result<Response, RegistryError>
    where
        F: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let policy = self.retry;
        self.send_with(&policy, repository, op, scopes, build).await
    }
}

/// An error and its sources on one line, without URLs' query strings.
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let regs = Registries::new(ClientOptions {
            insecure: vec!["10.1.2.3:5000".into()],
            ..ClientOptions::default()
        });
        let scheme = |h: &str| regs.client(h).unwrap().base.scheme().to_owned();
        assert_eq!(scheme("10.1.2.3:5000"), "http");
        assert_eq!(scheme("127.0.0.1:5000"), "http");
        assert_eq!(scheme("localhost:5000"), "http");
        assert_eq!(scheme("10.1.2.3:5001"), "https");
        assert_eq!(scheme("ghcr.io"), "https");
        assert_eq!(regs.client("docker.io").unwrap().base.as_str(), "https://registry-1.docker.io/");
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost:5000", "127.0.0.1:1234", "127.3.2.1", "[::1]:5000", "localhost"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com", "[::2]:5000"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
