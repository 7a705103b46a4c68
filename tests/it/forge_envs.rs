//! Issues read back and closed, GitHub environments (protection rules, branch/tag policies,
//! reviewers) and deployment listings against the fake; Forgejo's `Unsupported` answers.

use crate::forge_ops::{OPS, TOKEN, client, setup};
use crate::support::fake_forge::state::FaultKind;
use crate::support::fake_forge::{FakeForge, Flavor};
use deploy_action::forge::*;

fn both() -> [Flavor; 2] {
    [Flavor::Github, Flavor::Forgejo]
}

fn no_token_in(errors: &[ForgeError]) {
    for e in errors {
        let text = format!("{e} {e:?}");
        assert!(!text.contains("tok_"), "token leaked: {text}");
    }
}

fn new_issue() -> NewIssue {
    NewIssue { title: "Approve api 1.2.4".into(), body: "Comment /approve".into(), labels: vec![] }
}

#[tokio::test]
async fn issues_are_read_back_and_closed_on_both() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        let opened = forge.create_issue(&repo, &new_issue()).await.unwrap();
        let got = forge.get_issue(&repo, opened.number).await.unwrap();
        assert_eq!(got.number, opened.number);
        assert_eq!((got.title.as_str(), got.body.as_str()), ("Approve api 1.2.4", "Comment /approve"));
        assert_eq!(got.state, IssueState::Open, "{flavor:?}");
        assert_eq!(got.author, "user-tok_");
        assert_eq!(got.html_url, opened.html_url);

        forge.close_issue(&repo, opened.number).await.unwrap();
        assert_eq!(forge.get_issue(&repo, opened.number).await.unwrap().state, IssueState::Closed);
        // Closing again is no error.
        forge.close_issue(&repo, opened.number).await.unwrap();
        let patch = fake.requests().into_iter().find(|r| r.method == "PATCH").expect("a PATCH");
        assert!(patch.target.ends_with("/repos/org/ops/issues/1"), "{}", patch.target);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&patch.body).unwrap(),
            serde_json::json!({"state": "closed"})
        );
        assert_eq!(fake.issues(OPS)[0].state, "closed");

        let e = forge.get_issue(&repo, 42).await.unwrap_err();
        assert!(matches!(e, ForgeError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("check the issue number"), "{e}");

        // Read-only issue scope: reading works, closing is refused with the scope to grant.
        let scopes: &[&str] = if flavor == Flavor::Github { &["issues:read"] } else { &["read:issue"] };
        fake.add_token("tok_issue_reader_abcd", scopes, &[]);
        let ro = client(&fake, Some("tok_issue_reader_abcd"));
        assert_eq!(ro.get_issue(&repo, 1).await.unwrap().number, 1);
        let e = ro.close_issue(&repo, 1).await.unwrap_err();
        let want = if flavor == Flavor::Github { "Issues: write" } else { "write:issue" };
        assert!(e.to_string().contains("(403)") && e.to_string().contains(want), "{flavor:?}: {e}");
        fake.add_token("tok_no_issues_abcdefgh", &["contents:read", "read:repository"], &[]);
        let none = client(&fake, Some("tok_no_issues_abcdefgh"));
        let e2 = none.get_issue(&repo, 1).await.unwrap_err();
        let want = if flavor == Flavor::Github { "Issues: read" } else { "read:issue" };
        assert!(e2.to_string().contains("(403)") && e2.to_string().contains(want), "{flavor:?}: {e2}");
        no_token_in(&[e, e2]);
    }
}

#[tokio::test]
async fn github_environment_protection_is_read() {
    let (fake, forge, repo) = setup(Flavor::Github).await;
    fake.add_token("tok_env_reader_abcd", &["actions:read"], &[]);
    fake.seed_environment(OPS, "production", &["alice", "bob"], 30);
    fake.seed_environment(OPS, "staging", &[], 0);
    let reader = client(&fake, Some("tok_env_reader_abcd"));

    let prod = reader.get_environment(&repo, "production").await.unwrap().expect("production");
    assert_eq!(prod.name, "production");
    assert_eq!(prod.wait_timer, 30);
    let names: Vec<&str> = prod.reviewers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(prod.reviewers.iter().all(|r| r.kind == ReviewerKind::User && r.id > 0));
    assert!(prod.is_protected());
    assert_eq!(prod.branch_policy, None);
    let staging = reader.get_environment(&repo, "staging").await.unwrap().unwrap();
    assert!(!staging.is_protected());
    assert_eq!(reader.get_environment(&repo, "qa").await.unwrap(), None);
    assert!(fake.requests().iter().all(|r| r.target.contains("/api/v3/repos/org/ops/environments/")));

    // A token without the permission, and no token at all: errors that say so.
    fake.add_token("tok_contents_only_ab", &["contents:read"], &[]);
    let e =
        client(&fake, Some("tok_contents_only_ab")).get_environment(&repo, "production").await.unwrap_err();
    assert!(e.to_string().contains("(403)") && e.to_string().contains("Actions: read"), "{e}");
    let e2 = client(&fake, None).get_environment(&repo, "production").await.unwrap_err();
    assert!(e2.to_string().contains("no token was given"), "{e2}");
    no_token_in(&[e, e2]);
    drop(forge);
}

/// The `environment` configuration: reviewers resolved to ids, PUT, branch/tag policies; the
/// same configuration applied twice changes nothing the second time.
#[tokio::test]
async fn github_environment_put_and_policies_are_idempotent() {
    let (fake, _, repo) = setup(Flavor::Github).await;
    fake.add_token("tok_admin_abcdefgh", &["administration:write", "actions:read", "members:read"], &[]);
    let admin = client(&fake, Some("tok_admin_abcdefgh"));
    let alice = fake.add_user("alice");
    let team = fake.add_team("org", "release-managers");

    let r1 = admin.find_reviewer(&ReviewerName::parse("alice").unwrap()).await.unwrap();
    assert_eq!((r1.kind, r1.id, r1.name.as_str()), (ReviewerKind::User, alice, "alice"));
    let r2 = admin.find_reviewer(&ReviewerName::parse("team:org/release-managers").unwrap()).await.unwrap();
    assert_eq!((r2.kind, r2.id), (ReviewerKind::Team, team));

    let config = EnvironmentConfig {
        wait_timer: 5,
        prevent_self_review: true,
        reviewers: vec![r1, r2],
        branch_policy: Some(BranchPolicySettings { protected_branches: false, custom_branch_policies: true }),
    };
    let policies = [
        BranchPolicy { name: "v*".into(), kind: BranchPolicyKind::Tag },
        BranchPolicy { name: "main".into(), kind: BranchPolicyKind::Branch },
    ];
    let first = admin.put_environment(&repo, "production", &config).await.unwrap();
    admin.ensure_branch_policies(&repo, "production", &policies).await.unwrap();
    let stored = fake.environment(OPS, "production").unwrap();
    assert!(first.is_protected() && first.prevent_self_review && first.wait_timer == 5);
    assert_eq!(first.reviewers.iter().map(|r| r.id).collect::<Vec<_>>(), [alice, team]);
    assert_eq!(first.branch_policy, config.branch_policy);
    let sent: serde_json::Value =
        serde_json::from_str(&fake.requests().iter().find(|r| r.method == "PUT").unwrap().body).unwrap();
    assert_eq!(
        sent["reviewers"],
        serde_json::json!([{"type": "User", "id": alice}, {"type": "Team", "id": team}])
    );
    assert_eq!(sent["deployment_branch_policy"]["custom_branch_policies"], true);

    let posts_before = fake.requests().iter().filter(|r| r.method == "POST").count();
    let second = admin.put_environment(&repo, "production", &config).await.unwrap();
    admin.ensure_branch_policies(&repo, "production", &policies).await.unwrap();
    assert_eq!(second, first);
    let again = fake.environment(OPS, "production").unwrap();
    assert_eq!(again.puts, 2);
    assert_eq!(crate::support::fake_forge::state::EnvRec { puts: 1, ..again }, stored, "nothing changed");
    assert_eq!(
        fake.requests().iter().filter(|r| r.method == "POST").count(),
        posts_before,
        "no policy created twice"
    );
    let listed = admin.list_branch_policies(&repo, "production").await.unwrap();
    assert_eq!(listed, policies);
}

#[tokio::test]
async fn github_environment_errors_name_the_fix() {
    let (fake, _, repo) = setup(Flavor::Github).await;
    fake.add_token("tok_admin_abcdefgh", &["administration:write", "actions:read"], &[]);
    let admin = client(&fake, Some("tok_admin_abcdefgh"));
    let tag = [BranchPolicy { name: "v*".into(), kind: BranchPolicyKind::Tag }];

    // Policies on an environment that allows every ref: GitHub's 404, explained.
    admin.put_environment(&repo, "production", &EnvironmentConfig::default()).await.unwrap();
    let e1 = admin.ensure_branch_policies(&repo, "production", &tag).await.unwrap_err();
    assert!(e1.to_string().contains("404") && e1.to_string().contains("custom branch policies"), "{e1}");

    let bad = EnvironmentConfig { wait_timer: 50_000, ..Default::default() };
    let e2 = admin.put_environment(&repo, "production", &bad).await.unwrap_err();
    assert!(e2.to_string().contains("(422)") && e2.to_string().contains("0 to 43200 minutes"), "{e2}");

    let many = EnvironmentConfig {
        reviewers: (0..7)
            .map(|i| Reviewer { kind: ReviewerKind::User, id: i, name: String::new() })
            .collect(),
        ..Default::default()
    };
    let before = fake.requests().len();
    let e3 = admin.put_environment(&repo, "production", &many).await.unwrap_err();
    assert!(e3.to_string().contains("at most 6 reviewers"), "{e3}");
    assert_eq!(fake.requests().len(), before, "nothing sent");

    // The full-access token of the other tests cannot administer the repository.
    let e4 = client(&fake, Some(TOKEN))
        .put_environment(&repo, "production", &EnvironmentConfig::default())
        .await
        .unwrap_err();
    assert!(e4.to_string().contains("(403)") && e4.to_string().contains("Administration: write"), "{e4}");

    let e5 = admin.find_reviewer(&ReviewerName::parse("nobody-here").unwrap()).await.unwrap_err();
    assert!(e5.to_string().contains("404") && e5.to_string().contains("team:org/slug"), "{e5}");
    fake.add_team("org", "ops");
    let e6 = admin.find_reviewer(&ReviewerName::parse("team:org/ops").unwrap()).await.unwrap_err();
    assert!(e6.to_string().contains("(403)") && e6.to_string().contains("Members: read"), "{e6}");
    no_token_in(&[e1, e2, e3, e4, e5, e6]);
}

async fn deploy(fake: &FakeForge, forge: &AnyForge, env: &str, tag: &str, states: &[DeployState]) -> u64 {
    let repo = RepoId::parse(OPS).unwrap();
    let req = DeploymentRequest {
        git_ref: "main".into(),
        environment: env.into(),
        description: format!("api {tag}"),
        payload: serde_json::json!({ "api": tag }),
        production: env == "production",
    };
    let d = forge.create_deployment(&repo, &req).await.unwrap();
    for s in states {
        let st =
            DeploymentStatus { state: *s, description: String::new(), environment_url: None, log_url: None };
        forge.create_deployment_status(&repo, d.id, &st).await.unwrap();
    }
    let _ = fake;
    d.id
}

#[tokio::test]
async fn github_deployments_are_listed_newest_first_with_their_latest_state() {
    let (fake, forge, repo) = setup(Flavor::Github).await;
    let a =
        deploy(&fake, &forge, "production", "1.0.0", &[DeployState::InProgress, DeployState::Success]).await;
    let s = deploy(&fake, &forge, "staging", "1.1.0", &[DeployState::Success]).await;
    let b =
        deploy(&fake, &forge, "production", "1.1.0", &[DeployState::InProgress, DeployState::Failure]).await;
    let c = deploy(&fake, &forge, "production", "1.1.1", &[]).await;

    let list = forge.list_deployments(&repo, "production", 10).await.unwrap();
    assert_eq!(list.iter().map(|d| d.id).collect::<Vec<_>>(), [c, b, a]);
    assert_eq!(
        list.iter().map(|d| d.state).collect::<Vec<_>>(),
        [None, Some(DeployState::Failure), Some(DeployState::Success)]
    );
    let newest = &list[0];
    assert_eq!(newest.payload, serde_json::json!({ "api": "1.1.1" }));
    assert_eq!(
        (newest.environment.as_str(), newest.git_ref.as_str(), newest.description.as_str()),
        ("production", "main", "api 1.1.1")
    );
    assert_eq!(newest.creator.as_deref(), Some("user-tok_"));
    assert!(!newest.sha.is_empty() && newest.created_at.starts_with("2026-"));
    assert_eq!(forge.list_deployments(&repo, "staging", 10).await.unwrap()[0].id, s);

    // max bounds what is read: per_page, and one status read per deployment kept.
    let before = fake.requests().len();
    assert_eq!(forge.list_deployments(&repo, "production", 2).await.unwrap().len(), 2);
    let reqs: Vec<String> = fake.requests()[before..].iter().map(|r| r.target.clone()).collect();
    assert!(reqs[0].contains("environment=production") && reqs[0].contains("per_page=2"), "{reqs:?}");
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert!(reqs[1..].iter().all(|r| r.contains("/statuses?per_page=1")), "{reqs:?}");
}

#[tokio::test]
async fn github_deployments_follow_pages() {
    let (fake, forge, repo) = setup(Flavor::Github).await;
    for i in 0..130 {
        deploy(&fake, &forge, "production", &format!("1.0.{i}"), &[DeployState::Success]).await;
    }
    // A transient failure of a status read is retried.
    fake.inject(Some("GET"), "/statuses?per_page=1", 1, FaultKind::Status(502));
    let before = fake.requests().len();
    let all = forge.list_deployments(&repo, "production", 500).await.unwrap();
    assert_eq!(all.len(), 130);
    assert_eq!(all[0].payload["api"], "1.0.129");
    assert!(all.iter().all(|d| d.state == Some(DeployState::Success)));
    let pages = fake.requests()[before..].iter().filter(|r| r.target.contains("/deployments?")).count();
    assert_eq!(pages, 2, "per_page=100: two pages");
    assert_eq!(fake.requests().len() - before, 2 + 130 + 1, "one status read each, one retried");

    fake.add_token("tok_other_repo_abcdefgh", &["deployments:write"], &["org/other"]);
    let e0 = client(&fake, Some("tok_other_repo_abcdefgh"))
        .list_deployments(&repo, "production", 5)
        .await
        .unwrap_err();
    assert!(e0.to_string().contains("404") && e0.to_string().contains("token can see it"), "{e0}");

    fake.add_token("tok_no_deploy_read_ab", &["contents:read"], &[]);
    let e = client(&fake, Some("tok_no_deploy_read_ab"))
        .list_deployments(&repo, "production", 5)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("(403)") && e.to_string().contains("Deployments: read"), "{e}");
    no_token_in(&[e0, e]);
}

#[tokio::test]
async fn forgejo_has_no_environments_or_deployments() {
    let (fake, forge, repo) = setup(Flavor::Forgejo).await;
    let policies = [BranchPolicy { name: "v*".into(), kind: BranchPolicyKind::Tag }];
    let errors = [
        forge.get_environment(&repo, "production").await.unwrap_err(),
        forge.put_environment(&repo, "production", &EnvironmentConfig::default()).await.unwrap_err(),
        forge.ensure_branch_policies(&repo, "production", &policies).await.unwrap_err(),
        forge.list_branch_policies(&repo, "production").await.unwrap_err(),
        forge.find_reviewer(&ReviewerName::parse("alice").unwrap()).await.unwrap_err(),
    ];
    for e in &errors {
        let text = e.to_string();
        assert!(matches!(e, ForgeError::Unsupported { .. }), "{text}");
        assert!(text.contains("Forgejo has no environments") && text.contains("approval: issue"), "{text}");
    }
    let e = forge.list_deployments(&repo, "production", 5).await.unwrap_err().to_string();
    assert!(e.contains("no deployments API") && e.contains("env file's history"), "{e}");
    assert!(fake.requests().is_empty(), "nothing sent");
    no_token_in(&errors);
}
