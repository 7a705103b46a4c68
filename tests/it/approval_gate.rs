//! The approval issue cannot be forged: `approve` acts only on an issue the action's own
//! identity opened (read fresh from the forge; GitHub's `GITHUB_TOKEN` is `github-actions[bot]`,
//! found through GraphQL `viewer` since `GET /user` refuses installation tokens), whose
//! request is signed with `approval-key`, unedited, for this repository and with digests.
//! Also: N distinct approvers, and team approvers asked of the forge.

use crate::forge_ops::{FILE, OPS, TOKEN, setup};
use crate::release::registry_with_versions;
use crate::rollback::{APPROVAL_KEY, action, comment_event_on, run};
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::registry::TestRegistry;
use crate::support::{ActionRun, Outcome};
use deploy_action::deploy::approval::{ApprovalKey, PendingRelease};
use deploy_action::secret::Secret;

/// GitHub's job token: an installation token acting as `github-actions[bot]`.
const BOT: &str = "ghs_jobTokenOfTheApproveWorkflow0001";

fn token_for(flavor: Flavor) -> &'static str {
    if flavor == Flavor::Github { BOT } else { TOKEN }
}

/// A run gated by the approval issue in resume mode on `flavor`.
fn gated(fake: &FakeForge, reg: &TestRegistry, flavor: Flavor, command: &str, approvers: &str) -> ActionRun {
    let a = action(fake, reg, command)
        .input("token", token_for(flavor))
        .input("approvers", approvers)
        .input("approval", "issue")
        .input("approval-mode", "resume")
        .input("approval-key", APPROVAL_KEY);
    if flavor == Flavor::Forgejo { a.env("FORGEJO_ACTIONS", "true") } else { a }
}

async fn forge_with_release(
    flavor: Flavor,
    approvers: &str,
    extra: &[(&str, &str)],
) -> (FakeForge, TestRegistry) {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(flavor).await;
    if flavor == Flavor::Github {
        fake.add_token_as(
            BOT,
            "github-actions[bot]",
            &["contents:write", "actions:write", "deployments:write", "issues:write"],
            &[],
        );
    }
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let mut release = gated(&fake, &reg, flavor, "release", approvers)
        .input("environment", "production")
        .input("api_image_tag", "v2");
    for (k, v) in extra {
        release = release.input(k, v);
    }
    let out = run(release).await;
    assert_eq!(out.output("state"), "awaiting-approval", "{}", out.log());
    (fake, reg)
}

async fn approve_on(
    fake: &FakeForge,
    reg: &TestRegistry,
    flavor: Flavor,
    number: usize,
    who: &str,
    approvers: &str,
) -> Outcome {
    let ev = comment_event_on(fake, number, who, "/approve");
    run(gated(fake, reg, flavor, "approve", approvers).event("issue_comment", &ev)).await
}

fn last_comment(fake: &FakeForge, number: usize) -> String {
    fake.issues(OPS)[number - 1].comments.last().map(|c| c.1.clone()).unwrap_or_default()
}

/// The identity the forge gives the test token: what a genuine issue's author is.
fn identity(fake: &FakeForge, flavor: Flavor) -> String {
    fake.issues(OPS)[0]
        .author
        .clone()
        .tap(|a| assert!(flavor != Flavor::Github || a == "github-actions[bot]", "{a}"))
}

trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&Self)) -> Self {
        f(&self);
        self
    }
}
impl<T> Tap for T {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_approval_issue_deploys_nothing_and_says_why() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, reg) = forge_with_release(flavor, "carol", &[]).await;
        let genuine = fake.issues(OPS)[0].body.clone();
        let bot = identity(&fake, flavor);
        let plan = PendingRelease::from_body(&genuine).expect("the genuine issue carries a plan");
        let key = |k: &str| ApprovalKey::new(Secret::new(k)).unwrap();
        let mut no_digest = plan.clone();
        no_digest.changes[0].digest = None;
        let mut rollback = plan.clone();
        rollback.command = "rollback".into();
        rollback.actor = "carol".into();
        let title = fake.issues(OPS)[0].title.clone();
        let forgeries = [
            // Anyone can open an issue with a copy of a genuine body.
            (fake.open_issue_as(OPS, "mallory", &title, &genuine), "opened by @mallory"),
            // The action's identity, but signed with another key (or a plan rewritten under it).
            (
                fake.open_issue_as(OPS, &bot, &title, &rollback.body(Some(&key("someone-elses-key-0000")))),
                "signature does not match",
            ),
            // Signed with the right key, but no digest to hold the approval to.
            (
                fake.open_issue_as(OPS, &bot, &title, &no_digest.body(Some(&key(APPROVAL_KEY)))),
                "has no digest",
            ),
            // No signature at all.
            (fake.open_issue_as(OPS, &bot, &title, &rollback.body(None)), "not signed"),
        ];
        for (number, why) in forgeries {
            let out = approve_on(&fake, &reg, flavor, number, "carol", "carol").await;
            assert_eq!(out.code, 0, "{flavor:?} #{number}: {}", out.log());
            assert_eq!(out.output("state"), "refused", "{flavor:?} #{number}: {}", out.log());
            assert!(
                last_comment(&fake, number).contains(why),
                "{flavor:?} #{number}: {}",
                last_comment(&fake, number)
            );
            assert!(out.log().contains(why), "{}", out.log());
            assert_eq!(
                fake.file(OPS, FILE).unwrap(),
                "API_IMAGE_TAG=v1\n",
                "{flavor:?}: forgery #{number} deployed"
            );
            assert_eq!(fake.issues(OPS)[number - 1].state, "open");
        }

        // The genuine issue edited by someone with write access: refused until it is restored.
        fake.edit_issue_body(OPS, 1, &genuine.replacen("| api |", "| api (hotfix) |", 1));
        let out = approve_on(&fake, &reg, flavor, 1, "carol", "carol").await;
        assert_eq!(out.output("state"), "refused", "{}", out.log());
        assert!(
            last_comment(&fake, 1).contains("edited after the action opened it"),
            "{}",
            last_comment(&fake, 1)
        );
        assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");

        fake.edit_issue_body(OPS, 1, &genuine);
        let out = approve_on(&fake, &reg, flavor, 1, "carol", "carol").await;
        assert_eq!(out.output("state"), "success", "{flavor:?}: {}", out.log());
        assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));
        if flavor == Flavor::Github {
            let asked: Vec<String> =
                fake.requests().iter().map(|r| format!("{} {}", r.method, r.target)).collect();
            assert!(
                asked.iter().any(|r| r == "POST /api/graphql"),
                "identity not asked through GraphQL: {asked:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approve_run_with_another_key_refuses_and_one_without_a_key_exits_2() {
    let (fake, reg) = forge_with_release(Flavor::Forgejo, "carol", &[]).await;
    let ev = comment_event_on(&fake, 1, "carol", "/approve");
    let out = run(gated(&fake, &reg, Flavor::Forgejo, "approve", "carol")
        .input("approval-key", "a-different-approval-key-99")
        .event("issue_comment", &ev))
    .await;
    assert_eq!(out.output("state"), "refused", "{}", out.log());
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");

    let before = fake.requests().len();
    let out = run(gated(&fake, &reg, Flavor::Forgejo, "approve", "carol")
        .input("approval-key", "")
        .event("issue_comment", &ev))
    .await;
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.log().contains("approval-key"), "{}", out.log());
    assert_eq!(fake.requests().len(), before, "asked the forge before refusing the inputs");
    assert!(!out.log().contains(crate::rollback::APPROVAL_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_approvals_need_distinct_approvers() {
    for flavor in [Flavor::Forgejo, Flavor::Github] {
        let (fake, reg) = forge_with_release(flavor, "carol, dave", &[("required-approvals", "2")]).await;
        assert!(fake.issues(OPS)[0].body.contains("2 distinct approvals are needed"));
        // The approve workflow asks for one, the request for two: two it is.
        for _ in 0..2 {
            let out = approve_on(&fake, &reg, flavor, 1, "carol", "carol, dave").await;
            assert_eq!(out.output("state"), "pending", "{}", out.log());
            assert!(
                last_comment(&fake, 1).starts_with("Approval 1 of 2 (@carol)"),
                "{}",
                last_comment(&fake, 1)
            );
            assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");
        }
        // The actor may not count towards the two.
        let out = approve_on(&fake, &reg, flavor, 1, "alice", "carol, dave, alice").await;
        assert_ne!(out.output("state"), "success", "{}", out.log());
        let out = approve_on(&fake, &reg, flavor, 1, "dave", "carol, dave").await;
        assert_eq!(out.output("state"), "success", "{flavor:?}: {}", out.log());
        assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));
        let comments = &fake.issues(OPS)[0].comments;
        assert!(comments.iter().any(|c| c.1.starts_with("Approved by @carol and @dave")), "{comments:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_approvers_are_asked_of_the_forge() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, reg) = forge_with_release(flavor, "org/seniors", &[]).await;
        fake.add_team_member("org", "seniors", "erin", "active");
        fake.add_team_member("org", "seniors", "frank", "pending");
        // The job token cannot read teams: the error names what is missing, nothing deploys.
        let out = approve_on(&fake, &reg, flavor, 1, "erin", "org/seniors").await;
        assert_eq!(out.code, 1, "{}", out.log());
        let missing =
            if flavor == Flavor::Github { "organization Members: read" } else { "read:organization" };
        assert!(out.log().contains(missing), "{}", out.log());
        assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");

        // A token that may read teams: a GitHub App's (`<slug>[bot]`, organization Members:
        // read) or, on Forgejo, a team member's PAT with read:organization.
        let reader = "tok_team_reader_0123456789";
        let (login, scopes): (&str, &[&str]) = match flavor {
            Flavor::Github => (
                "deploy-bot[bot]",
                &["contents:write", "actions:write", "deployments:write", "issues:write", "members:read"],
            ),
            Flavor::Forgejo => ("ops-bot", &["write:repository", "write:issue", "read:organization"]),
        };
        fake.add_token_as(reader, login, scopes, &[]);
        fake.add_team_member("org", "seniors", login, "active");
        let with_reader = |a: ActionRun| a.input("token", reader);
        let out = run(with_reader(gated(&fake, &reg, flavor, "release", "org/seniors"))
            .input("environment", "production")
            .input("api_image_tag", "v2"))
        .await;
        assert_eq!(out.output("approval-issue"), "2", "{}", out.log());
        let approve = |who: &str| {
            let ev = comment_event_on(&fake, 2, who, "/approve");
            with_reader(gated(&fake, &reg, flavor, "approve", "org/seniors")).event("issue_comment", &ev)
        };
        let out = run(approve("frank")).await;
        assert_eq!(out.output("state"), "ignored", "{flavor:?}: {}", out.log());
        assert!(
            last_comment(&fake, 2).contains("frank is not an approver (org/seniors)"),
            "{}",
            last_comment(&fake, 2)
        );
        let out = run(approve("erin")).await;
        assert_eq!(out.output("state"), "success", "{flavor:?}: {}", out.log());
        assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));
    }
}
