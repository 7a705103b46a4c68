//! `publish` through the real binary: tags → build → push to the real local registry →
//! dispatch to the fake forge (GitHub flavour), for one service and for several.

use crate::forge_ops::{OPS, TOKEN, setup};
use crate::support::docker;
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::registry::{Auth, TestRegistry, pull_and_verify};
use crate::support::{ActionRun, Outcome};
use deploy_action::registry::{ClientOptions, Credentials, Registries};
use deploy_action::secret::Secret;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SHA: &str = "abc1234def5678901234567890abcdef12345678";
const USER: &str = "ci";
const PASSWORD: &str = "registry-pass-7f3a9c";
const RULES: &str = "type=raw,value=staging-{{sha}}\ntype=raw,value=staging";

async fn run(action: ActionRun) -> Outcome {
    tokio::task::spawn_blocking(move || action.run()).await.unwrap()
}

async fn pull(host: &str, repo: &str, tag: &str) -> String {
    let (host, repo, tag) = (host.to_owned(), repo.to_owned(), tag.to_owned());
    tokio::task::spawn_blocking(move || pull_and_verify(&host, &repo, &tag, Some((USER, PASSWORD))))
        .await
        .unwrap()
}

/// A runner on a push to main of `sha` (`before..after`), publishing to `reg`, dispatching to `fake`.
fn push_to_main(reg: &TestRegistry, fake: &FakeForge, sha: &str, before: &str) -> ActionRun {
    ActionRun::action()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", sha)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .event(
            "push",
            &serde_json::json!({
                "ref": "refs/heads/main", "before": before, "after": sha,
                "repository": {"default_branch": "main"},
            }),
        )
        .input("command", "publish")
        .input("tags", RULES)
        .input("username", USER)
        .input("password", PASSWORD)
        .input("api-url", &fake.api_url())
        .input("token", TOKEN)
        .input("repository", OPS)
        .input("registry", &reg.host)
}

fn no_secrets(out: &Outcome) {
    // Only the `::add-mask::` lines carry them.
    for secret in [TOKEN, PASSWORD] {
        let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            !lines.is_empty() && lines.iter().all(|l| l.starts_with("::add-mask::")),
            "{secret} in\n{}",
            out.log()
        );
        assert!(!out.stderr.contains(secret), "{}", out.stderr);
        assert!(!out.output_file.contains(secret) && !out.summary.contains(secret));
    }
}

fn registry() -> TestRegistry {
    TestRegistry::start(Auth::Basic { user: USER, password: PASSWORD })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_publish_on_push_to_main_pushes_both_tags_and_dispatches() {
    let reg = registry();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &["api_image_tag!", "environment"], "success");
    let image = format!("{}/org/api", reg.host);
    let started = Instant::now();
    let out = run(push_to_main(&reg, &fake, SHA, &"1".repeat(40))
        .input("images", &image)
        .input("builder", "files")
        .input("add", "/bin/busybox:/bin/busybox")
        .input("image-entrypoint", "/bin/busybox")
        .input("labels", "org.opencontainers.image.vendor=test")
        .input("workflow", "deploy.yml")
        .input("inputs", "environment=staging"))
    .await;
    let publish_time = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("version"), "staging-abc1234");
    let digest = out.output("digest").to_owned();
    assert_eq!(out.output("api-digest"), digest);
    assert_eq!(out.output("api-tag"), "staging-abc1234");
    assert_eq!(out.output("tags"), format!("{image}:staging-abc1234\n{image}:staging"));
    for tag in ["staging-abc1234", "staging"] {
        assert_eq!(pull(&reg.host, "org/api", tag).await, digest, "{tag}");
    }
    assert_eq!(pull(&reg.host, "org/api", &digest).await, digest);
    let services: serde_json::Value = serde_json::from_str(out.output("services")).unwrap();
    assert_eq!(services["api"]["tag"], "staging-abc1234");
    assert_eq!(services["api"]["images"][0], format!("{image}@{digest}"));
    let runs = fake.runs(OPS);
    assert_eq!(runs.len(), 1, "{}", out.log());
    assert_eq!(runs[0].inputs["api_image_tag"], "staging-abc1234");
    assert_eq!(runs[0].inputs["environment"], "staging");
    assert!(out.output("run-url").contains("/org/ops/actions/runs/"), "{}", out.output_file);
    assert!(out.summary.contains("| api | `"), "{}", out.summary);
    assert!(out.summary.contains(&format!("| `{digest}` |")), "{}", out.summary);
    no_secrets(&out);

    // The same image by `build` then `push`, for the timing in the README.
    let layout = tempfile::tempdir().unwrap();
    let oci = format!("oci:{}/img", layout.path().display());
    let started = Instant::now();
    let build = run(ActionRun::action()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .input("command", "build")
        .input("builder", "files")
        .input("add", "/bin/busybox:/bin/busybox")
        .input("image-entrypoint", "/bin/busybox")
        .input("output", &oci))
    .await;
    assert_eq!(build.code, 0, "{}", build.log());
    let push = run(ActionRun::action()
        .input("command", "push")
        .input("source", &oci)
        .input("destinations", &format!("{image}:sep-a,{image}:sep-b"))
        .input("username", USER)
        .input("password", PASSWORD))
    .await;
    assert_eq!(push.code, 0, "{}", push.log());
    eprintln!(
        "files publish (tags+build+push+dispatch): {publish_time:?}; build + push: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_name_the_dispatched_environment_and_an_unmapped_ref_is_not_dispatched() {
    let reg = registry();
    let (fake, _, _) = setup(Flavor::Github).await;
    let image = format!("{}/org/api", reg.host);
    let publish = |git_ref: &str| {
        push_to_main(&reg, &fake, SHA, &"1".repeat(40))
            .env("GITHUB_REF", git_ref)
            .input("tags", "type=raw,value=b-{{sha}}")
            .input("images", &image)
            .input("builder", "files")
            .input("add", "/bin/busybox:/bin/busybox")
            .input("environments", "refs/heads/main=staging\nrefs/tags/v*=production")
            .input("workflow", "deploy.yml")
            // The default input is there already when the inputs are checked, before the build.
            .input("inputs", "environment={{ environment }}\nnote={{ api_image_tag }}")
    };
    fake.add_workflow(
        OPS,
        ".github/workflows",
        "deploy.yml",
        &["api_image_tag!", "environment", "note"],
        "success",
    );
    let out = run(publish("refs/heads/main")).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("environment"), "staging");
    let runs = fake.runs(OPS);
    assert_eq!(runs.len(), 1, "{}", out.log());
    assert_eq!(runs[0].inputs["environment"], "staging");
    assert_eq!(runs[0].inputs["note"], "b-abc1234");

    let out = run(publish("refs/heads/feature/x")).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("environment"), "");
    assert!(out.log().contains("refs/heads/feature/x matches no `environments` line"), "{}", out.log());
    assert_eq!(fake.runs(OPS).len(), 1, "not dispatched: {}", out.log());
    assert!(exists(&reg, "org/api", "b-abc1234").await, "still built and pushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_builder_publish_pushes_the_engine_build() {
    let Some(engine) = docker::require() else { return };
    let image_base = engine.job_image();
    let reg = registry();
    let (fake, _, _) = setup(Flavor::Github).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("Dockerfile"), format!("FROM {image_base}\nCMD [\"echo\", \"hi\"]\n"))
        .unwrap();
    let image = format!("{}/org/web", reg.host);
    let out = run(push_to_main(&reg, &fake, SHA, &"1".repeat(40))
        .env("DOCKER_HOST", &engine.host)
        .input("images", &image)
        .input("builder", "docker")
        .input("context", &work.path().display().to_string())
        .input("pull", "false"))
    .await;
    assert_eq!(out.code, 0, "{}", out.log());
    let digest = out.output("digest");
    assert_eq!(out.output("web-digest"), digest);
    assert_eq!(pull(&reg.host, "org/web", "staging-abc1234").await, digest);
    assert_eq!(pull(&reg.host, "org/web", "staging").await, digest);
    assert!(fake.runs(OPS).is_empty(), "no workflow: no dispatch");
    assert!(!out.outputs.contains_key("run-id"));
    no_secrets(&out);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .output()
        .expect("git is installed");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Whether `repo:tag` exists in `reg` (asked with the library, authenticated).
async fn exists(reg: &TestRegistry, repo: &str, tag: &str) -> bool {
    let mut credentials = Credentials::default();
    credentials.insert(&reg.host, USER, Secret::new(PASSWORD));
    let regs = Registries::new(ClientOptions { credentials, ..ClientOptions::default() });
    regs.client(&reg.host).unwrap().manifest_digest(repo, tag).await.unwrap().is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_only_builds_and_dispatches_the_changed_service() {
    let reg = registry();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.add_workflow(OPS, ".github/workflows", "deploy.yml", &["api_image_tag", "web_image_tag"], "success");
    let repo = tempfile::tempdir().unwrap();
    let ws = repo.path();
    git(ws, &["init", "-q", "-b", "main"]);
    write(ws, "api/app.txt", "api v1\n");
    write(ws, "web/index.html", "web v1\n");
    git(ws, &["add", "."]);
    git(ws, &["commit", "-q", "-m", "one"]);
    let before = git(ws, &["rev-parse", "HEAD"]);
    write(ws, "web/index.html", "web v2\n");
    git(ws, &["commit", "-q", "-am", "two"]);
    let after = git(ws, &["rev-parse", "HEAD"]);
    let services = format!(
        "# name   paths             images\napi  add=api/:/srv/  images={h}/org/api\nweb  add=web/:/srv/www/  images={h}/org/web\n",
        h = reg.host
    );
    let changed_only = |before: &str| {
        push_to_main(&reg, &fake, &after, before)
            .env("GITHUB_WORKSPACE", &ws.display().to_string())
            .input("builder", "files")
            .input("services", &services)
            .input("changed-only", "true")
    };
    let out = run(changed_only(&before).input("workflow", "deploy.yml")).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.contains("changed-only: 1 files changed (from git diff)"), "{}", out.stdout);
    let tag = format!("staging-{}", &after[..7]);
    assert_eq!(out.output("web-tag"), tag);
    let digest = out.output("web-digest");
    assert_eq!(pull(&reg.host, "org/web", &tag).await, digest);
    assert!(!out.outputs.contains_key("api-digest"), "{:?}", out.outputs);
    assert!(!exists(&reg, "org/api", &tag).await);
    let runs = fake.runs(OPS);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].inputs.get("web_image_tag"), Some(&tag));
    assert!(!runs[0].inputs.contains_key("api_image_tag"), "{:?}", runs[0].inputs);
    assert!(out.summary.contains("Unchanged, not built: api"), "{}", out.summary);

    // Without git (as in the action's image) the push payload's file lists decide.
    let no_git = tempfile::tempdir().unwrap();
    let out = run(changed_only(&before).env("PATH", &no_git.path().display().to_string()).event(
        "push",
        &serde_json::json!({
            "ref": "refs/heads/main", "before": before, "after": after,
            "commits": [{"id": after, "added": [], "modified": ["web/index.html"], "removed": []}],
        }),
    ))
    .await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.contains("changed-only: 1 files changed (from the push payload)"), "{}", out.stdout);
    assert!(out.outputs.contains_key("web-digest") && !out.outputs.contains_key("api-digest"));

    // A new branch (`before` all zeros) builds both, in parallel.
    let out = run(changed_only(&"0".repeat(40))).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.contains("building every service: the push created the branch"), "{}", out.stdout);
    assert_eq!(pull(&reg.host, "org/api", &tag).await, out.output("api-digest"));
    no_secrets(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_build_pushes_nothing_for_it_and_dispatches_nothing() {
    let Some(engine) = docker::require() else { return };
    let reg = registry();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.add_workflow(
        OPS,
        ".github/workflows",
        "deploy.yml",
        &["good_image_tag", "bad_image_tag"],
        "success",
    );
    let ws = tempfile::tempdir().unwrap();
    write(ws.path(), "good/app.txt", "ok\n");
    write(ws.path(), "bad/Dockerfile", &format!("FROM {}\nRUN exit 3\n", engine.job_image()));
    let services = format!(
        "good builder=files add=good/app.txt:/app.txt images={h}/org/good\nbad builder=docker context=bad images={h}/org/bad\n",
        h = reg.host
    );
    let out = run(push_to_main(&reg, &fake, SHA, &"1".repeat(40))
        .env("GITHUB_WORKSPACE", &ws.path().display().to_string())
        .env("DOCKER_HOST", &engine.host)
        .input("services", &services)
        .input("pull", "false")
        .input("workflow", "deploy.yml"))
    .await;
    assert_eq!(out.code, 1, "{}", out.log());
    let log = out.log();
    assert!(
        log.contains("service bad: build failed: Step 2/") && log.contains(" : RUN exit 3 failed"),
        "{log}"
    );
    assert!(log.contains("published: good (sha256:"), "{log}");
    assert!(log.contains("nothing was dispatched"), "{log}");
    for tag in ["staging-abc1234", "staging"] {
        assert!(!exists(&reg, "org/bad", tag).await, "{tag}");
    }
    assert!(fake.runs(OPS).is_empty());
    assert!(out.summary.contains("| bad | failed: build failed"), "{}", out.summary);
    // Built at once, each service's log is one group: no line of one inside the other's.
    let group = |name: &str| -> Vec<String> {
        let lines: Vec<&str> = out.stdout.lines().collect();
        let start = lines.iter().position(|l| l.starts_with(&format!("::group::{name} ("))).expect(name);
        let end = start + lines[start..].iter().position(|l| *l == "::endgroup::").unwrap();
        lines[start + 1..end].iter().map(|l| l.to_string()).collect()
    };
    let (good, bad) = (group("good"), group("bad"));
    assert!(
        good.iter().any(|l| l.starts_with("good: built")) && !good.iter().any(|l| l.starts_with("bad:")),
        "{good:?}"
    );
    assert!(
        bad.iter().any(|l| l.starts_with("bad: building")) && !bad.iter().any(|l| l.starts_with("good:")),
        "{bad:?}"
    );
    assert!(out.stdout.contains("::group::bad (failed)"), "{}", out.stdout);
    no_secrets(&out);
}

#[test]
fn bad_inputs_fail_before_anything_is_built() {
    let base = || {
        ActionRun::action()
            .env("GITHUB_REF", "refs/heads/main")
            .env("GITHUB_SHA", SHA)
            .input("command", "publish")
            .input("tags", RULES)
            .input("builder", "files")
            .input("add", "/bin/busybox:/bin/busybox")
    };
    let cases = [
        (base().input("services", "api images=127.0.0.1:1/org/api colour=red"), "invalid input `services`"),
        (base(), "invalid input `images`"),
        (base().input("images", "127.0.0.1:1/org/api").input("service", "API"), "invalid input `service`"),
        (
            base()
                .input("images", "127.0.0.1:1/org/api")
                .input("workflow", "deploy.yml")
                .input("repository", OPS),
            "invalid input `token`",
        ),
        (
            base().input("images", "127.0.0.1:1/org/api").input("tags", "type=semver,pattern={{version}}"),
            "invalid input `tags`",
        ),
    ];
    for (run, expected) in cases {
        let out = run.run();
        assert_eq!(out.code, 2, "{expected}: {}", out.log());
        assert!(out.stdout.contains(expected), "{expected}: {}", out.stdout);
        assert!(!out.stdout.contains("building"), "{}", out.stdout);
    }
}
