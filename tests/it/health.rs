//! Health checks against a real HTTP server on loopback: backoff until healthy, body match,
//! bounded timeout with a clear reason.

use crate::support::http::{Canned, ScriptedServer};
use deploy_action::deploy::health::{HealthCheck, HealthError, wait_healthy};
use std::time::Duration;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn check(url: String, timeout_ms: u64) -> HealthCheck {
    HealthCheck {
        interval: Duration::from_millis(20),
        ..HealthCheck::new(url, Duration::from_millis(timeout_ms))
    }
}

#[test]
fn becomes_healthy_after_failures_and_checks_the_body() {
    let server = ScriptedServer::start(vec![
        Canned::new(503, "starting"),
        Canned::new(200, "version=1.2.2"),
        Canned::new(200, "version=1.2.3"),
    ]);
    let mut c = check(format!("{}/health", server.url), 5_000);
    c.body_contains = Some("1.2.3".into());
    let mut lines = Vec::new();
    let ok = rt().block_on(wait_healthy(&reqwest::Client::new(), &c, |l| lines.push(l.to_owned()))).unwrap();
    assert_eq!(ok.attempts, 3);
    assert_eq!(server.hits(), 3);
    assert!(lines[0].contains("status 503, expected 200"), "{lines:?}");
    assert!(lines[1].contains("body lacks \"1.2.3\""), "{lines:?}");
}

#[test]
fn times_out_with_the_last_reason_and_bounded_polls() {
    let server = ScriptedServer::start(vec![Canned::new(500, "boom")]);
    let c = check(format!("{}/health", server.url), 400);
    let err = rt().block_on(wait_healthy(&reqwest::Client::new(), &c, |_| {})).unwrap_err();
    let HealthError::Timeout { attempts, elapsed, last, .. } = &err;
    assert!(last.contains("status 500"), "{err}");
    assert!(*elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(*attempts >= 2 && *attempts < 30, "{attempts}");
    assert!(err.to_string().contains("was not healthy after"), "{err}");
}

#[test]
fn connection_refused_is_reported_and_credentials_in_urls_are_hidden() {
    let port = crate::support::sshd::free_port();
    let c = check(format!("http://user:hunter2secret@127.0.0.1:{port}/health"), 200);
    deploy_action::secret::register("hunter2secret");
    let err = rt().block_on(wait_healthy(&reqwest::Client::new(), &c, |_| {})).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("connection refused"), "{text}");
    assert!(!text.contains("hunter2secret"), "{text}");
}
