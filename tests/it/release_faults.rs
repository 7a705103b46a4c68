//! `release` under faults through the real binary against the real registry (behind the
//! fault proxy where it says so) and the fake forge (with injected faults). Every run either
//! is done (file, deployment or commit status, deploy) or fails cleanly with nothing
//! half-applied. The helpers here serve the other `release_*` modules too.

use crate::forge_ops::{FILE, OPS, TOKEN, setup};
use crate::release::registry_with_versions;
use crate::support::fake_forge::state::FaultKind;
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::proxy::{Fault, FaultProxy, Rule};
use crate::support::{ActionRun, Outcome};
use std::time::{Duration, Instant};

pub fn release(fake: &FakeForge, images: &str, flavor: Flavor) -> ActionRun {
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
pub async fn run_within(action: ActionRun, limit: Duration) -> (Outcome, Duration) {
    let start = Instant::now();
    let out = tokio::time::timeout(limit, tokio::task::spawn_blocking(move || action.run()))
        .await
        .unwrap_or_else(|_| panic!("the run took more than {limit:?}"))
        .unwrap();
    (out, start.elapsed())
}

/// After a run: done (v2 recorded, deployment or commit status `success`), or failed with
/// v1 still recorded and no deployment or status left open.
pub fn assert_done_or_clean(fake: &FakeForge, flavor: Flavor, out: &Outcome, case: &str) {
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
async fn github_faults_leave_each_release_done_or_cleanly_failed() {
    forge_faults(&[
        (Flavor::Github, Some("PUT"), "/contents/", "contents PUT"),
        (Flavor::Github, Some("POST"), "/deployments", "deployment create"),
        (Flavor::Github, Some("POST"), "/statuses", "deployment status"),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgejo_faults_leave_each_release_done_or_cleanly_failed() {
    forge_faults(&[
        (Flavor::Forgejo, Some("PUT"), "/contents/", "contents PUT"),
        (Flavor::Forgejo, Some("POST"), "/statuses/", "commit status"),
    ])
    .await
}

/// Each fault kind, once and persistently, on each route: done or cleanly failed, bounded.
async fn forge_faults(routes: &[(Flavor, Option<&str>, &str, &str)]) {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let images = format!("api={}/org/api", reg.host);
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
                // One transient fault is absorbed everywhere; a deployment create that may
                // have been made is looked up before it is made again.
                if times == 1 {
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
async fn a_lost_answer_to_the_deployment_create_is_found_and_used_not_made_twice() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let images = format!("api={}/org/api", reg.host);
    for (name, kind) in [("lost answer", FaultKind::DropAfterHandling), ("502", FaultKind::Status(502))] {
        let (fake, _, _) = setup(Flavor::Github).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        fake.inject(Some("POST"), "/deployments", 1, kind);
        let (out, _) = run_within(
            release(&fake, &images, Flavor::Github).input("api_image_tag", "v2"),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(out.code, 0, "{name}: {}", out.log());
        assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));
        let deployments = fake.deployments(OPS);
        assert_eq!(deployments.len(), 1, "{name}: {deployments:?}");
        assert_eq!(deployments[0].3, ["in_progress", "success"], "{name}: {}", out.log());
        let said = if name == "502" { "retrying" } else { "was created though its answer was lost" };
        assert!(out.log().contains(said), "{name}: {}", out.log());
    }
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
            let mut rules = vec![Rule { method: "HEAD", path: "/manifests/", nth, fault }];
            if !persistent {
                // The downgrade guard's reads (manifest and config of the running and the
                // requested tag) meet the fault once too.
                rules.push(Rule { method: "GET", path: "/manifests/", nth: vec![1], fault });
                rules.push(Rule { method: "GET", path: "/blobs/", nth: vec![2], fault });
            }
            let proxy = FaultProxy::start(&reg.host, rules);
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
                let error = out.stdout.lines().find(|l| l.starts_with("::error")).unwrap_or_default();
                assert!(error.contains(&proxy.host), "{case}: the error names no registry: {error}");
            }
            let heads = proxy.log().iter().filter(|l| l.starts_with("HEAD ")).count();
            let gets = proxy.log().iter().filter(|l| l.starts_with("GET ")).count();
            assert!(persistent || gets >= 4, "{case}: the downgrade guard read nothing: {:?}", proxy.log());
            assert!(heads <= 12, "{case}: {heads} HEADs");
            assert!(took < Duration::from_secs(150), "{case}: {took:?}");
            eprintln!("{case}: exit {} in {took:.1?}, {heads} HEADs, {gets} GETs [{i}]", out.code);
        }
    }
}
