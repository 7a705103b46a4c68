//! Automatic rollback through the real binary: a `command` target records what it deploys,
//! a loopback health endpoint fails while the bad version is current.

use crate::forge_ops::{FILE, OPS, setup};
use crate::release::registry_with_versions;
use crate::release_faults::{release, run_within};
use crate::support::ActionRun;
use crate::support::fake_forge::state::FaultKind;
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::registry::TestRegistry;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A loopback health endpoint: 500 while `current` holds `bad`, else 200 with the version.
struct Health {
    url: String,
    stop: Arc<AtomicBool>,
}

impl Drop for Health {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ =
            std::net::TcpStream::connect(self.url.trim_start_matches("http://").trim_end_matches("/health"));
    }
}

impl Health {
    fn start(current: PathBuf, bad: &'static str) -> Health {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let version = std::fs::read_to_string(&current).unwrap_or_default().trim().to_owned();
                let (status, body) = if version == bad {
                    ("500 Internal Server Error", "broken".to_owned())
                } else {
                    ("200 OK", version)
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Health { url, stop }
    }
}

/// A `command` target that records each version it deploys and makes it current.
fn command_release(fake: &FakeForge, reg: &TestRegistry, work: &Path, health: &Health) -> ActionRun {
    let script = format!(
        "echo \"$API_IMAGE_TAG\" >> {calls}; printf %s \"$API_IMAGE_TAG\" > {current}",
        calls = work.join("calls").display(),
        current = work.join("current").display()
    );
    release(fake, &format!("api={}/org/api", reg.host), fake.flavor)
        .input("target", "command")
        .input("deploy-command", &script)
        .input("health-url", &health.url)
        .input("health-timeout", "3")
        .input("allow-downgrade", "true")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Case {
    /// `rollback-on-failure: true`.
    RollBack,
    /// `rollback-on-failure: false`.
    Off,
    /// The rollback's own commit is refused (rate limit throughout).
    RollbackNotRecorded,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_check_rolls_back_automatically_or_says_it_did_not() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let cases = [
        (Flavor::Github, Case::RollBack),
        (Flavor::Forgejo, Case::RollBack),
        (Flavor::Github, Case::Off),
        (Flavor::Github, Case::RollbackNotRecorded),
    ];
    for (flavor, case) in cases {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("current"), "v1").unwrap();
        let health = Health::start(work.path().join("current"), "v2");
        let before = fake.history(OPS, FILE).len();
        if case == Case::RollbackNotRecorded {
            let limit = FaultKind::RateLimit { status: 429, retry_after: 1 };
            fake.inject_after(Some("PUT"), "/contents/", 1, 10, limit);
        }
        let action = command_release(&fake, &reg, work.path(), &health)
            .input("api_image_tag", "v2")
            .input("rollback-on-failure", &(case != Case::Off).to_string());
        let (out, took) = run_within(action, Duration::from_secs(60)).await;
        let what = format!("{flavor:?} {case:?}");
        assert_eq!(out.code, 1, "{what}: {}", out.log());
        assert!(out.stdout.contains("health check failed"), "{what}: {}", out.stdout);
        let calls = std::fs::read_to_string(work.path().join("calls")).unwrap();
        let history = fake.history(OPS, FILE);
        let file = fake.file(OPS, FILE).unwrap();
        let states: Vec<String> = match flavor {
            Flavor::Github => {
                let deployments = fake.deployments(OPS);
                assert_eq!(deployments.len(), 1, "{what}: {deployments:?}");
                deployments[0].3.clone()
            }
            Flavor::Forgejo => {
                let statuses = fake.statuses(OPS);
                assert!(statuses.iter().all(|s| s.2 == "deploy/staging"), "{statuses:?}");
                statuses.into_iter().map(|s| s.1).collect()
            }
        };
        let opened = if flavor == Flavor::Github { "in_progress" } else { "pending" };
        assert_eq!(states, [opened, "failure"], "{what}");
        match case {
            Case::RollBack => {
                assert!(out.stdout.contains("rolled back to api v1"), "{what}: {}", out.stdout);
                assert!(file.starts_with("API_IMAGE_TAG=v1\n"), "{what}: {file}");
                assert_eq!(history.len(), before + 2, "{history:?}");
                assert_eq!(history[1].lines().next().unwrap(), "deploy: api v1 → v2");
                let subject = history[0].lines().next().unwrap();
                assert!(
                    subject.starts_with("rollback: api v2 → v1 (automatic: health check failed"),
                    "{subject}"
                );
                assert_eq!(calls, "v2\nv1\n", "the command ran the bad version, then v1");
                // The failure leaves a summary (what was to change, why, where to look) and
                // an annotation.
                assert!(
                    out.summary.contains("### Release to staging rolled back"),
                    "{what}: {}",
                    out.summary
                );
                assert!(
                    out.summary.contains("| api | `v1` | `") && out.summary.contains("health check failed")
                );
                assert!(out.summary.contains("[this run]("), "{}", out.summary);
                assert!(out.stdout.contains("::warning::release to staging rolled back"), "{}", out.stdout);
            }
            Case::Off => {
                assert!(out.stdout.contains("rollback-on-failure is off"), "{}", out.stdout);
                assert!(file.starts_with("API_IMAGE_TAG=v2\n"), "the new version stays recorded");
                assert_eq!(history.len(), before + 1, "{history:?}");
                assert_eq!(calls, "v2\n");
                assert!(out.summary.contains("### Release to staging failed"), "{}", out.summary);
            }
            Case::RollbackNotRecorded => {
                // What runs (v2) is what the file says; the step says the rollback failed.
                assert!(out.stdout.contains("the rollback could not be recorded"), "{}", out.stdout);
                assert!(file.starts_with("API_IMAGE_TAG=v2\n"), "{file}");
                assert_eq!(history.len(), before + 1, "{history:?}");
                assert_eq!(calls, "v2\n", "nothing redeployed without a record");
            }
        }
        assert!(took < Duration::from_secs(30), "{what}: {took:?}");
        eprintln!("{what}: exit 1 in {took:.1?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_automatic_rollback_leaves_a_later_release_of_the_service_alone() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("current"), "v1").unwrap();
    let health = Health::start(work.path().join("current"), "v2");
    let action = command_release(&fake, &reg, work.path(), &health).input("api_image_tag", "v2");
    let calls = work.path().join("calls");
    // While v2's health check fails, another release records v3.
    let later = async {
        for _ in 0..200 {
            if std::fs::read_to_string(&calls).unwrap_or_default().contains("v2") {
                fake.put_file(OPS, FILE, "API_IMAGE_TAG=v3\n");
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    let ((out, _), recorded) = tokio::join!(run_within(action, Duration::from_secs(60)), later);
    assert!(recorded, "the deploy command never ran: {}", out.log());
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("API_IMAGE_TAG is now v3"), "{}", out.stdout);
    assert!(out.stdout.contains("so it was not restored"), "{}", out.stdout);
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v3\n");
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "v2\n", "nothing redeployed");
    let deployments = fake.deployments(OPS);
    assert_eq!(deployments[0].3, ["in_progress", "failure"], "{deployments:?}");
}

/// The `deploy-command` of the README's Kubernetes example, as printed there.
fn readme_helm_command() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- kubernetes-example -->")
        .nth(1)
        .and_then(|r| r.split("<!-- /kubernetes-example -->").next())
        .expect("the README's kubernetes example");
    let mut lines = block.lines().skip_while(|l| !l.trim_start().starts_with("deploy-command: |"));
    let head = lines.next().expect("deploy-command in the example");
    let indent = head.len() - head.trim_start().len() + 2;
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The README's helm example, run by a release with stand-ins for `helm` and `kubectl` (they
/// log their arguments; the rollout of `v2` never becomes ready): the release fails, records
/// v1 again and runs the same command with v1, which succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_helm_example_rolls_a_broken_release_back() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let calls = work.path().join("calls");
    let stand_in = |name: &str, body: &str| {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho \"{name} $*\" >> {}\n{body}\n", calls.display()))
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let tag_file = work.path().join("tag");
    stand_in(
        "helm",
        &format!(
            "for a in \"$@\"; do case $a in image.tag=*) echo \"${{a#image.tag=}}\" > {};; esac; done",
            tag_file.display()
        ),
    );
    stand_in(
        "kubectl",
        &format!(
            "if [ \"$(cat {})\" = v2 ]; then echo 'error: deployment \"api\" exceeded its progress deadline' >&2; exit 1; fi",
            tag_file.display()
        ),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let action = release(&fake, &format!("api={}/org/api", reg.host), fake.flavor)
        .env("PATH", &path)
        .input("target", "command")
        .input("deploy-command", &readme_helm_command())
        .input("allow-downgrade", "true")
        .input("api_image_tag", "v2");
    let (out, _) = run_within(action, Duration::from_secs(60)).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("exceeded its progress deadline"), "{}", out.stdout);
    assert!(out.stdout.contains("rolled back to api v1"), "{}", out.stdout);
    let calls = std::fs::read_to_string(&calls).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 4, "{calls}");
    assert!(lines[0].starts_with("helm upgrade --install api ./charts/api --namespace staging"), "{calls}");
    assert!(lines[0].contains("--set image.tag=v2 --atomic --wait --timeout 5m"), "{calls}");
    assert_eq!(lines[1], "kubectl --namespace staging rollout status deployment/api --timeout 5m");
    assert!(lines[2].contains("--set image.tag=v1"), "the rollback deploys v1: {calls}");
    assert!(lines[3].starts_with("kubectl --namespace staging rollout status"), "{calls}");
    let file = fake.file(OPS, FILE).unwrap();
    assert!(file.starts_with("API_IMAGE_TAG=v1\n"), "v1 recorded again: {file}");
}
