//! `record` and `dispatch` through the real binary against the fake forge.

use crate::forge_ops::{FILE, OPS, TOKEN, setup};
use crate::support::fake_forge::Flavor;
use crate::support::{ActionRun, Outcome};

async fn run(action: ActionRun) -> Outcome {
    tokio::task::spawn_blocking(move || action.run()).await.unwrap()
}

fn runner(api: &str, flavor: Flavor) -> ActionRun {
    let mut a = ActionRun::action().env("GITHUB_API_URL", api).env("SOURCE_DATE_EPOCH", "1700000000");
    if flavor == Flavor::Forgejo {
        a = a.env("FORGEJO_ACTIONS", "true");
    }
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_commits_tags_through_the_api() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "# deployed\nAPI_IMAGE_TAG=1.2.3\n");
        let out = run(runner(&fake.api_url(), flavor)
            .input("command", "record")
            .input("repository", OPS)
            .input("token", TOKEN)
            .input("api_image_tag", "1.2.4")
            .input("web_image_tag", ""))
        .await;
        assert_eq!(out.code, 0, "{flavor:?}: {}", out.log());
        assert_eq!(
            fake.file(OPS, FILE).unwrap(),
            "# deployed\nAPI_IMAGE_TAG=1.2.4\nLAST_DEPLOY_DATE=2023-11-14T22:13:20Z\nLAST_DEPLOY_BY=alice\n\
             LAST_DEPLOY_RUN=https://github.com/org/api/actions/runs/1234\n"
        );
        assert_eq!(fake.history(OPS, FILE)[0].lines().next().unwrap(), "deploy: api 1.2.3 → 1.2.4");
        assert_eq!(
            out.output("previous"),
            r#"{"API_IMAGE_TAG":"1.2.3","LAST_DEPLOY_BY":null,"LAST_DEPLOY_DATE":null,"LAST_DEPLOY_RUN":null}"#
        );
        assert_eq!(out.output("commit-sha").len(), 40);
        assert!(out.stdout.starts_with(&format!("::add-mask::{TOKEN}\n")), "{}", out.stdout);
        assert_eq!(out.log().matches(TOKEN).count(), 1, "{}", out.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_refuses_injection_and_bad_tokens() {
    let (fake, _, _) = setup(Flavor::Forgejo).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=1.2.3\n");
    let out = run(runner(&fake.api_url(), Flavor::Forgejo)
        .input("command", "record")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("api_image_tag", "1.2.4\"; curl x | sh"))
    .await;
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(fake.requests().is_empty());

    let out = run(runner(&fake.api_url(), Flavor::Forgejo)
        .input("command", "record")
        .input("repository", OPS)
        .input("token", "tok_revoked_0000000000")
        .input("api_image_tag", "1.2.4"))
    .await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("rejected the token (401)"), "{}", out.stdout);
    // Only the `::add-mask::` line carries the token.
    assert_eq!(out.log().matches("tok_revoked_0000000000").count(), 1, "{}", out.log());
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=1.2.3\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_waits_for_the_run() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        for details in [true, false] {
            let (fake, _, _) = setup(flavor).await;
            let dir = if flavor == Flavor::Github { ".github/workflows" } else { ".forgejo/workflows" };
            fake.add_workflow(OPS, dir, "deploy.yml", &["api_image_tag!", "environment"], "success");
            fake.set_run_details(details);
            let out = run(ActionRun::cli([
                "dispatch",
                "--repo",
                OPS,
                "--workflow",
                "deploy.yml",
                "--inputs",
                "api_image_tag=1.2.4\nenvironment=staging",
                "--wait",
                "true",
                "--poll-interval",
                "1",
                "--timeout",
                "30",
                "--api-url",
                &fake.api_url(),
                "--token",
                TOKEN,
            ]))
            .await;
            assert_eq!(out.code, 0, "{flavor:?} details={details}: {}", out.log());
            assert!(out.stdout.contains("/org/ops/actions/runs/"), "{}", out.stdout);
            let runs = fake.runs(OPS);
            assert_eq!(runs.len(), 1);
            assert_eq!(runs[0].inputs["environment"], "staging");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_fails_when_the_run_fails() {
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &[], "failure");
    let out = run(ActionRun::cli([
        "dispatch",
        "--repo",
        OPS,
        "--workflow",
        "deploy.yml",
        "--wait",
        "true",
        "--poll-interval",
        "1",
        "--api-url",
        &fake.api_url(),
        "--token",
        TOKEN,
    ]))
    .await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stderr.contains("ended failure"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_record_processes_lose_nothing() {
    let (fake, _, _) = setup(Flavor::Forgejo).await;
    fake.put_file(OPS, FILE, "# versions\n");
    let api = fake.api_url();
    let runs = (0..6).map(|i| {
        let api = api.clone();
        tokio::task::spawn_blocking(move || {
            ActionRun::cli([
                "record".to_owned(),
                "--repo".into(),
                OPS.into(),
                "--versions".into(),
                format!("svc{i}=1.0.{i}"),
                "--api-url".into(),
                api,
                "--token".into(),
                TOKEN.into(),
            ])
            .run()
        })
    });
    for out in futures::future::join_all(runs).await {
        let out = out.unwrap();
        assert_eq!(out.code, 0, "{}", out.log());
    }
    let text = fake.file(OPS, FILE).unwrap();
    for i in 0..6 {
        assert!(text.contains(&format!("SVC{i}_IMAGE_TAG=1.0.{i}\n")), "{text}");
    }
    assert_eq!(fake.history(OPS, FILE).len(), 1 + 6);
}

/// `environment` applies the protection once; the second run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_command_is_idempotent_on_github() {
    let (fake, _, _) = setup(Flavor::Github).await;
    let admin = "tok_admin_0123456789ab";
    fake.add_token(admin, &["administration:write", "actions:read", "members:read"], &[]);
    let alice = fake.add_user("alice");
    let team = fake.add_team("org", "release-managers");
    let action = || {
        runner(&fake.api_url(), Flavor::Github)
            .input("command", "environment")
            .input("environment", "production")
            .input("repository", OPS)
            .input("token", admin)
            .input("reviewers", "alice, team:org/release-managers")
            .input("wait-timer", "5")
            .input("tag-policy", "v*")
            .input("branch-policy", "main")
    };
    let first = run(action()).await;
    assert_eq!(first.code, 0, "{}", first.log());
    assert_eq!(first.output("changed"), "true");
    let rules: serde_json::Value = serde_json::from_str(first.output("rules")).unwrap();
    assert_eq!(rules["protected"], true);
    assert_eq!(rules["environment"]["wait_timer"], 5);
    let ids: Vec<u64> = rules["environment"]["reviewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [alice, team]);
    assert_eq!(
        rules["branch_policies"],
        serde_json::json!([{"name": "v*", "kind": "tag"}, {"name": "main", "kind": "branch"}])
    );
    assert!(first.log().contains("may deploy: tag v*, branch main"), "{}", first.log());
    assert_eq!(first.log().matches(admin).count(), 1, "only the mask line: {}", first.log());

    let before = fake.requests().len();
    let second = run(action()).await;
    assert_eq!(second.code, 0, "{}", second.log());
    assert_eq!(second.output("changed"), "false");
    let writes: Vec<String> = fake.requests()[before..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(fake.environment(OPS, "production").unwrap().puts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_command_refuses_forgejo_and_bad_input() {
    let (fake, _, _) = setup(Flavor::Forgejo).await;
    let out = run(runner(&fake.api_url(), Flavor::Forgejo)
        .input("command", "environment")
        .input("environment", "production")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("reviewers", "alice"))
    .await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.log().contains("Forgejo has no environments") && out.log().contains("approval: issue"),
        "{}",
        out.log()
    );

    let (gh, _, _) = setup(Flavor::Github).await;
    let out = run(runner(&gh.api_url(), Flavor::Github)
        .input("command", "environment")
        .input("environment", "production")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("reviewers", "team:org"))
    .await;
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.log().contains("reviewers"), "{}", out.log());
    assert!(fake.requests().is_empty() && gh.requests().is_empty(), "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_event_type_sends_a_repository_dispatch_with_the_run_in_its_payload() {
    let (fake, _, _) = setup(Flavor::Github).await;
    let out = run(runner(&fake.api_url(), Flavor::Github)
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REF", "refs/heads/main")
        .input("command", "dispatch")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("event-type", "deploy")
        .input("inputs", "api_image_tag=staging-0123456"))
    .await;
    assert_eq!(out.code, 0, "{}", out.log());
    let sent = fake.requests().into_iter().find(|r| r.target.ends_with("/repos/org/ops/dispatches")).unwrap();
    let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(body["event_type"], "deploy");
    let p = &body["client_payload"];
    assert_eq!(p["services"]["api"]["tag"], "staging-0123456", "{p}");
    assert_eq!(p["sha"], "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(p["actor"], "alice");
    assert_eq!(p["run_url"], "https://github.com/org/api/actions/runs/1234");

    let (fake, _, _) = setup(Flavor::Forgejo).await;
    let out = run(runner(&fake.api_url(), Flavor::Forgejo)
        .input("command", "dispatch")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("event-type", "deploy"))
    .await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("workflow dispatch"), "{}", out.stdout);
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_dispatch_id_finds_the_run_when_the_forge_returns_no_id() {
    // GitHub only: Forgejo titles runs with the workflow's `name:` (not `run-name`), and every
    // Forgejo with a runs API (v12+) returns the run's id (v11+), so it never correlates.
    for flavor in [Flavor::Github] {
        let (fake, _, _) = setup(flavor).await;
        let dir = if flavor == Flavor::Github { ".github/workflows" } else { ".forgejo/workflows" };
        fake.add_workflow(OPS, dir, "deploy.yml", &["api_image_tag!", "dispatch_id"], "success");
        fake.put_file(
            OPS,
            &format!("{dir}/deploy.yml"),
            "name: deploy\nrun-name: deploy ${{ inputs.dispatch_id }}\non:\n  workflow_dispatch:\n    inputs:\n      api_image_tag:\n        required: true\n      dispatch_id:\n        required: false\njobs: {}\n",
        );
        fake.set_run_details(false);
        let out = run(runner(&fake.api_url(), flavor)
            .input("command", "dispatch")
            .input("repository", OPS)
            .input("token", TOKEN)
            .input("workflow", "deploy.yml")
            .input("inputs", "api_image_tag=1.2.4")
            .input("wait", "true")
            .input("poll-interval", "1")
            .input("timeout", "30"))
        .await;
        assert_eq!(out.code, 0, "{flavor:?}: {}", out.log());
        let runs = fake.runs(OPS);
        let id = &runs[0].inputs["dispatch_id"];
        assert_eq!(id.len(), 16, "{:?}", runs[0].inputs);
        assert!(out.log().contains(&format!("declares dispatch_id: dispatching with {id}")), "{}", out.log());
        assert_eq!(out.output("run-id"), runs[0].id.to_string());
    }
}
