//! The client against each named forge release of the fake (github.com, GHES, Forgejo v11
//! LTS, v12, v15): what each version lacks is detected and degraded, never a failed step.

use crate::forge_ops::{FILE, OPS, TOKEN, fast};
use crate::support::fake_forge::state::FaultKind;
use crate::support::fake_forge::{FakeForge, ForgeVersion};
use crate::support::{ActionRun, Outcome};
use deploy_action::envfile::EnvFile;
use deploy_action::forge::*;
use deploy_action::secret::Secret;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const WF: &str = "name: Deploy services\non:\n  workflow_dispatch:\n    inputs:\n      api_image_tag:\n        type: string\n      dry_run:\n        type: boolean\n        default: false\njobs: {}\n";

async fn start(version: ForgeVersion) -> (FakeForge, AnyForge, RepoId) {
    let fake = FakeForge::start_version(version).await;
    fake.add_repo(OPS);
    let scopes: &[&str] = if version.forgejo_major().is_some() {
        &["write:repository", "write:issue"]
    } else {
        &["contents:write", "actions:write", "deployments:write", "issues:write"]
    };
    fake.add_token(TOKEN, scopes, &[]);
    let dir = if version.forgejo_major().is_some() { ".forgejo/workflows" } else { ".github/workflows" };
    fake.add_workflow(OPS, dir, "deploy.yml", &["api_image_tag", "dry_run:boolean"], "success");
    fake.put_file(OPS, &format!("{dir}/deploy.yml"), WF);
    let forge =
        AnyForge::connect(None, &fake.api_url(), Some(Secret::new(TOKEN))).unwrap().with_retry(fast());
    (fake, forge, RepoId::parse(OPS).unwrap())
}

fn action(fake: &FakeForge) -> ActionRun {
    let mut a = ActionRun::action()
        .env("GITHUB_API_URL", &fake.api_url())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .input("repository", OPS)
        .input("token", TOKEN);
    if fake.version.forgejo_major().is_some() {
        a = a.env("FORGEJO_ACTIONS", "true");
    }
    a
}

async fn run(action: ActionRun) -> Outcome {
    tokio::task::spawn_blocking(move || action.run()).await.unwrap()
}

fn count(fake: &FakeForge, method: &str, path: &str) -> usize {
    fake.requests().iter().filter(|r| r.method == method && r.target.contains(path)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_on_forgejo_11_succeeds_without_a_run_lookup() {
    let (fake, _, _) = start(ForgeVersion::Forgejo11).await;
    let out = run(action(&fake)
        .input("command", "dispatch")
        .input("workflow", "deploy.yml")
        .input("inputs", "api_image_tag=1.2.4"))
    .await;
    assert_eq!(out.code, 0, "{}", out.log());
    let runs = fake.runs(OPS);
    assert_eq!(runs.len(), 1);
    assert_eq!(count(&fake, "GET", "/actions/runs"), 0, "no run lookup on v11");
    assert_eq!(count(&fake, "GET", "/api/v1/version"), 1, "the version is asked once");
    // v11 returns the run's id and number with return_run_info; its state cannot be read.
    assert_eq!(out.output("run-id"), runs[0].id.to_string());
    assert_eq!(out.output("state"), "dispatched");
    assert_eq!(out.output("run-list-url"), format!("{}/{OPS}/actions?workflow=deploy.yml", fake.web_url()));
    assert!(out.log().contains("Forgejo 11.0.3+gitea-1.22.0 has no runs API"), "{}", out.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_on_forgejo_11_fails_before_dispatching() {
    let (fake, _, _) = start(ForgeVersion::Forgejo11).await;
    let out = run(action(&fake)
        .input("command", "dispatch")
        .input("workflow", "deploy.yml")
        .input("wait", "true")
        .input("timeout", "5")
        .input("poll-interval", "1"))
    .await;
    assert_ne!(out.code, 0, "{}", out.log());
    assert!(fake.runs(OPS).is_empty(), "nothing dispatched");
    let log = out.log();
    assert!(
        log.contains("Forgejo 11.0.3") && log.contains("v12") && log.contains("nothing was dispatched"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_and_wait_work_on_forgejo_12_and_github_com() {
    for version in [ForgeVersion::Forgejo12, ForgeVersion::Forgejo15, ForgeVersion::GithubCom] {
        let (fake, _, _) = start(version).await;
        let out = run(action(&fake)
            .input("command", "dispatch")
            .input("workflow", "deploy.yml")
            .input("wait", "true")
            .input("timeout", "30")
            .input("poll-interval", "1"))
        .await;
        assert_eq!(out.code, 0, "{version:?}: {}", out.log());
        assert_eq!(out.output("state"), "success", "{version:?}");
        assert_eq!(out.output("run-id"), fake.runs(OPS)[0].id.to_string());
        assert!(!out.output("run-list-url").is_empty());
    }
}

/// v8–v13 read a boolean input as true only when it is "on"; v14+ and GitHub read "true".
#[tokio::test]
async fn boolean_inputs_reach_each_version_as_true() {
    for version in
        [ForgeVersion::Forgejo11, ForgeVersion::Forgejo12, ForgeVersion::Forgejo15, ForgeVersion::GithubCom]
    {
        let (fake, forge, repo) = start(version).await;
        let inputs = BTreeMap::from([
            ("dry_run".to_owned(), "true".to_owned()),
            ("api_image_tag".to_owned(), "true".to_owned()),
        ]);
        let d = Dispatch { workflow: "deploy.yml".into(), git_ref: "main".into(), inputs };
        forge.dispatch_workflow(&repo, &d).await.unwrap();
        let seen = &fake.runs(OPS)[0].inputs;
        assert_eq!(seen["dry_run"], "true", "{version:?}: {seen:?}");
        assert_eq!(seen["api_image_tag"], "true", "{version:?}: a string input keeps its value");
    }
}

#[tokio::test]
async fn forgejo_runs_are_titled_by_the_workflow_name_and_v12_lists_every_workflow() {
    let (fake, forge, repo) = start(ForgeVersion::Forgejo12).await;
    fake.add_workflow(OPS, ".forgejo/workflows", "other.yml", &[], "success");
    fake.set_workflow_name(OPS, "deploy.yml", "Deploy services");
    let d = |w: &str| Dispatch { workflow: w.into(), git_ref: "main".into(), inputs: BTreeMap::new() };
    forge.dispatch_workflow(&repo, &d("other.yml")).await.unwrap();
    let id = forge.dispatch_workflow(&repo, &d("deploy.yml")).await.unwrap().run_id.unwrap();
    assert_eq!(fake.runs(OPS)[0].title, ".forgejo/workflows/other.yml", "no name: the path");
    assert_eq!(fake.runs(OPS)[1].title, "Deploy services");
    // v12 ignores workflow_id: the client filters.
    let filter = RunFilter { workflow: "deploy.yml".into(), ..Default::default() };
    let runs = forge.list_runs(&repo, &filter).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [id]);
}

#[tokio::test]
async fn forgejo_commits_404_is_no_history_and_limit_is_ignored_with_a_path() {
    for version in [ForgeVersion::Forgejo11, ForgeVersion::Forgejo15] {
        let (fake, forge, repo) = start(version).await;
        assert_eq!(forge.list_commits(&repo, "deploy/none/.env.versions", "main", 10).await.unwrap(), []);
        for i in 0..60 {
            fake.put_file(OPS, FILE, &format!("A={i}\n"));
        }
        let all = forge.list_commits(&repo, FILE, "main", 100).await.unwrap();
        assert_eq!(all.len(), 60, "{version:?}: every page followed");
        assert_eq!(forge.list_commits(&repo, FILE, "main", 3).await.unwrap().len(), 3);
    }
}

/// Forgejo ≤ v11 answers a stale sha with 422 "sha does not match": still a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_writers_lose_nothing_on_each_version() {
    for version in [ForgeVersion::Forgejo11, ForgeVersion::Forgejo12, ForgeVersion::GithubCom] {
        let (fake, forge, repo) = start(version).await;
        fake.put_file(OPS, FILE, "# versions\n");
        let jobs = (0..20).map(|i| {
            let (forge, repo) = (forge.clone(), repo.clone());
            async move {
                let e = vec![(format!("SVC{i}_IMAGE_TAG"), format!("1.0.{i}"))];
                update_env_file(&forge, &repo, "main", FILE, &e, |_| format!("svc{i}"), &fast()).await
            }
        });
        for r in join_all(jobs).await {
            r.unwrap_or_else(|e| panic!("{version:?}: {e}"));
        }
        let file = EnvFile::parse(&fake.file(OPS, FILE).unwrap());
        for i in 0..20 {
            assert_eq!(
                file.get(&format!("SVC{i}_IMAGE_TAG")),
                Some(format!("1.0.{i}").as_str()),
                "{version:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_record_processes_lose_nothing_on_each_version() {
    for version in [ForgeVersion::Forgejo11, ForgeVersion::Forgejo12, ForgeVersion::GithubCom] {
        let (fake, _, _) = start(version).await;
        fake.put_file(OPS, FILE, "# versions\n");
        let api = fake.api_url();
        let started = Instant::now();
        let runs = (0..20).map(|i| {
            let api = api.clone();
            std::thread::spawn(move || {
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
        let outs: Vec<Outcome> = runs.collect::<Vec<_>>().into_iter().map(|t| t.join().unwrap()).collect();
        for out in &outs {
            assert_eq!(out.code, 0, "{version:?}: {}", out.log());
        }
        let text = fake.file(OPS, FILE).unwrap();
        for i in 0..20 {
            assert!(text.contains(&format!("SVC{i}_IMAGE_TAG=1.0.{i}\n")), "{version:?}: {text}");
        }
        assert_eq!(fake.history(OPS, FILE).len(), 1 + 20, "{version:?}");
        let puts = count(&fake, "PUT", "/contents/") + count(&fake, "POST", "/contents/");
        eprintln!("{version:?}: 20 records in {:?}, {puts} writes", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ruleset_refusal_fails_at_once_naming_the_rule() {
    let (fake, _, _) = start(ForgeVersion::GithubCom).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=1.2.3\n");
    fake.add_ruleset(OPS, "main", "Changes must be made through a pull request.");
    let started = Instant::now();
    let out = run(action(&fake).input("command", "record").input("api_image_tag", "1.2.4")).await;
    assert_ne!(out.code, 0, "{}", out.log());
    assert_eq!(count(&fake, "PUT", "/contents/"), 1, "no retries");
    assert!(started.elapsed() < Duration::from_secs(10));
    let log = out.log();
    assert!(
        log.contains("Changes must be made through a pull request.") && log.contains("bypass list"),
        "{log}"
    );
    assert!(!log.contains("changed since it was read"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secondary_rate_limit_waits_and_says_so() {
    let (fake, _, _) = start(ForgeVersion::GithubCom).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=1.2.3\n");
    fake.inject(Some("PUT"), "/contents/", 1, FaultKind::SecondaryRateLimit(403));
    fake.inject(Some("GET"), "/contents/", 1, FaultKind::SecondaryRateLimit(429));
    let started = Instant::now();
    let out = run(action(&fake)
        .env("DEPLOY_ACTION_SECONDARY_RATE_LIMIT_WAIT", "1")
        .input("command", "record")
        .input("api_image_tag", "1.2.4"))
    .await;
    assert_eq!(out.code, 0, "{}", out.log());
    let log = out.log();
    assert_eq!(log.matches("secondary rate limit: waiting 1 s (attempt 1 of 3)").count(), 2, "{log}");
    assert!(started.elapsed() >= Duration::from_secs(2), "each limit waited the (shortened) minute");
    assert_eq!(fake.file(OPS, FILE).unwrap().lines().next(), Some("API_IMAGE_TAG=1.2.4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_rate_limits_are_bounded() {
    let (fake, _, _) = start(ForgeVersion::GithubCom).await;
    fake.inject(Some("GET"), "/contents/", 10, FaultKind::SecondaryRateLimit(403));
    let out = run(action(&fake)
        .env("DEPLOY_ACTION_SECONDARY_RATE_LIMIT_WAIT", "0")
        .input("command", "record")
        .input("api_image_tag", "1.2.4"))
    .await;
    assert_ne!(out.code, 0, "{}", out.log());
    assert_eq!(count(&fake, "GET", "/contents/"), 4, "the first try and 3 retries");
    assert!(out.log().contains("rate-limited"), "{}", out.log());
}

/// The write landed but its answer was lost: the outputs describe the commit this run made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_reports_its_own_commit_when_the_answer_was_lost() {
    for version in [ForgeVersion::Forgejo11, ForgeVersion::Forgejo15, ForgeVersion::GithubCom] {
        let (fake, _, _) = start(version).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=1.2.3\n");
        fake.inject(Some("PUT"), "/contents/", 1, FaultKind::DropAfterHandling);
        let out = run(action(&fake).input("command", "record").input("api_image_tag", "1.2.4")).await;
        assert_eq!(out.code, 0, "{version:?}: {}", out.log());
        assert_eq!(fake.history(OPS, FILE).len(), 2, "{version:?}: one commit of ours");
        assert_eq!(out.output("changed"), "true", "{version:?}");
        assert!(fake.history(OPS, FILE)[0].starts_with("deploy: api 1.2.3 → 1.2.4"));
        assert_eq!(out.output("commit-sha").len(), 40, "{version:?}: {:?}", out.outputs);
        let previous: serde_json::Value = serde_json::from_str(out.output("previous")).unwrap();
        assert_eq!(previous["API_IMAGE_TAG"], "1.2.3", "{version:?}");
        let commits = fake.requests().iter().filter(|r| r.target.contains("/commits?")).count();
        assert!(commits >= 1, "the history was read");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_is_refused_with_a_reason() {
    let out = tokio::task::spawn_blocking(|| {
        ActionRun::cli([
            "record",
            "--repo",
            OPS,
            "--versions",
            "api=1",
            "--api-url",
            "http://127.0.0.1:9/api/v1",
            "--token",
            TOKEN,
            "--forge",
            "gitea",
        ])
        .run()
    })
    .await
    .unwrap();
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.log().contains("Gitea's Actions API differs"), "{}", out.log());
}
