//! `release` through the real binary: the real registry holds the images, the fake forge the
//! orchestration repository; verify, downgrade guard, production gate, record, deployment.

use crate::forge_ops::{FILE, OPS, TOKEN, setup};
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::registry::{Auth, TestRegistry};
use crate::support::{ActionRun, Outcome};

/// Builds a one-file image with provenance labels and pushes it as `host/org/api:tag`.
pub fn push_image(host: &str, repo: &str, tag: &str, created: &str, revision: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("version"), tag).unwrap();
    let layout = work.path().join("layout");
    let build = ActionRun::cli([
        "build",
        "--builder",
        "files",
        "--add",
        &format!("{}:/version", work.path().join("version").display()),
        "--labels",
        &format!("org.opencontainers.image.created={created}\norg.opencontainers.image.revision={revision}"),
        "--output",
        &format!("oci:{}", layout.display()),
    ])
    .env("SOURCE_DATE_EPOCH", "1700000000")
    .run();
    assert_eq!(build.code, 0, "{}", build.log());
    let push =
        ActionRun::cli(["push", &format!("oci:{}", layout.display()), &format!("{host}/{repo}:{tag}")]).run();
    assert_eq!(push.code, 0, "{}", push.log());
    push.stdout.lines().last().unwrap().to_owned()
}

/// A registry with `org/api` at v1 (older build) and v2 (newer build).
pub fn registry_with_versions() -> TestRegistry {
    let reg = TestRegistry::start(Auth::None);
    push_image(&reg.host, "org/api", "v1", "2026-01-01T00:00:00Z", "1111111aaaaaaa");
    push_image(&reg.host, "org/api", "v2", "2026-01-02T00:00:00Z", "2222222bbbbbbb");
    reg
}

fn release(fake: &FakeForge, reg: &TestRegistry, flavor: Flavor, environment: &str) -> ActionRun {
    let mut a = ActionRun::action()
        .env("GITHUB_API_URL", &fake.api_url())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .input("command", "release")
        .input("target", "none")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("environment", environment)
        .input("images", &format!("api={}/org/api", reg.host));
    if flavor == Flavor::Forgejo {
        a = a.env("FORGEJO_ACTIONS", "true");
    }
    a
}

async fn run(action: ActionRun) -> Outcome {
    tokio::task::spawn_blocking(move || action.run()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_verifies_records_and_reports_the_deployment() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "# versions\nAPI_IMAGE_TAG=v1\n");
        let out = run(release(&fake, &reg, flavor, "staging").input("api_image_tag", "v2")).await;
        assert_eq!(out.code, 0, "{flavor:?}: {}", out.log());
        let file = fake.file(OPS, FILE).unwrap();
        assert!(file.starts_with("# versions\nAPI_IMAGE_TAG=v2\nLAST_DEPLOY_DATE="), "{file}");
        assert_eq!(out.output("previous"), r#"{"api":"v1"}"#);
        assert_eq!(out.output("state"), "success");
        assert!(out.output("images").starts_with(&format!("{}/org/api@sha256:", reg.host)));
        assert!(out.summary.contains("| api | `v1` |"), "{}", out.summary);
        assert_eq!(fake.history(OPS, FILE)[0].lines().next().unwrap(), "deploy: api v1 → v2");
        match flavor {
            Flavor::Github => {
                let deployments = fake.deployments(OPS);
                assert_eq!(deployments.len(), 1, "{deployments:?}");
                assert_eq!(deployments[0].2, "staging");
                assert_eq!(deployments[0].3, ["in_progress", "success"]);
                assert_eq!(out.output("deployment-id"), deployments[0].0.to_string());
            }
            Flavor::Forgejo => {
                let statuses = fake.statuses(OPS);
                let states: Vec<&str> = statuses.iter().map(|s| s.1.as_str()).collect();
                assert_eq!(states, ["pending", "success"], "{statuses:?}");
                assert_eq!(statuses[0].2, "deploy/staging");
                assert_eq!(statuses[0].0, out.output("commit-sha"));
            }
        }
        assert_eq!(out.log().matches(TOKEN).count(), 1, "the token leaked: {}", out.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_tag_or_a_downgrade_changes_nothing() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v2\n");

    let out = run(release(&fake, &reg, Flavor::Github, "staging").input("api_image_tag", "v3")).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains(&format!("api: {}/org/api:v3 does not exist", reg.host)), "{}", out.stdout);

    let out = run(release(&fake, &reg, Flavor::Github, "staging").input("api_image_tag", "v1")).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("api: v2 → v1 is a downgrade"), "{}", out.stdout);
    assert!(out.stdout.contains("from 1111111, before the running one"), "{}", out.stdout);
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v2\n");
    assert!(fake.deployments(OPS).is_empty());

    let out = run(release(&fake, &reg, Flavor::Github, "staging")
        .input("api_image_tag", "v1")
        .input("allow-downgrade", "true"))
    .await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v1\n"));

    let out =
        run(release(&fake, &reg, Flavor::Github, "staging").input("api_image_tag", "v2").input("images", ""))
            .await;
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.stdout.contains("images"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_is_never_deployed_unprotected_by_accident() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let out = run(release(&fake, &reg, flavor, "production").input("api_image_tag", "v2")).await;
        assert_eq!(out.code, 1, "{}", out.log());
        assert!(out.stdout.contains("production is protected but"), "{flavor:?}: {}", out.stdout);
        assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");

        let out = run(release(&fake, &reg, flavor, "production")
            .input("api_image_tag", "v2")
            .input("allowed-tags", "production=v1.*"))
        .await;
        assert_eq!(out.code, 1, "{}", out.log());
        assert!(
            out.stdout.contains("only tags matching v1.* may be deployed to production"),
            "{}",
            out.stdout
        );

        let out = run(release(&fake, &reg, flavor, "production")
            .input("api_image_tag", "v2")
            .input("allow-unprotected", "true"))
        .await;
        assert_eq!(out.code, 0, "{}", out.log());
        assert!(out.summary.contains("allowed by allow-unprotected"), "{}", out.summary);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_environment_with_required_reviewers_protects_production() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    fake.seed_environment(OPS, "production", &[], 0);
    let out = run(release(&fake, &reg, Flavor::Github, "production").input("api_image_tag", "v2")).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("neither required reviewers nor a wait timer"), "{}", out.stdout);

    fake.seed_environment(OPS, "production", &["carol"], 0);
    let out = run(release(&fake, &reg, Flavor::Github, "production").input("api_image_tag", "v2")).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.summary.contains("environment protection: required reviewers carol"), "{}", out.summary);
    assert!(fake.issues(OPS).is_empty(), "no approval issue where GitHub protects the environment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approval_issue_gates_production_and_ignores_non_approvers() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    for (flavor, answer) in [(Flavor::Forgejo, "/approve"), (Flavor::Github, "/deny tests are red")] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let action = release(&fake, &reg, flavor, "production")
            .input("api_image_tag", "v2")
            .input("approval", "issue")
            .input("approvers", "carol, alice")
            .input("approval-timeout", "60")
            .input("poll-interval", "1");
        let running = tokio::task::spawn_blocking(move || action.run());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while fake.issues(OPS).is_empty() {
            assert!(std::time::Instant::now() < deadline, "no approval issue was opened");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let issue = &fake.issues(OPS)[0];
        assert!(issue.title.contains("production: api v2"), "{}", issue.title);
        assert!(issue.body.contains("| api | `v1` |"), "{}", issue.body);
        let polls = || {
            fake.requests()
                .iter()
                .filter(|r| r.method == "GET" && r.target.contains("/issues/1/comments"))
                .count()
        };
        let before = polls();
        fake.comment(OPS, 1, "mallory", "/approve");
        fake.comment(OPS, 1, "alice", "/approve");
        // The event, not a pause: the release has read both comments (two polls after them).
        while polls() < before + 2 {
            assert!(std::time::Instant::now() < deadline, "the release stopped polling the issue");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n", "deployed without an approver");
        fake.comment(OPS, 1, "carol", answer);
        let out = running.await.unwrap();
        assert!(
            out.log().contains("ignored a decision by mallory: mallory is not an approver"),
            "{}",
            out.log()
        );
        assert!(out.log().contains("alice triggered this release"), "{}", out.log());
        let comments = &fake.issues(OPS)[0].comments;
        if answer == "/approve" {
            assert_eq!(out.code, 0, "{}", out.log());
            assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));
            assert!(comments.last().unwrap().1.starts_with("Approved by @carol"), "{comments:?}");
            assert_eq!(fake.issues(OPS)[0].state, "closed");
        } else {
            assert_eq!(out.code, 1, "{}", out.log());
            assert!(out.stdout.contains("denied by carol (tests are red)"), "{}", out.stdout);
            assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");
            assert!(comments.last().unwrap().1.starts_with("Denied by @carol"), "{comments:?}");
            assert_eq!(fake.issues(OPS)[0].state, "closed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_mode_ends_the_step_with_the_issue_open() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Forgejo).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let resume = || {
        release(&fake, &reg, Flavor::Forgejo, "production")
            .input("api_image_tag", "v2")
            .input("approvers", "carol")
            .input("approval", "issue")
            .input("approval-mode", "resume")
    };
    // Without a key `approve` could not tell this issue from a forged one: refused before any request.
    let before = fake.requests().len();
    let out = run(resume()).await;
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(
        out.log().contains("approval-key") && out.log().contains("approval-mode: resume"),
        "{}",
        out.log()
    );
    assert_eq!(fake.requests().len(), before, "a request was sent before the inputs were checked");
    let out = run(resume().input("approval-key", crate::rollback::APPROVAL_KEY)).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("state"), "awaiting-approval");
    assert_eq!(out.output("approval-issue"), "1");
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");
    assert_eq!(fake.issues(OPS).len(), 1);
}
