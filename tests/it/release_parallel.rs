//! Ten `release` processes of ten services at once into one `.env.versions`, on both forges.

use crate::forge_ops::{FILE, OPS, setup};
use crate::release::registry_with_versions;
use crate::release_faults::{release, run_within};
use crate::support::fake_forge::Flavor;
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
