//! `rollback`, `promote` and `approve` through the real binary against the real registry and
//! the fake forge.

use crate::forge_ops::{FILE, OPS, TOKEN, setup};
use crate::release::registry_with_versions;
use crate::support::fake_forge::state::FaultKind;
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::registry::TestRegistry;
use crate::support::{ActionRun, Outcome};

pub fn action(fake: &FakeForge, reg: &TestRegistry, command: &str) -> ActionRun {
    ActionRun::action()
        .env("GITHUB_API_URL", &fake.api_url())
        .input("command", command)
        .input("target", "none")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("images", &format!("{}/org/{{service}}", reg.host))
}

pub async fn run(action: ActionRun) -> Outcome {
    tokio::task::spawn_blocking(move || action.run()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_versions_from_history() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let fj = |a: ActionRun| if flavor == Flavor::Forgejo { a.env("FORGEJO_ACTIONS", "true") } else { a };
        let out = run(fj(action(&fake, &reg, "release"))
            .input("environment", "staging")
            .input("api_image_tag", "v2"))
        .await;
        assert_eq!(out.code, 0, "{}", out.log());
        let out = run(fj(action(&fake, &reg, "rollback")).input("environment", "staging")).await;
        assert_eq!(out.code, 0, "{flavor:?}: {}", out.log());
        assert!(out.log().contains("previous versions of .env.versions: api v1"), "{}", out.log());
        assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v1\n"));
        assert_eq!(fake.history(OPS, FILE)[0].lines().next().unwrap(), "rollback: api v2 → v1");
        assert_eq!(out.output("previous"), r#"{"api":"v2"}"#);
        if flavor == Flavor::Github {
            assert_eq!(fake.deployments(OPS).len(), 2);
        }

        // A named version, verified first: a missing one changes nothing.
        let out =
            run(fj(action(&fake, &reg, "rollback")).input("environment", "staging").input("to", "api=v0"))
                .await;
        assert_eq!(out.code, 1, "{}", out.log());
        assert!(out.stdout.contains("org/api:v0 does not exist"), "{}", out.stdout);
        assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v1\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_without_history_says_how_to_name_versions() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let out = run(action(&fake, &reg, "rollback").input("environment", "staging")).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("has no earlier versions to roll back to"), "{}", out.stdout);
    assert!(out.stdout.contains("to: service=tag"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_retags_without_rebuilding_and_releases_to_production() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, "deploy/staging/.env.versions", "API_IMAGE_TAG=v2\n");
    let out = run(action(&fake, &reg, "promote")
        .input("env-file", "deploy/{environment}/.env.versions")
        .input("promote-tag", "v2.0.0")
        .input("allow-unprotected", "true"))
    .await;
    assert_eq!(out.code, 0, "{}", out.log());
    let prod = fake.file(OPS, "deploy/production/.env.versions").unwrap();
    assert!(prod.starts_with("API_IMAGE_TAG=v2.0.0\n"), "{prod}");
    let host = reg.host.clone();
    let (v2, promoted) = tokio::task::spawn_blocking(move || {
        use crate::support::registry::pull_and_verify;
        (pull_and_verify(&host, "org/api", "v2", None), pull_and_verify(&host, "org/api", "v2.0.0", None))
    })
    .await
    .unwrap();
    assert_eq!(v2, promoted, "promotion changed the digest");
    assert_eq!(
        fake.history(OPS, "deploy/production/.env.versions")[0].lines().next().unwrap(),
        "promote: api (new) → v2.0.0"
    );

    let out = run(action(&fake, &reg, "promote")).await;
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.stdout.contains("from-env-file"), "{}", out.stdout);
}

/// Comments on approval issue #1 as `login` and returns the `issue_comment` event of it.
pub fn comment_event(fake: &FakeForge, login: &str, body: &str) -> serde_json::Value {
    comment_event_on(fake, 1, login, body)
}

/// Comments on issue `number` as `login` and returns the `issue_comment` event of it.
pub fn comment_event_on(fake: &FakeForge, number: usize, login: &str, body: &str) -> serde_json::Value {
    fake.comment(OPS, number, login, body);
    let issue = &fake.issues(OPS)[number - 1];
    serde_json::json!({
        "action": "created",
        "issue": {"number": number, "state": "open", "body": issue.body,
                  "html_url": format!("https://example.test/org/ops/issues/{number}")},
        "comment": {"id": issue.comments.len(), "body": body, "user": {"login": login}},
    })
}

/// A Forgejo run gated by the approval issue in resume mode, `approvers` deciding.
pub fn gated(a: ActionRun, approvers: &str) -> ActionRun {
    a.env("FORGEJO_ACTIONS", "true")
        .input("approvers", approvers)
        .input("approval-mode", "resume")
        .input("approval-key", APPROVAL_KEY)
}

/// The approval key of the tests' release and approve runs.
pub const APPROVAL_KEY: &str = "test-approval-key-0123456789";

/// Releases api v2 to production: the run ends with the approval issue open.
pub async fn awaiting_approval(fake: &FakeForge, reg: &TestRegistry, approvers: &str) {
    let out = run(gated(action(fake, reg, "release"), approvers)
        .input("environment", "production")
        .input("api_image_tag", "v2"))
    .await;
    assert_eq!(out.output("state"), "awaiting-approval", "{}", out.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvals_at_once_deploy_once() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Forgejo).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let gate = |a: ActionRun| gated(a, "carol,dave");
    awaiting_approval(&fake, &reg, "carol,dave").await;
    // Both runs find the issue open before either closes it.
    fake.inject(Some("GET"), "/issues/1", 2, FaultKind::DelayAfterHandling(3000));
    let approve = |who: &str| {
        let ev = comment_event(&fake, who, "/approve");
        gate(action(&fake, &reg, "approve")).event("issue_comment", &ev)
    };
    let (first, second) = (approve("carol"), approve("dave"));
    let reads_of_the_issue =
        || fake.requests().iter().filter(|r| r.method == "GET" && r.target.ends_with("/issues/1")).count();
    let before = reads_of_the_issue();
    let (a, b) = tokio::join!(tokio::task::spawn_blocking(move || first.run()), async {
        // The second starts once the first is reading the issue (its answer is delayed 3 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while reads_of_the_issue() == before {
            assert!(std::time::Instant::now() < deadline, "the first approve never read the issue");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::task::spawn_blocking(move || second.run()).await
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    let states = [a.output("state").to_owned(), b.output("state").to_owned()];
    assert!(states.contains(&"success".to_owned()), "{states:?}\n{}\n{}", a.log(), b.log());
    assert!(states.contains(&"ignored".to_owned()), "{states:?}\n{}\n{}", a.log(), b.log());
    let skipped = if states[0] == "ignored" { &a } else { &b };
    assert!(skipped.log().contains("another run decided this approval issue first"), "{}", skipped.log());
    assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));
    assert_eq!(fake.history(OPS, FILE).len(), 2, "seed + one release commit");
    let comments = &fake.issues(OPS)[0].comments;
    let deployed = comments.iter().filter(|c| c.1.starts_with("Deployed to production")).count();
    assert_eq!(deployed, 1, "{comments:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_continues_a_release_in_resume_mode() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Forgejo).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let gate = |a: ActionRun| gated(a, "carol");
    awaiting_approval(&fake, &reg, "carol").await;

    let ev = comment_event(&fake, "mallory", "/approve");
    let out = run(gate(action(&fake, &reg, "approve")).event("issue_comment", &ev)).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("state"), "ignored");
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");
    assert!(fake.issues(OPS)[0].comments.last().unwrap().1.contains("mallory is not an approver"));

    let ev = comment_event(&fake, "carol", "/approve");
    let out = run(gate(action(&fake, &reg, "approve")).event("issue_comment", &ev)).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("state"), "success");
    assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));
    assert!(out.summary.contains("approved by carol"), "{}", out.summary);
    let comments = &fake.issues(OPS)[0].comments;
    assert!(comments.iter().any(|c| c.1.starts_with("Approved by @carol")), "{comments:?}");
    assert!(comments.last().unwrap().1.starts_with("Deployed to production"), "{comments:?}");
}
