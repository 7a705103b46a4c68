//! `release` under faults, with a failing deploy, concurrently, and with secrets, through the
//! real binary against the real registry (behind the fault proxy where it says so) and the
//! fake forge (with injected faults). Every run either is done (file, deployment or commit
//! status, deploy) or fails cleanly with nothing half-applied.

use crate::forge_ops::{FILE, OPS, TOKEN, setup};
use crate::release::registry_with_versions;
use crate::support::fake_forge::state::FaultKind;
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::proxy::{Fault, FaultProxy, Rule};
use crate::support::registry::TestRegistry;
use crate::support::{ActionRun, Outcome};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn release(fake: &FakeForge, images: &str, flavor: Flavor) -> ActionRun {
    let mut a = ActionRun::action()
        .env("GITHUB_API_URL", &fake.api_url())
        .input("command", "release")
        .input("target", "none")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("environment", "staging")
        .input("images", images);
    if flavor == Flavor::Forgejo {
        a = a.env("FORGEJO_ACTIONS", "true");
    }
    a
}

/// Runs the binary off the async runtime, failing the test past `limit`.
async fn run_within(action: ActionRun, limit: Duration) -> (Outcome, Duration) {
    let start = Instant::now();
    let out = tokio::time::timeout(limit, tokio::task::spawn_blocking(move || action.run()))
        .await
        .unwrap_or_else(|_| panic!("the run took more than {limit:?}"))
        .unwrap();
    (out, start.elapsed())
}

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
    release(fake, &format!("api={}/org/api", reg.host), Flavor::Github)
        .input("target", "command")
        .input("deploy-command", &script)
        .input("health-url", &health.url)
        .input("health-timeout", "3")
        .input("allow-downgrade", "true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_check_rolls_back_automatically_or_says_it_did_not() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    for rollback in [true, false] {
        let (fake, _, _) = setup(Flavor::Github).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("current"), "v1").unwrap();
        let health = Health::start(work.path().join("current"), "v2");
        let before = fake.history(OPS, FILE).len();
        let action = command_release(&fake, &reg, work.path(), &health)
            .input("api_image_tag", "v2")
            .input("rollback-on-failure", &rollback.to_string());
        let (out, took) = run_within(action, Duration::from_secs(60)).await;
        assert_eq!(out.code, 1, "{}", out.log());
        assert!(out.stdout.contains("health check failed"), "{}", out.stdout);
        let calls = std::fs::read_to_string(work.path().join("calls")).unwrap();
        let history = fake.history(OPS, FILE);
        let deployments = fake.deployments(OPS);
        assert_eq!(deployments.len(), 1, "{deployments:?}");
        assert_eq!(deployments[0].3.last().unwrap(), "failure", "{deployments:?}");
        if rollback {
            assert!(out.stdout.contains("rolled back to api v1"), "{}", out.stdout);
            assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v1\n"));
            assert_eq!(history.len(), before + 2, "{history:?}");
            assert_eq!(history[1].lines().next().unwrap(), "deploy: api v1 → v2");
            let subject = history[0].lines().next().unwrap();
            assert!(
                subject.starts_with("rollback: api v2 → v1 (automatic: health check failed"),
                "{subject}"
            );
            assert_eq!(calls, "v2\nv1\n", "the command ran the bad version, then v1");
            assert_eq!(deployments[0].3, ["in_progress", "failure"]);
        } else {
            assert!(out.stdout.contains("rollback-on-failure is off"), "{}", out.stdout);
            assert!(
                fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"),
                "the new version stays recorded"
            );
            assert_eq!(history.len(), before + 1, "{history:?}");
            assert_eq!(calls, "v2\n");
        }
        assert!(took < Duration::from_secs(30), "{took:?}");
    }
}

/// After a run: done (v2 recorded, deployment or commit status `success`), or failed with
/// v1 still recorded and no deployment or status left open.
fn assert_done_or_clean(fake: &FakeForge, flavor: Flavor, out: &Outcome, case: &str) {
    let file = fake.file(OPS, FILE).unwrap();
    let open = |s: &str| matches!(s, "in_progress" | "queued" | "pending");
    match flavor {
        Flavor::Github => {
            let deployments = fake.deployments(OPS);
            for d in &deployments {
                assert!(
                    !d.3.last().is_some_and(|s| open(s)),
                    "{case}: left open: {deployments:?}\n{}",
                    out.log()
                );
            }
            if out.code == 0 {
                assert!(file.starts_with("API_IMAGE_TAG=v2\n"), "{case}: {file}");
                let states = &deployments.last().unwrap().3;
                if states.is_empty() {
                    // The status route failed throughout: deployed, recorded, and said so.
                    assert!(out.log().contains("warning: could not report Success"), "{case}: {}", out.log());
                } else {
                    assert_eq!(states.last().unwrap(), "success", "{case}: {deployments:?}");
                }
            } else {
                assert_eq!(file, "API_IMAGE_TAG=v1\n", "{case}: recorded though failed\n{}", out.log());
            }
        }
        Flavor::Forgejo => {
            let statuses = fake.statuses(OPS);
            if out.code == 0 {
                assert!(file.starts_with("API_IMAGE_TAG=v2\n"), "{case}: {file}");
                match statuses.last() {
                    None => {
                        assert!(
                            out.log().contains("warning: could not report Success"),
                            "{case}: {}",
                            out.log()
                        )
                    }
                    Some(last) => {
                        assert_eq!(last.1, "success", "{case}: {statuses:?}");
                        assert_eq!(
                            last.0,
                            out.output("commit-sha"),
                            "{case}: status not on the recording commit"
                        );
                    }
                }
            } else {
                assert_eq!(file, "API_IMAGE_TAG=v1\n", "{case}: recorded though failed\n{}", out.log());
                assert!(statuses.iter().all(|s| !open(&s.1)), "{case}: {statuses:?}");
            }
        }
    }
}

fn kinds() -> [(&'static str, FaultKind); 4] {
    [
        ("500", FaultKind::Status(500)),
        ("502", FaultKind::Status(502)),
        ("429", FaultKind::RateLimit { status: 429, retry_after: 1 }),
        ("drop", FaultKind::Drop),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forge_faults_leave_each_release_done_or_cleanly_failed() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let images = format!("api={}/org/api", reg.host);
    let routes: &[(Flavor, Option<&str>, &str, &str)] = &[
        (Flavor::Github, Some("PUT"), "/contents/", "contents PUT"),
        (Flavor::Github, Some("POST"), "/deployments", "deployment create"),
        (Flavor::Github, Some("POST"), "/statuses", "deployment status"),
        (Flavor::Forgejo, Some("PUT"), "/contents/", "contents PUT"),
        (Flavor::Forgejo, Some("POST"), "/statuses/", "commit status"),
    ];
    let mut done = 0;
    for &(flavor, method, path, route) in routes {
        for (name, kind) in kinds() {
            for times in [1, 20] {
                if times > 1 && name == "502" {
                    continue; // as 500
                }
                let (fake, _, _) = setup(flavor).await;
                fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
                fake.inject(method, path, times, kind.clone());
                let case = format!("{flavor:?} {route} {name} x{times}");
                let (out, took) = run_within(
                    release(&fake, &images, flavor).input("api_image_tag", "v2"),
                    Duration::from_secs(90),
                )
                .await;
                assert_done_or_clean(&fake, flavor, &out, &case);
                let hits = fake
                    .requests()
                    .iter()
                    .filter(|r| method.is_none_or(|m| m == r.method) && r.target.contains(path))
                    .count();
                assert!(hits <= 25, "{case}: {hits} requests");
                assert!(took < Duration::from_secs(60), "{case}: {took:?}");
                // A deployment create is not repeated on a 5xx or a cut (it may have been
                // made): the release stops before recording. Other single faults are absorbed.
                if times == 1 && (route != "deployment create" || name == "429") {
                    assert_eq!(out.code, 0, "{case}: one transient fault is absorbed\n{}", out.log());
                }
                done += (out.code == 0) as usize;
                eprintln!("{case}: exit {} in {took:.1?}, {hits} requests", out.code);
            }
        }
    }
    assert!(done > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_the_versions_write_still_reports_on_the_recording_commit() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let images = format!("api={}/org/api", reg.host);
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        fake.inject(Some("PUT"), "/contents/", 1, FaultKind::DropAfterHandling);
        let (out, _) =
            run_within(release(&fake, &images, flavor).input("api_image_tag", "v2"), Duration::from_secs(60))
                .await;
        assert_eq!(out.code, 0, "{flavor:?}: {}", out.log());
        assert_eq!(fake.history(OPS, FILE).len(), 2, "one release commit");
        assert!(!out.output("commit-sha").is_empty(), "{flavor:?}: {}", out.log());
        assert_done_or_clean(&fake, flavor, &out, &format!("{flavor:?} lost answer"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_the_deployment_create_leaves_no_open_deployment() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let images = format!("api={}/org/api", reg.host);
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    fake.inject(Some("POST"), "/deployments", 1, FaultKind::DropAfterHandling);
    let (out, _) = run_within(
        release(&fake, &images, Flavor::Github).input("api_image_tag", "v2"),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");
    let deployments = fake.deployments(OPS);
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    assert_eq!(deployments[0].3, ["error"], "{}", out.log());
    assert!(out.log().contains("was created though its answer was lost"), "{}", out.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_on_the_final_status_does_not_leave_the_deployment_in_progress() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let images = format!("api={}/org/api", reg.host);
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        for (name, kind) in kinds() {
            let (fake, _, _) = setup(flavor).await;
            fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
            // The in-progress report goes through; the final one meets the fault once.
            fake.inject_after(Some("POST"), "/statuses", 1, 1, kind);
            let (out, took) = run_within(
                release(&fake, &images, flavor).input("api_image_tag", "v2"),
                Duration::from_secs(60),
            )
            .await;
            let case = format!("{flavor:?} final status {name}");
            assert_eq!(out.code, 0, "{case}: {}", out.log());
            match flavor {
                Flavor::Github => {
                    assert_eq!(fake.deployments(OPS)[0].3, ["in_progress", "success"], "{case}")
                }
                Flavor::Forgejo => {
                    let states: Vec<String> = fake.statuses(OPS).into_iter().map(|s| s.1).collect();
                    assert_eq!(states, ["pending", "success"], "{case}");
                }
            }
            assert!(took < Duration::from_secs(20), "{case}: {took:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_comment_faults_deploy_only_after_the_approval_is_recorded() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let images = format!("api={}/org/api", reg.host);
    for (name, kind) in kinds() {
        let (fake, _, _) = setup(Flavor::Forgejo).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        fake.inject(Some("POST"), "/comments", 1, kind);
        let action = release(&fake, &images, Flavor::Forgejo)
            .input("environment", "production")
            .input("api_image_tag", "v2")
            .input("approval", "issue")
            .input("approvers", "carol")
            .input("approval-timeout", "30")
            .input("poll-interval", "1");
        let running = tokio::spawn(run_within(action, Duration::from_secs(60)));
        let deadline = Instant::now() + Duration::from_secs(20);
        while fake.issues(OPS).is_empty() {
            assert!(Instant::now() < deadline, "no approval issue");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fake.comment(OPS, 1, "carol", "/approve");
        let (out, took) = running.await.unwrap();
        let file = fake.file(OPS, FILE).unwrap();
        if out.code == 0 {
            assert!(file.starts_with("API_IMAGE_TAG=v2\n"), "{name}: {file}");
            assert_eq!(fake.statuses(OPS).last().unwrap().1, "success");
        } else {
            assert_eq!(file, "API_IMAGE_TAG=v1\n", "{name}: {}", out.log());
            assert!(fake.statuses(OPS).is_empty(), "{name}");
        }
        assert!(took < Duration::from_secs(40), "{name}: {took:?}");
        eprintln!("approval comment {name}: exit {} in {took:.1?}", out.code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_faults_during_verify_are_retried_or_change_nothing() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let faults = [Fault::Status(500), Fault::Status(502), Fault::TooMany(1), Fault::CutMidBody];
    for (i, fault) in faults.into_iter().enumerate() {
        for nth in [vec![1], (1..=30).collect::<Vec<_>>()] {
            let persistent = nth.len() > 1;
            let proxy =
                FaultProxy::start(&reg.host, vec![Rule { method: "HEAD", path: "/manifests/", nth, fault }]);
            let (fake, _, _) = setup(Flavor::Github).await;
            fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
            let images = format!("api={}/org/api", proxy.host);
            let (out, took) = run_within(
                release(&fake, &images, Flavor::Github).input("api_image_tag", "v2"),
                Duration::from_secs(180),
            )
            .await;
            let case = format!("registry {fault:?} persistent={persistent}");
            assert_done_or_clean(&fake, Flavor::Github, &out, &case);
            if !persistent {
                assert_eq!(out.code, 0, "{case}: {}", out.log());
            } else {
                assert_eq!(out.code, 1, "{case}: {}", out.log());
                assert!(fake.deployments(OPS).is_empty(), "{case}");
            }
            let heads = proxy.log().iter().filter(|l| l.starts_with("HEAD ")).count();
            assert!(heads <= 12, "{case}: {heads} HEADs");
            assert!(took < Duration::from_secs(150), "{case}: {took:?}");
            eprintln!("{case}: exit {} in {took:.1?}, {heads} HEADs [{i}]", out.code);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_services_released_at_once_all_land() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    const N: usize = 10;
    let images: Vec<String> = (0..N).map(|i| format!("svc{i}={}/org/api", reg.host)).collect();
    let images = images.join("\n");
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "# versions\n");
        let start = Instant::now();
        let runs: Vec<_> = (0..N)
            .map(|i| {
                let action = release(&fake, &images, flavor).input(&format!("svc{i}_image_tag"), "v2");
                tokio::spawn(run_within(action, Duration::from_secs(150)))
            })
            .collect();
        let mut attempts = Vec::new();
        for (i, r) in runs.into_iter().enumerate() {
            let (out, _) = r.await.unwrap();
            assert_eq!(out.code, 0, "{flavor:?} svc{i}: {}", out.log());
            attempts.push(out.output("commit-sha").to_owned());
        }
        let took = start.elapsed();
        attempts.sort();
        attempts.dedup();
        assert_eq!(attempts.len(), N, "{flavor:?}: each release made its own commit");
        let file = fake.file(OPS, FILE).unwrap();
        for i in 0..N {
            assert!(file.contains(&format!("\nSVC{i}_IMAGE_TAG=v2\n")), "{flavor:?}: svc{i} lost: {file}");
        }
        assert!(file.starts_with("# versions\n"), "{file}");
        let history = fake.history(OPS, FILE);
        let releases = history.iter().filter(|m| m.starts_with("deploy: svc")).count();
        assert_eq!(releases, N, "{flavor:?}: {history:?}");
        match flavor {
            Flavor::Github => {
                let deployments = fake.deployments(OPS);
                assert_eq!(deployments.len(), N);
                assert!(deployments.iter().all(|d| d.3 == ["in_progress", "success"]), "{deployments:?}");
            }
            Flavor::Forgejo => {
                let statuses = fake.statuses(OPS);
                assert_eq!(statuses.iter().filter(|s| s.1 == "success").count(), N, "{statuses:?}");
            }
        }
        assert!(took < Duration::from_secs(120), "{flavor:?}: {took:?}");
        eprintln!("{flavor:?}: {N} concurrent releases in {took:.1?}");
    }
}

const SSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAsecretkeymaterial0123456789\n-----END OPENSSH PRIVATE KEY-----\n";
const API_KEY: &str = "dokploy_api_key_5up3rs3cr3t";
const PASSWORD: &str = "registry-pa55word-7f3e";

/// Every secret's value (and each line of a multi-line one) is absent from what a run showed,
/// apart from the `::add-mask::` lines.
fn assert_no_secret(out: &Outcome, token: &str, case: &str) {
    let mut shown = String::new();
    for text in [&out.stdout, &out.stderr, &out.summary, &out.output_file] {
        for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
            shown.push_str(line);
            shown.push('\n');
        }
    }
    let mut secrets = vec![token, API_KEY, PASSWORD];
    secrets.extend(SSH_KEY.lines().filter(|l| !l.starts_with("-----")));
    for secret in secrets {
        assert!(!shown.contains(secret), "{case}: a secret was shown:\n{shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_summaries_or_outputs() {
    let reg = tokio::task::spawn_blocking(|| {
        let reg =
            TestRegistry::start(crate::support::registry::Auth::Basic { user: "ci", password: PASSWORD });
        for (tag, created) in [("v1", "2026-01-01T00:00:00Z"), ("v2", "2026-01-02T00:00:00Z")] {
            let work = tempfile::tempdir().unwrap();
            std::fs::write(work.path().join("version"), tag).unwrap();
            let layout = work.path().join("layout");
            let add = format!("{}:/version", work.path().join("version").display());
            let labels = format!("org.opencontainers.image.created={created}");
            let out = format!("oci:{}", layout.display());
            let build = ActionRun::cli([
                "build",
                "--builder",
                "files",
                "--add",
                &add,
                "--labels",
                &labels,
                "--output",
                &out,
            ])
            .run();
            assert_eq!(build.code, 0, "{}", build.log());
            let dest = format!("{}/org/api:{tag}", reg.host);
            let push =
                ActionRun::cli(["push", &out, &dest, "--username", "ci", "--password", PASSWORD]).run();
            assert_eq!(push.code, 0, "{}", push.log());
        }
        reg
    })
    .await
    .unwrap();
    let images = format!("api={}/org/api", reg.host);
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let with_secrets = |a: ActionRun, token: &str| {
            a.input("token", token)
                .input("username", "ci")
                .input("password", PASSWORD)
                .input("ssh-key", SSH_KEY)
                .input("api-key", API_KEY)
        };
        let bad_token = "tok_wrong_but_secret_987654";
        let dead_api =
            format!("http://{dead_addr}/api/{}", if flavor == Flavor::Github { "v3" } else { "v1" });
        let cases: Vec<(&str, ActionRun, &str, i32)> = vec![
            ("release", release(&fake, &images, flavor).input("api_image_tag", "v2"), TOKEN, 0),
            ("rollback", release(&fake, &images, flavor).input("command", "rollback"), TOKEN, 0),
            (
                "promote",
                release(&fake, &images, flavor)
                    .input("command", "promote")
                    .input("environment", "qa")
                    .input("from-env-file", FILE)
                    .input("env-file", "qa/.env.versions"),
                TOKEN,
                0,
            ),
            ("release, bad token", release(&fake, &images, flavor).input("api_image_tag", "v2"), bad_token, 1),
            (
                "release, unreachable forge",
                release(&fake, &images, flavor)
                    .input("api_image_tag", "v2")
                    .env("GITHUB_API_URL", &dead_api)
                    .input("api-url", &dead_api),
                TOKEN,
                1,
            ),
            (
                "release, unreachable ssh host",
                release(&fake, &images, flavor)
                    .input("api_image_tag", "v1")
                    .input("allow-downgrade", "true")
                    .input("target", "compose-ssh")
                    .input("ssh-host", "127.0.0.1")
                    .input("ssh-port", &dead_addr.port().to_string())
                    .input("ssh-user", "deploy")
                    .input("ssh-known-hosts", "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE3b0b8X5x1l5xX9Y1Xo6n3Gm8b6Ow1Zq4d6V2J2nYqz")
                    .input("compose-dir", "/srv/app"),
                TOKEN,
                1,
            ),
            (
                "release, unreachable dokploy",
                release(&fake, &images, flavor)
                    .input("api_image_tag", "v2")
                    .input("allow-downgrade", "true")
                    .input("target", "dokploy")
                    .input("dokploy-url", &format!("http://{dead_addr}"))
                    .input("dokploy-compose-ids", "cmp1"),
                TOKEN,
                1,
            ),
        ];
        for (case, action, token, code) in cases {
            let (out, _) = run_within(with_secrets(action, token), Duration::from_secs(120)).await;
            let case = format!("{flavor:?} {case}");
            assert_eq!(out.code, code, "{case}: {}", out.log());
            assert!(out.stdout.contains("::add-mask::"), "{case}: nothing masked");
            assert_no_secret(&out, token, &case);
            let error = out.stdout.lines().find(|l| l.starts_with("::error")).unwrap_or_default().to_owned();
            eprintln!("{case}: exit {}: {error}", out.code);
        }
        // approve, on an issue opened in resume mode; a non-approver and an approver.
        let gate = |a: ActionRun| {
            a.input("environment", "production").input("approvers", "carol").input("approval-mode", "resume")
        };
        let (out, _) = run_within(
            with_secrets(gate(release(&fake, &images, flavor)).input("api_image_tag", "v2"), TOKEN),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(out.output("state"), "awaiting-approval", "{}", out.log());
        assert_no_secret(&out, TOKEN, "release awaiting approval");
        let issue = fake.issues(OPS).last().unwrap().clone();
        let number = fake.issues(OPS).len();
        for (login, token, code) in [("carol", bad_token, 1), ("mallory", TOKEN, 0), ("carol", TOKEN, 0)] {
            let ev = serde_json::json!({
                "action": "created",
                "issue": {"number": number, "state": "open", "body": issue.body, "html_url": "https://example.test/org/ops/issues/1"},
                "comment": {"id": 7, "body": "/approve", "user": {"login": login}},
            });
            let action =
                gate(release(&fake, &images, flavor).input("command", "approve")).event("issue_comment", &ev);
            let (out, _) = run_within(with_secrets(action, token), Duration::from_secs(60)).await;
            let case = format!("{flavor:?} approve by {login}");
            assert_eq!(out.code, code, "{case}: {}", out.log());
            assert_no_secret(&out, token, &case);
        }
    }
}
