//! GitHub App installation tokens through the real binary: `app-id` + `app-private-key` and no
//! token; the fake forge checks the JWT and mints a `ghs_` token scoped to what was asked.

use crate::forge_ops::{FILE, OPS, client};
use crate::release::registry_with_versions;
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::registry::{Auth, TestRegistry};
use crate::support::{ActionRun, Outcome};
use deploy_action::forge::{FileWrite, Forge, ForgeError, RepoId};

const APP_ID: &str = "424242";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/github-app");
/// Everything the App may be granted on an installation.
const ALL: &[(&str, &str)] = &[
    ("actions", "write"),
    ("contents", "write"),
    ("deployments", "write"),
    ("issues", "write"),
    ("statuses", "write"),
];

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

async fn run(action: ActionRun) -> Outcome {
    tokio::task::spawn_blocking(move || action.run()).await.unwrap()
}

/// A GitHub fake with `org/ops` and `org/api`, App 424242 known (not installed), no tokens.
async fn fake() -> FakeForge {
    let fake = FakeForge::start(Flavor::Github).await;
    fake.add_repo(OPS);
    fake.add_repo("org/api");
    fake.add_app(APP_ID.parse().unwrap(), &fixture("app-key.pub.pem"));
    fake
}

/// A runner step of `command` on `org/ops` authenticated as the App, with no token at all.
fn as_app(fake: &FakeForge, command: &str) -> ActionRun {
    ActionRun::action()
        .env("GITHUB_API_URL", &fake.api_url())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .input("command", command)
        .input("repository", OPS)
        .input("app-id", APP_ID)
        .input("app-private-key", &fixture("app-key.pem"))
}

/// The JWTs the fake received (the `Authorization` of the App routes).
fn jwts(fake: &FakeForge) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.target.contains("/installation") || r.target.contains("/access_tokens"))
        .filter_map(|r| r.header("authorization").map(|h| h.trim_start_matches("Bearer ").to_owned()))
        .collect()
}

/// The App token, the JWTs and each line of the PEM appear only in `::add-mask::` lines.
fn no_secrets(fake: &FakeForge, out: &Outcome) {
    let pem = fixture("app-key.pem");
    let key_lines = pem.lines().filter(|l| !l.starts_with("-----"));
    let secrets: Vec<String> =
        fake.minted_tokens().into_iter().chain(jwts(fake)).chain(key_lines.map(str::to_owned)).collect();
    assert!(secrets.len() > 10, "{secrets:?}");
    for s in &secrets {
        for line in out.stdout.lines().filter(|l| l.contains(s.as_str())) {
            assert!(line.starts_with("::add-mask::"), "{s} leaked:\n{}", out.log());
        }
        assert!(!out.stderr.contains(s.as_str()), "{s} leaked:\n{}", out.stderr);
        assert!(!out.output_file.contains(s.as_str()) && !out.summary.contains(s.as_str()), "{s} leaked");
    }
    for line in pem.lines() {
        let masks = out.stdout.lines().filter(|l| *l == format!("::add-mask::{line}")).count();
        assert_eq!(masks, 1, "{line} masked {masks} times");
    }
    for token in fake.minted_tokens() {
        assert!(out.stdout.contains(&format!("::add-mask::{token}\n")), "token not masked:\n{}", out.stdout);
    }
}

/// The JSON body of the token request.
fn token_request(fake: &FakeForge) -> serde_json::Value {
    let r =
        fake.requests().into_iter().find(|r| r.target.ends_with("/access_tokens")).expect("a token request");
    serde_json::from_str(&r.body).unwrap()
}

fn write(text: &str) -> FileWrite {
    FileWrite { path: FILE.into(), branch: "main".into(), text: text.into(), message: "x".into(), sha: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_with_an_app_token_lands_and_the_token_can_do_nothing_else() {
    let fake = fake().await;
    fake.install_app(APP_ID.parse().unwrap(), &[OPS, "org/api"], ALL);
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &["api_image_tag!"], "success");
    // A transient failure of the lookup is retried.
    fake.inject(Some("GET"), "/installation", 1, crate::support::fake_forge::state::FaultKind::Status(502));
    let out =
        run(as_app(&fake, "dispatch").input("workflow", "deploy.yml").input("inputs", "api_image_tag=1.2.3"))
            .await;
    assert_eq!(out.code, 0, "{}", out.log());
    let runs = fake.runs(OPS);
    assert_eq!(runs.len(), 1, "{}", out.log());
    assert_eq!(runs[0].inputs["api_image_tag"], "1.2.3");
    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 1);
    let dispatch = fake.requests().into_iter().find(|r| r.target.ends_with("/dispatches")).unwrap();
    assert_eq!(dispatch.header("authorization"), Some(format!("Bearer {}", minted[0]).as_str()));
    // Exactly the permissions dispatch needs, for the target repository alone.
    let asked = token_request(&fake);
    assert_eq!(asked["permissions"], serde_json::json!({"actions": "write", "contents": "read"}));
    assert_eq!(asked["repositories"], serde_json::json!(["ops"]));
    no_secrets(&fake, &out);

    // The fake holds the token to what was granted: no contents write, no other repository.
    let forge = client(&fake, Some(&minted[0]));
    let ops = RepoId::parse(OPS).unwrap();
    let e = forge.write_file(&ops, &write("X=1\n")).await.unwrap_err();
    assert!(matches!(e, ForgeError::Forbidden { .. }), "{e}");
    assert!(forge.get_file(&ops, "README.md", None).await.unwrap().is_some(), "contents read is granted");
    let api = RepoId::parse("org/api").unwrap();
    let other = forge.get_file(&api, "README.md", None).await;
    assert!(!matches!(other, Ok(Some(_))), "org/api is not granted: {other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_builds_pushes_and_dispatches_with_an_app_token() {
    let reg = TestRegistry::start(Auth::None);
    let fake = fake().await;
    fake.install_app(APP_ID.parse().unwrap(), &[OPS], ALL);
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &["api_image_tag!"], "success");
    let out = run(as_app(&fake, "publish")
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", "abc1234def5678901234567890abcdef12345678")
        .event(
            "push",
            &serde_json::json!({
                "ref": "refs/heads/main", "before": "1".repeat(40),
                "after": "abc1234def5678901234567890abcdef12345678", "repository": {"default_branch": "main"},
            }),
        )
        .input("tags", "type=raw,value=staging-{{sha}}")
        .input("api-url", &fake.api_url())
        .input("registry", &reg.host)
        .input("images", &format!("{}/org/api", reg.host))
        .input("builder", "files")
        .input("add", "/bin/busybox:/bin/busybox")
        .input("workflow", "deploy.yml"))
    .await;
    assert_eq!(out.code, 0, "{}", out.log());
    let runs = fake.runs(OPS);
    assert_eq!(runs.len(), 1, "{}", out.log());
    assert_eq!(runs[0].inputs["api_image_tag"], "staging-abc1234");
    // One token to check the App before the build, a fresh one for the dispatch after it.
    assert_eq!(fake.minted_tokens().len(), 2);
    no_secrets(&fake, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_commits_the_versions_with_an_app_token() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let fake = fake().await;
    fake.install_app(APP_ID.parse().unwrap(), &[OPS], ALL);
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &[], "success");
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let release = || {
        as_app(&fake, "release")
            .input("target", "none")
            .input("environment", "staging")
            .input("images", &format!("api={}/org/api", reg.host))
            .input("api_image_tag", "v2")
    };
    let out = run(release()).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));
    assert_eq!(fake.history(OPS, FILE)[0].lines().next().unwrap(), "deploy: api v1 → v2");
    assert_eq!(fake.deployments(OPS)[0].3, ["in_progress", "success"]);
    let asked = token_request(&fake);
    assert_eq!(
        asked["permissions"],
        serde_json::json!({"actions": "read", "contents": "write", "deployments": "write", "issues": "write", "statuses": "write"})
    );
    no_secrets(&fake, &out);

    // A token minted for a release cannot dispatch workflows.
    let forge = client(&fake, Some(&fake.minted_tokens()[0]));
    let d = deploy_action::forge::Dispatch {
        workflow: "deploy.yml".into(),
        git_ref: "main".into(),
        inputs: Default::default(),
    };
    let e = forge.dispatch_workflow(&RepoId::parse(OPS).unwrap(), &d).await.unwrap_err();
    assert!(matches!(e, ForgeError::Forbidden { .. }), "{e}");
    assert!(fake.runs(OPS).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_not_installed_short_of_permissions_or_with_a_wrong_key_writes_nothing() {
    let fake = fake().await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &[], "success");
    let record = |fake: &FakeForge| as_app(fake, "record").input("api_image_tag", "v2");

    // Installed on another repository only.
    fake.install_app(APP_ID.parse().unwrap(), &["org/api"], ALL);
    let out = run(record(&fake)).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.stdout.contains(
            "GitHub App 424242 is not installed on org/ops (404 while looking up the App's installation"
        ),
        "{}",
        out.log()
    );
    no_secrets(&fake, &out);

    // Installed without contents write: GitHub answers 422 to the token request.
    let fake = self::fake().await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    fake.install_app(APP_ID.parse().unwrap(), &[OPS], &[("contents", "read"), ("actions", "write")]);
    let out = run(record(&fake)).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.stdout
            .contains("GitHub refused to mint a token for org/ops with contents:write (422 while minting"),
        "{}",
        out.log()
    );
    assert!(
        out.stdout.contains("The permissions requested are not granted to this installation"),
        "{}",
        out.log()
    );
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");

    // A key of no App: the JWT is refused.
    let out = run(record(&fake).input("app-private-key", &fixture("other-key.pem"))).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("GitHub refused the JWT of App 424242 (401)"), "{}", out.log());
    assert!(out.stdout.contains("A JSON web token could not be decoded"), "{}", out.log());
    assert!(fake.minted_tokens().is_empty());
    assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=v1\n");
    assert!(fake.requests().iter().all(|r| !r.target.contains("/contents/") || r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_inputs_are_checked_before_any_request() {
    let fake = fake().await;
    let cases = [
        (
            as_app(&fake, "record").input("app-private-key", ""),
            "app-private-key",
            "is empty while app-id is 424242",
        ),
        (as_app(&fake, "record").input("app-id", ""), "app-id", "is empty while app-private-key is set"),
        (as_app(&fake, "record").input("app-id", "my-app"), "app-id", "numeric App ID"),
        (
            as_app(&fake, "record").input(
                "app-private-key",
                "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----",
            ),
            "app-private-key",
            "is not an RSA private key",
        ),
        (
            as_app(&fake, "record").env("FORGEJO_ACTIONS", "true").input("forge", "forgejo"),
            "app-id",
            "Forgejo has no GitHub Apps",
        ),
    ];
    for (action, input, rule) in cases {
        let out = run(action.input("api_image_tag", "v2")).await;
        assert_eq!(out.code, 2, "{input}: {}", out.log());
        assert!(
            out.stdout.contains(&format!("invalid input `{input}`")) && out.stdout.contains(rule),
            "{}",
            out.log()
        );
        let leaks = out
            .log()
            .lines()
            .filter(|l| l.contains("bm90IGEga2V5") && !l.starts_with("::add-mask::"))
            .count();
        assert_eq!(leaks, 0, "{}", out.log());
    }
    assert!(
        fake.requests().is_empty(),
        "{:?}",
        fake.requests().iter().map(|r| &r.target).collect::<Vec<_>>()
    );
}
