//! Dokploy's REST face as this target calls it, modelled on Dokploy v0.30.2 (canary commit
//! 772b76821771c53b072c2fbb95cf8876e1a65ae4) and @dokploy/trpc-openapi 0.0.17 (ea210c46):
//!
//! - every tRPC procedure is served at `/api/<router>.<procedure>` by `createOpenApiNextHandler`
//!   (`apps/dokploy/pages/api/[...trpc].ts`); a query is `GET` with its input as query
//!   parameters (`?composeId=…`, trpc-openapi `adapters/node-http/input.ts` `getQuery`), a
//!   mutation `POST` with a JSON body and `content-type: application/json` (else 415);
//! - auth is the `x-api-key` header (`packages/server/src/lib/auth.ts` `validateRequest`, since
//!   v0.19.0); without a valid key the handler answers `401 {"message":"Unauthorized"}` before
//!   any route; a permission or access check that fails is also a 401, with its own message
//!   (`services/permission.ts`); 403 only comes from enterprise-only procedures;
//! - an error is `{"message", "code": "NOT_FOUND", "data": {...}}` with the status of its code
//!   (trpc-openapi `adapters/node-http/errors.ts`); an unknown id is `404 Compose not found`
//!   (`services/compose.ts` `findComposeById`), an unknown route or method `404 Not found`;
//! - a success body is the procedure's result as plain JSON (no superjson envelope); a
//!   procedure that returns `undefined` answers 200 with an empty body.

use crate::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use crate::secret::{Secret, redact, redact_url};
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// One Dokploy instance's API.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    /// Base URL without `/api` and without a trailing slash.
    pub(crate) base: String,
    key: Secret,
    client: reqwest::Client,
    /// Retries of a 429/5xx answer, a refused connection, or a query's timeout.
    pub(crate) retry: RetryPolicy,
}

/// How a procedure takes its input.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Input<'a> {
    /// A query: `GET` with query parameters.
    Query(&'a [(&'a str, &'a str)]),
    /// A mutation: `POST` with a JSON body.
    Mutation(&'a serde_json::Value),
}

/// Why a call failed, after its retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CallError {
    /// Dokploy (or a proxy in front of it) answered this status.
    Status {
        /// HTTP status.
        status: u16,
        /// The tRPC code of the body (`NOT_FOUND`), when it has one.
        code: Option<String>,
        /// The body's `message`, or the body shortened; redacted.
        message: String,
    },
    /// The TLS handshake failed (untrusted certificate, a plain-HTTP port, …).
    Tls(String),
    /// No connection, or no answer in time.
    Unreachable(String),
    /// Anything else (an answer that is not the JSON expected, a broken connection).
    Other(String),
}

impl Api {
    /// A client of `url` (`https://dokploy.example.com`, `/api` and slashes trimmed).
    pub(crate) fn new(url: &str, key: Secret) -> Result<Api, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("deploy-action/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = url.trim().trim_end_matches('/').trim_end_matches("/api").to_owned();
        Ok(Api { base, key, client, retry: RetryPolicy::for_forge() })
    }

    /// The URL of a procedure (`compose.one`).
    pub(crate) fn route_url(&self, route: &str) -> String {
        format!("{}/api/{route}", self.base)
    }

    /// Calls `route` and decodes its answer; an empty body reads as JSON `null`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        route: &str,
        input: Input<'_>,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<T, CallError> {
        let body = self.send(route, input, progress).await?;
        let text = if body.trim().is_empty() { "null" } else { body.as_str() };
        // Neither the body nor serde's message is shown: a compose's answer holds its env's secrets.
        serde_json::from_str(text).map_err(|e| {
            CallError::Other(format!(
                "{} answered 200 with a body that is not what Dokploy sends ({:?} error at line {} column {})",
                redact_url(&self.route_url(route)),
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    async fn send(
        &self,
        route: &str,
        input: Input<'_>,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<String, CallError> {
        let url = self.route_url(route);
        let shown = redact_url(&url);
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = match input {
                Input::Query(params) => self.client.get(&url).query(params),
                Input::Mutation(body) => self.client.post(&url).json(body),
            };
            let sent = request.header("x-api-key", self.key.expose()).send().await;
            let (error, retry_after) = match sent {
                Ok(resp) if resp.status().is_success() => match resp.text().await {
                    Ok(text) => return Ok(text),
                    Err(e) => {
                        return Err(CallError::Other(format!("{shown}: reading the answer: {}", plain(&e))));
                    }
                },
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let body = resp.text().await.unwrap_or_default();
                    let (code, message) = server_message(&body);
                    let error = CallError::Status { status, code, message };
                    if !is_retryable_status(status) {
                        return Err(error);
                    }
                    (error, retry_after)
                }
                Err(e) => {
                    let error = transport_error(&e);
                    let retryable = match &error {
                        CallError::Unreachable(_) => e.is_connect() || matches!(input, Input::Query(_)),
                        _ => false,
                    };
                    if !retryable {
                        return Err(error);
                    }
                    (error, None)
                }
            };
            let wait = self.retry.delay(attempts, retry_after);
            if !self.retry.allows(attempts, start, wait) {
                return Err(gave_up(error, attempts));
            }
            progress(&format!("dokploy: {shown}: {}; retry in {wait:.1?}", describe_brief(&error)));
            tokio::time::sleep(wait).await;
        }
    }
}

fn gave_up(error: CallError, attempts: u32) -> CallError {
    let tail = format!(" (gave up after {attempts} attempts)");
    match error {
        CallError::Status { status, code, message } => {
            CallError::Status { status, code, message: format!("{message}{tail}") }
        }
        CallError::Unreachable(m) => CallError::Unreachable(format!("{m}{tail}")),
        other => other,
    }
}

fn describe_brief(e: &CallError) -> String {
    match e {
        CallError::Status { status, message, .. } => format!("answered {status}: {message}"),
        CallError::Tls(m) | CallError::Unreachable(m) | CallError::Other(m) => m.clone(),
    }
}

/// The transport failure of `e`, TLS told apart from a refused connection.
fn transport_error(e: &reqwest::Error) -> CallError {
    if let Some(tls) = tls_failure(e) {
        return CallError::Tls(redact(&tls));
    }
    if e.is_timeout() {
        CallError::Unreachable("no answer in time".into())
    } else if e.is_connect() {
        CallError::Unreachable("connection refused or unreachable".into())
    } else {
        CallError::Other(plain(e))
    }
}

/// The TLS error inside `e`, if the failure was one. The connector reports it as an
/// `io::Error` wrapping an `io::Error` wrapping a `rustls::Error`; an io error's `source` skips
/// what it wraps, so those are unwrapped with `get_ref`.
pub(crate) fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let mut inner = Some(err);
        while let Some(i) = inner {
            if let Some(t) = i.downcast_ref::<rustls::Error>() {
                return Some(t.to_string());
            }
            let io = i.downcast_ref::<std::io::Error>();
            // tokio-rustls' words for a peer that hung up before the handshake was done.
            if io.is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
                && i.to_string() == "tls handshake eof"
            {
                return Some("the server closed the connection during the TLS handshake".into());
            }
            inner = io.and_then(|io| io.get_ref()).map(|r| r as _);
        }
        cur = err.source();
    }
    None
}

/// reqwest's text without the URL (it may carry credentials), redacted.
fn plain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "");
    }
    redact(&text)
}

fn shorten(body: &str) -> String {
    let text: String = body.trim().chars().take(300).collect();
    if text.is_empty() { "(empty body)".to_owned() } else { redact(&text) }
}

/// The tRPC code and `message` of an error body; any other body shortened. Redacted.
pub(crate) fn server_message(body: &str) -> (Option<String>, String) {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    let field = |k: &str| json.as_ref().and_then(|v| v.get(k)).and_then(|m| m.as_str()).map(str::to_owned);
    let message = field("message").map(|m| redact(&m)).unwrap_or_else(|| shorten(body));
    (field("code"), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_code_and_message_redacted() {
        crate::secret::register("dok-secret-key-1");
        assert_eq!(
            server_message(r#"{"message":"Unauthorized dok-secret-key-1","code":"UNAUTHORIZED"}"#),
            (Some("UNAUTHORIZED".into()), "Unauthorized ***".into())
        );
        assert_eq!(server_message(""), (None, "(empty body)".into()));
        assert_eq!(server_message("<html>bad gateway</html>"), (None, "<html>bad gateway</html>".into()));
    }

    #[test]
    fn base_url_is_normalized() {
        let api = Api::new(" https://dok.example/api/ ", Secret::new("abcd")).unwrap();
        assert_eq!(api.route_url("compose.deploy"), "https://dok.example/api/compose.deploy");
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_found() {
        let inner = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        // As hyper-util's connector hands it over: an io error around the io error.
        let outer = std::io::Error::other(inner);
        assert_eq!(tls_failure(&outer).as_deref(), Some("invalid peer certificate: UnknownIssuer"));
        let eof = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "tls handshake eof",
        ));
        assert_eq!(
            tls_failure(&eof).as_deref(),
            Some("the server closed the connection during the TLS handshake")
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(tls_failure(&refused), None);
    }
}
