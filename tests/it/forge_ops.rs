//! Each forge operation against both flavours of the fake, and the errors users hit.

use crate::support::fake_forge::state::FaultKind;
use crate::support::fake_forge::{FakeForge, Flavor};
use deploy_action::forge::*;
use deploy_action::secret::Secret;
use std::collections::BTreeMap;
use std::time::Duration;

pub const OPS: &str = "org/ops";
pub const TOKEN: &str = "tok_full_access_0123456789";
pub const FILE: &str = ".env.versions";

/// Fast, bounded retries for tests.
pub fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 60,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(40),
        max_total: Duration::from_secs(20),
    }
}

pub async fn setup(flavor: Flavor) -> (FakeForge, AnyForge, RepoId) {
    let fake = FakeForge::start(flavor).await;
    fake.add_repo(OPS);
    let scopes: &[&str] = match flavor {
        Flavor::Github => &["contents:write", "actions:write", "deployments:write", "issues:write"],
        Flavor::Forgejo => &["write:repository", "write:issue"],
    };
    fake.add_token(TOKEN, scopes, &[]);
    let client = client(&fake, Some(TOKEN));
    (fake, client, RepoId::parse(OPS).unwrap())
}

pub fn client(fake: &FakeForge, token: Option<&str>) -> AnyForge {
    AnyForge::connect(None, &fake.api_url(), token.map(Secret::new)).unwrap().with_retry(fast())
}

fn both() -> [Flavor; 2] {
    [Flavor::Github, Flavor::Forgejo]
}

fn write(text: &str, sha: Option<String>) -> FileWrite {
    FileWrite { path: FILE.into(), branch: "main".into(), text: text.into(), message: "test".into(), sha }
}

#[tokio::test]
async fn files_create_update_conflict_and_history() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        assert_eq!(forge.kind() == deploy_action::context::ForgeKind::Github, flavor == Flavor::Github);
        assert_eq!(forge.get_file(&repo, FILE, None).await.unwrap(), None, "{flavor:?}");

        let created = forge.write_file(&repo, &write("A=1\n", None)).await.unwrap();
        let got = forge.get_file(&repo, FILE, Some("main")).await.unwrap().unwrap();
        assert_eq!((got.text.as_str(), got.sha.as_str()), ("A=1\n", created.blob_sha.as_str()), "{flavor:?}");

        let updated = forge.write_file(&repo, &write("A=2\n", Some(got.sha.clone()))).await.unwrap();
        // The old sha is stale now: a typed conflict.
        let err = forge.write_file(&repo, &write("A=3\n", Some(got.sha.clone()))).await.unwrap_err();
        assert!(matches!(err, ForgeError::Conflict { .. }), "{flavor:?}: {err}");
        // Creating a file that exists is a conflict too (GitHub 422 no sha / Forgejo POST 422).
        let err = forge.write_file(&repo, &write("A=4\n", None)).await.unwrap_err();
        assert!(matches!(err, ForgeError::Conflict { .. }), "{flavor:?}: {err}");

        // Reading at an older commit (rollback reads this way).
        let old = forge.get_file(&repo, FILE, Some(&created.commit_sha)).await.unwrap().unwrap();
        assert_eq!(old.text, "A=1\n");
        let history = forge.list_commits(&repo, FILE, "main", 10).await.unwrap();
        let shas: Vec<&str> = history.iter().map(|c| c.sha.as_str()).collect();
        assert_eq!(shas, [updated.commit_sha.as_str(), created.commit_sha.as_str()], "{flavor:?}");

        // The verbs on the wire: GitHub PUT for both, Forgejo POST then PUT.
        let verbs: Vec<String> = fake
            .requests()
            .iter()
            .filter(|r| r.target.contains("/contents/") && r.method != "GET")
            .map(|r| r.method.clone())
            .collect();
        let expected: &[&str] = if flavor == Flavor::Github {
            &["PUT", "PUT", "PUT", "PUT"]
        } else {
            &["POST", "PUT", "PUT", "POST"]
        };
        assert_eq!(verbs, expected, "{flavor:?}");
    }
}

#[test]
fn blob_sha_is_gits() {
    // `printf 'A=1\n' | git hash-object --stdin`
    use crate::support::fake_forge::state::blob_sha;
    assert_eq!(blob_sha(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    assert_eq!(blob_sha(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
}

#[tokio::test]
async fn headers_on_the_wire() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        forge.get_file(&repo, FILE, None).await.unwrap();
        let req = fake.requests().pop().unwrap();
        let auth = req.header("authorization").unwrap();
        assert!(req.header("user-agent").unwrap().starts_with("deploy-action/"));
        match flavor {
            Flavor::Github => {
                assert_eq!(auth, format!("Bearer {TOKEN}"));
                assert_eq!(req.header("accept"), Some("application/vnd.github+json"));
                assert_eq!(req.header("x-github-api-version"), Some("2022-11-28"));
                assert!(
                    req.target.starts_with("/api/v3/repos/org/ops/contents/.env.versions"),
                    "{}",
                    req.target
                );
            }
            Flavor::Forgejo => {
                assert_eq!(auth, format!("token {TOKEN}"));
                assert!(
                    req.target.starts_with("/api/v1/repos/org/ops/contents/.env.versions"),
                    "{}",
                    req.target
                );
            }
        }
    }
}

#[tokio::test]
async fn commits_follow_link_with_per_forge_page_size() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        for i in 0..120 {
            fake.put_file(OPS, FILE, &format!("N={i}\n"));
        }
        let all = forge.list_commits(&repo, FILE, "main", 500).await.unwrap();
        assert_eq!(all.len(), 120, "{flavor:?}");
        assert_eq!(forge.list_commits(&repo, FILE, "main", 7).await.unwrap().len(), 7);
        let pages: Vec<String> = fake
            .requests()
            .iter()
            .filter(|r| r.target.contains("/commits?"))
            .map(|r| r.target.clone())
            .collect();
        match flavor {
            Flavor::Github => {
                assert!(pages[0].contains("per_page=100"), "{pages:?}");
                assert_eq!(pages.len(), 2 + 1, "{pages:?}");
            }
            Flavor::Forgejo => {
                assert!(pages[0].contains("limit=50") && pages[0].contains("stat=false"), "{pages:?}");
                assert_eq!(pages.len(), 3 + 1, "{pages:?}");
            }
        }
    }
}

#[tokio::test]
async fn dispatch_returns_the_run_and_runs_complete() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        let dir = if flavor == Flavor::Github { ".github/workflows" } else { ".forgejo/workflows" };
        fake.add_workflow(OPS, dir, "deploy.yml", &["api_image_tag!", "environment"], "success");
        let inputs = BTreeMap::from([("api_image_tag".to_owned(), "1.2.4".to_owned())]);
        let d = Dispatch { workflow: "deploy.yml".into(), git_ref: "main".into(), inputs };
        let got = forge.dispatch_workflow(&repo, &d).await.unwrap();
        let id = got.run_id.expect("run id");
        assert!(got.html_url.unwrap().contains("/org/ops/actions/runs/"), "{flavor:?}");
        let sent: serde_json::Value = serde_json::from_str(&fake.requests().last().unwrap().body).unwrap();
        let flag = if flavor == Flavor::Github { "return_run_details" } else { "return_run_info" };
        assert_eq!(sent[flag], true, "{flavor:?}: {sent}");
        assert_eq!(sent["inputs"]["api_image_tag"], "1.2.4");

        let mut states = Vec::new();
        for _ in 0..5 {
            let run = forge.get_run(&repo, id).await.unwrap();
            states.push(run.state);
            if run.state.is_terminal() {
                break;
            }
        }
        assert_eq!(states, [RunState::Queued, RunState::InProgress, RunState::Success], "{flavor:?}");
        let filter = RunFilter {
            workflow: "deploy.yml".into(),
            event: Some("workflow_dispatch".into()),
            ..Default::default()
        };
        let runs = forge.list_runs(&repo, &filter).await.unwrap();
        assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [id]);

        // Without run details (GHES 3.17–3.19, Forgejo < v11): 204, no id.
        fake.set_run_details(false);
        assert_eq!(forge.dispatch_workflow(&repo, &d).await.unwrap(), Dispatched::default());
    }
}

#[tokio::test]
async fn ghes_without_the_run_details_flag_is_dispatched_again_without_it() {
    let (fake, forge, repo) = setup(Flavor::Github).await;
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &[], "success");
    fake.set_ghes_legacy(true);
    let d = Dispatch { workflow: "deploy.yml".into(), git_ref: "main".into(), inputs: BTreeMap::new() };
    assert_eq!(forge.dispatch_workflow(&repo, &d).await.unwrap(), Dispatched::default());
    assert_eq!(fake.runs(OPS).len(), 1, "exactly one run");
    let bodies: Vec<String> = fake.requests().iter().map(|r| r.body.clone()).collect();
    assert!(
        bodies[0].contains("return_run_details") && !bodies[1].contains("return_run_details"),
        "{bodies:?}"
    );
}

#[tokio::test]
async fn failed_runs_map_to_failure() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        let dir = if flavor == Flavor::Github { ".github/workflows" } else { ".forgejo/workflows" };
        fake.add_workflow(OPS, dir, "deploy.yml", &[], "failure");
        let d = Dispatch { workflow: "deploy.yml".into(), git_ref: "main".into(), inputs: BTreeMap::new() };
        let id = forge.dispatch_workflow(&repo, &d).await.unwrap().run_id.unwrap();
        let mut last = RunState::Queued;
        for _ in 0..3 {
            last = forge.get_run(&repo, id).await.unwrap().state;
        }
        assert_eq!(last, RunState::Failure, "{flavor:?}");
    }
}

#[tokio::test]
async fn too_many_inputs_are_refused_before_sending() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        let inputs = (0..26).map(|i| (format!("i{i}"), "x".to_owned())).collect();
        let d = Dispatch { workflow: "deploy.yml".into(), git_ref: "main".into(), inputs };
        let err = forge.dispatch_workflow(&repo, &d).await.unwrap_err();
        assert!(matches!(err, ForgeError::TooManyInputs { count: 26, max: 25 }), "{err}");
        assert!(fake.requests().is_empty());
    }
}

#[tokio::test]
async fn repository_dispatch_is_github_only() {
    let (fake, forge, repo) = setup(Flavor::Github).await;
    assert!(forge.capabilities().repository_dispatch);
    forge.repository_dispatch(&repo, "deploy", &serde_json::json!({"api": "1.2.4"})).await.unwrap();
    assert!(fake.requests().last().unwrap().target.ends_with("/repos/org/ops/dispatches"));

    let (fake, forge, repo) = setup(Flavor::Forgejo).await;
    assert!(!forge.capabilities().repository_dispatch && !forge.capabilities().deployments);
    let err = forge.repository_dispatch(&repo, "deploy", &serde_json::json!({})).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("does not support repository_dispatch") && text.contains("workflow dispatch"),
        "{text}"
    );
    assert!(fake.requests().is_empty());
}

/// Each error a user hits names the cause and the fix, and never the token.
#[tokio::test]
async fn errors_name_the_cause_and_the_fix() {
    for flavor in both() {
        let (fake, _, repo) = setup(flavor).await;
        let dir = if flavor == Flavor::Github { ".github/workflows" } else { ".forgejo/workflows" };
        fake.add_workflow(OPS, dir, "deploy.yml", &["api_image_tag!"], "success");
        fake.add_token("tok_readonly_abcdefgh", &["contents:read", "read:repository"], &[]);
        fake.add_token(
            "tok_other_repo_abcdefgh",
            &["contents:write", "actions:write", "write:repository"],
            &["org/other"],
        );
        let d = |inputs: &[(&str, &str)], wf: &str, r: &str| Dispatch {
            workflow: wf.into(),
            git_ref: r.into(),
            inputs: inputs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        };
        let tag = [("api_image_tag", "1.2.4")];

        let bad = client(&fake, Some("tok_bad_credentials_xyz"));
        let e = bad.get_file(&repo, FILE, None).await.unwrap_err().to_string();
        assert!(
            e.contains("rejected the token (401)") && e.contains("Fix: set a valid token"),
            "{flavor:?}: {e}"
        );

        let ro = client(&fake, Some("tok_readonly_abcdefgh"));
        let e = ro.write_file(&repo, &write("A=1\n", None)).await.unwrap_err().to_string();
        let e2 = ro.dispatch_workflow(&repo, &d(&tag, "deploy.yml", "main")).await.unwrap_err().to_string();
        match flavor {
            Flavor::Github => {
                assert!(e.contains("(403)") && e.contains("Contents: write"), "{e}");
                assert!(e2.contains("(403)") && e2.contains("Actions: write"), "{e2}");
            }
            Flavor::Forgejo => {
                assert!(e.contains("write:repository") && e.contains("job token"), "{e}");
                assert!(e2.contains("(403)") && e2.contains("personal access token"), "{e2}");
            }
        }

        let other = client(&fake, Some("tok_other_repo_abcdefgh"));
        let e = other.dispatch_workflow(&repo, &d(&tag, "deploy.yml", "main")).await.unwrap_err().to_string();
        assert!(e.contains("404") && e.contains("token can see it"), "{flavor:?}: {e}");

        let full = client(&fake, Some(TOKEN));
        let e = full.dispatch_workflow(&repo, &d(&tag, "nope.yml", "main")).await.unwrap_err().to_string();
        assert!(e.contains("workflow file name"), "{flavor:?}: {e}");
        if flavor == Flavor::Forgejo {
            assert!(e.contains(".forgejo/workflows, .gitea/workflows and .github/workflows"), "{e}");
        }
        let e = full
            .dispatch_workflow(&repo, &d(&tag, "deploy.yml", "no-such-branch"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refused the request as invalid (422)") && e.contains("No ref found"),
            "{flavor:?}: {e}"
        );
        if flavor == Flavor::Github {
            let e = full
                .dispatch_workflow(
                    &repo,
                    &d(&[("api_image_tag", "1"), ("colour", "red")], "deploy.yml", "main"),
                )
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("Unexpected inputs provided") && e.contains("declare every input"), "{e}");
        } else {
            let e =
                full.dispatch_workflow(&repo, &d(&[], "deploy.yml", "main")).await.unwrap_err().to_string();
            assert!(e.contains("(400)") && e.contains("Required input"), "{e}");
        }

        // Without a token the private repository answers 404: the error says a token is missing.
        let none = client(&fake, None);
        let e = none.get_file(&repo, FILE, None).await.unwrap_err().to_string();
        assert!(e.contains("answered 404") && e.contains("no token was given"), "{e}");

        // No token in any error text or Debug rendering.
        let all = [
            bad.get_file(&repo, FILE, None).await.unwrap_err(),
            ro.write_file(&repo, &write("A=1\n", None)).await.unwrap_err(),
            other.dispatch_workflow(&repo, &d(&tag, "deploy.yml", "main")).await.unwrap_err(),
            full.dispatch_workflow(&repo, &d(&tag, "nope.yml", "main")).await.unwrap_err(),
        ];
        for e in &all {
            let text = format!("{e} {e:?}");
            assert!(!text.contains("tok_"), "token leaked: {text}");
        }
        assert!(!format!("{full:?}").contains(TOKEN), "client Debug shows the token");
    }
}

#[tokio::test]
async fn forgejo_hides_github_workflows_when_forgejo_dir_exists() {
    let (fake, forge, repo) = setup(Flavor::Forgejo).await;
    fake.add_workflow(OPS, ".forgejo/workflows", "ci.yml", &[], "success");
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &[], "success");
    let d = Dispatch { workflow: "deploy.yml".into(), git_ref: "main".into(), inputs: BTreeMap::new() };
    let e = forge.dispatch_workflow(&repo, &d).await.unwrap_err().to_string();
    assert!(e.contains("hides") && e.contains(".github/workflows"), "{e}");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_fail_loudly() {
    for flavor in both() {
        let (fake, _, _) = setup(flavor).await;
        let http = reqwest::Client::new();
        let url = format!("{}/repos/org/ops/nothing-here", fake.api_url());
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["message"].as_str().unwrap().contains("GET /api/v"), "{v}");
        let doc = if flavor == Flavor::Github { "documentation_url" } else { "url" };
        assert!(v.get(doc).is_some(), "{v}");

        let url = format!("{}/repos/org/ops/commits", fake.api_url());
        let r = http.delete(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 405);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["message"].as_str().unwrap().contains("DELETE /api/v"), "{v}");
    }
}

#[tokio::test]
async fn transient_faults_are_retried_and_rate_limits_reported() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        fake.put_file(OPS, FILE, "A=1\n");
        fake.inject(Some("GET"), "/contents/", 2, FaultKind::Status(502));
        fake.inject(Some("GET"), "/contents/", 1, FaultKind::Drop);
        fake.inject(Some("GET"), "/contents/", 1, FaultKind::RateLimit { status: 429, retry_after: 0 });
        fake.inject(Some("GET"), "/contents/", 1, FaultKind::RateLimit { status: 403, retry_after: 0 });
        assert_eq!(forge.get_file(&repo, FILE, None).await.unwrap().unwrap().text, "A=1\n", "{flavor:?}");

        // A limit that does not lift: a clear error after bounded attempts.
        fake.inject(None, "/contents/", 1000, FaultKind::RateLimit { status: 429, retry_after: 0 });
        let e = forge.get_file(&repo, FILE, None).await.unwrap_err();
        assert!(matches!(e, ForgeError::RateLimited { status: 429, .. }), "{e}");
        assert!(e.to_string().contains("rate-limited"), "{e}");
    }
}

/// A limit whose `Retry-After` ends past the policy's total time (20 s in tests, 180 s for
/// real): no early retry (it would only be limited again), and the error says how long to wait.
#[tokio::test]
async fn a_rate_limit_longer_than_the_budget_fails_at_once_naming_the_wait() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        fake.put_file(OPS, FILE, "A=1\n");
        fake.inject(Some("GET"), "/contents/", 1, FaultKind::RateLimit { status: 429, retry_after: 30 });
        let started = std::time::Instant::now();
        let e = forge.get_file(&repo, FILE, None).await.unwrap_err();
        assert!(matches!(e, ForgeError::RateLimited { status: 429, .. }), "{flavor:?}: {e}");
        assert!(e.to_string().contains("retry after 30s"), "{flavor:?}: {e}");
        assert!(started.elapsed() < Duration::from_millis(1500), "{flavor:?}: it did not wait");
        let gets =
            fake.requests().iter().filter(|r| r.method == "GET" && r.target.contains("/contents/")).count();
        assert_eq!(gets, 1, "{flavor:?}: one request, no retry");
    }
}

#[tokio::test]
async fn deployments_on_github_commit_statuses_on_both() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        let sha = fake.put_file(OPS, FILE, "API_IMAGE_TAG=1.2.4\n");
        let status = CommitStatus {
            sha: sha.clone(),
            context: "deploy/production".into(),
            state: DeployState::Success,
            description: "api 1.2.4".into(),
            target_url: Some("https://example.org/run/1".into()),
        };
        forge.create_commit_status(&repo, &status).await.unwrap();
        let inactive = CommitStatus { state: DeployState::Inactive, ..status.clone() };
        forge.create_commit_status(&repo, &inactive).await.unwrap();
        let states: Vec<String> = fake.statuses(OPS).into_iter().map(|s| s.1).collect();
        let expected: &[&str] =
            if flavor == Flavor::Github { &["success", "success"] } else { &["success", "warning"] };
        assert_eq!(states, expected, "{flavor:?}");

        let req = DeploymentRequest {
            git_ref: sha.clone(),
            environment: "production".into(),
            description: "api 1.2.4".into(),
            payload: serde_json::json!({ "api": "1.2.4" }),
            production: true,
        };
        let st = DeploymentStatus {
            state: DeployState::InProgress,
            description: "deploying".into(),
            environment_url: None,
            log_url: Some("https://example.org/run/1".into()),
        };
        match flavor {
            Flavor::Github => {
                assert!(forge.capabilities().deployments);
                let d = forge.create_deployment(&repo, &req).await.unwrap();
                assert_eq!(d.sha, sha);
                let sent: serde_json::Value =
                    serde_json::from_str(&fake.requests().last().unwrap().body).unwrap();
                assert_eq!(
                    (sent["auto_merge"].clone(), sent["required_contexts"].clone()),
                    (false.into(), serde_json::json!([]))
                );
                forge.create_deployment_status(&repo, d.id, &st).await.unwrap();
                forge
                    .create_deployment_status(
                        &repo,
                        d.id,
                        &DeploymentStatus { state: DeployState::Success, ..st },
                    )
                    .await
                    .unwrap();
                assert_eq!(fake.deployments(OPS)[0].3, ["in_progress", "success"]);
                assert_eq!(forge.server_version().await.unwrap(), None);

                fake.inject(Some("POST"), "/deployments", 1, FaultKind::Status(409));
                let e = forge.create_deployment(&repo, &req).await.unwrap_err().to_string();
                assert!(e.contains("HTTP 409") && e.contains("failing status checks"), "{e}");
            }
            Flavor::Forgejo => {
                let before = fake.requests().len();
                let e = forge.create_deployment(&repo, &req).await.unwrap_err().to_string();
                assert!(e.contains("no deployments API") && e.contains("commit status"), "{e}");
                assert!(forge.create_deployment_status(&repo, 1, &st).await.is_err());
                assert_eq!(fake.requests().len(), before, "nothing sent");
                assert_eq!(forge.server_version().await.unwrap().as_deref(), Some("15.0.0+gitea-1.22.0"));
            }
        }
    }
}

#[tokio::test]
async fn approval_issue_and_comments() {
    for flavor in both() {
        let (fake, forge, repo) = setup(flavor).await;
        let issue = NewIssue {
            title: "Approve api 1.2.4 to production".into(),
            body: "Comment /approve".into(),
            labels: vec!["deploy".into()],
        };
        let opened = forge.create_issue(&repo, &issue).await.unwrap();
        assert_eq!(opened.number, 1);
        assert!(opened.html_url.ends_with("/org/ops/issues/1"), "{}", opened.html_url);
        // Labels by name on GitHub; none sent on Forgejo (it wants ids).
        let sent = fake.issues(OPS)[0].labels.clone();
        assert_eq!(sent.is_some(), flavor == Flavor::Github, "{flavor:?}: {sent:?}");

        for i in 0..130 {
            fake.comment(OPS, 1, if i == 129 { "release-manager" } else { "bot" }, &format!("c{i}"));
        }
        forge.create_issue_comment(&repo, 1, "waiting for approval").await.unwrap();
        let all = forge.list_issue_comments(&repo, 1, None).await.unwrap();
        assert_eq!(all.len(), 131, "{flavor:?}");
        assert_eq!((all[129].login.as_str(), all[129].body.as_str()), ("release-manager", "c129"));
        assert_eq!(all[130].body, "waiting for approval");
        let pages =
            fake.requests().iter().filter(|r| r.target.contains("/comments") && r.method == "GET").count();
        assert_eq!(pages, if flavor == Flavor::Github { 2 } else { 1 }, "{flavor:?}");

        // A token without the issue scope: the fix names it.
        fake.add_token("tok_no_issues_abcdefgh", &["contents:write", "write:repository"], &[]);
        let e = client(&fake, Some("tok_no_issues_abcdefgh"))
            .create_issue(&repo, &issue)
            .await
            .unwrap_err()
            .to_string();
        let want = if flavor == Flavor::Github { "Issues: write" } else { "write:issue" };
        assert!(e.contains("(403)") && e.contains(want), "{flavor:?}: {e}");
    }
}

#[tokio::test]
async fn unknown_run_on_forgejo_mentions_the_runs_api_version() {
    let (_fake, forge, repo) = setup(Flavor::Forgejo).await;
    let e = forge.get_run(&repo, 424242).await.unwrap_err().to_string();
    assert!(e.contains("answered 404") && e.contains("before v12 has no runs API"), "{e}");
}
