//! Ten `release` processes of ten services at once into one `.env.versions`, on both forges.

use crate::forge_ops::{FILE, OPS, setup};
use crate::release::registry_with_versions;
use crate::release_faults::{release, run_within};
use crate::support::fake_forge::Flavor;
use crate::support::fake_forge::state::FaultKind;
use std::time::{Duration, Instant};

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
                assert!(
                    deployments.iter().all(|d| d.3.starts_with(&["in_progress".into(), "success".into()])),
                    "{deployments:?}"
                );
                // The newest deployment stays active whichever release finished last; every
                // other ends inactive (two releases finishing at the same moment may both
                // retire one, a second `inactive` status that changes nothing on GitHub).
                let newest = deployments.iter().map(|d| d.0).max().unwrap();
                for d in &deployments {
                    let want = if d.0 == newest { "success" } else { "inactive" };
                    assert_eq!(d.3.last().map(String::as_str), Some(want), "{}: {deployments:?}", d.0);
                }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_releases_of_one_service_at_once_one_lands_the_other_changes_nothing() {
    let reg = tokio::task::spawn_blocking(|| {
        let reg = registry_with_versions();
        crate::release::push_image(&reg.host, "org/api", "v3", "2026-01-03T00:00:00Z", "3333333ccccccc");
        reg
    })
    .await
    .unwrap();
    let images = format!("api={}/org/api", reg.host);
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        // Both read v1 before either writes.
        fake.inject(Some("GET"), "/contents/", 2, FaultKind::DelayAfterHandling(3000));
        let runs: Vec<_> = ["v2", "v3"]
            .iter()
            .map(|tag| {
                let action = release(&fake, &images, flavor).input("api_image_tag", tag);
                tokio::spawn(run_within(action, Duration::from_secs(90)))
            })
            .collect();
        let mut outcomes = Vec::new();
        for r in runs {
            outcomes.push(r.await.unwrap().0);
        }
        let codes: Vec<i32> = outcomes.iter().map(|o| o.code).collect();
        let logs: Vec<String> = outcomes.iter().map(|o| o.log()).collect();
        assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{flavor:?}: one lands: {logs:#?}");
        let (won, lost) = if codes[0] == 0 { (0, 1) } else { (1, 0) };
        let winner = ["v2", "v3"][won];
        assert!(logs[lost].contains("changed from v1 to"), "{flavor:?}: {}", logs[lost]);
        assert!(logs[lost].contains("nothing was written"), "{flavor:?}: {}", logs[lost]);
        let file = fake.file(OPS, FILE).unwrap();
        assert!(file.starts_with(&format!("API_IMAGE_TAG={winner}\n")), "{flavor:?}: {file}");
        assert_eq!(fake.history(OPS, FILE).len(), 2, "{flavor:?}: seed + the winner's commit");
        match flavor {
            Flavor::Github => {
                let mut states: Vec<Vec<String>> = fake.deployments(OPS).into_iter().map(|d| d.3).collect();
                states.sort();
                assert_eq!(states, [vec!["error".to_owned()], vec!["in_progress".into(), "success".into()]]);
            }
            Flavor::Forgejo => {
                // The loser made no commit, so it has nothing to put a status on.
                let statuses: Vec<String> = fake.statuses(OPS).into_iter().map(|s| s.1).collect();
                assert_eq!(statuses, ["pending", "success"], "{statuses:?}");
            }
        }
    }
}
