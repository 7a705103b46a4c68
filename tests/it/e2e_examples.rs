//! Every example is a test (issue 11): act runs each file of `workflows/` and
//! `workflows/forgejo/` byte for byte (only the forge's API URL, the registry address and the
//! action image are localized, see `support/e2e.rs`) against the fake of the forge it is
//! written for, with job tokens scoped as its `permissions:` grant, and each test asserts what
//! the workflow is for: the versions files, the registry, the dispatch, what runs on the VM.
//!
//! Covered elsewhere: `deploy.yml`, `service-ci.yml` and `rollback.yml` with `to: api=<tag>`
//! (e2e_release.rs, e2e.rs), `forgejo/deploy.yml` and `forgejo/approve.yml` (e2e_approval.rs).
//! Here: `promote.yml`, `rollback.yml` (`to: previous`) and `status.yml` on GitHub and Forgejo
//! (Forgejo's through the approval issue and `forgejo/approve.yml`), `approve.yml` on GitHub,
//! `service-publish.yml`, `metadata-action-compatible.yml` and `forgejo/service-ci.yml`.

use crate::e2e_release::{configured, secs};
use crate::support::e2e::{
    Orchestration, REGISTRY_PASSWORD, REGISTRY_USER, Service, Stack, Timed, example, versions_file,
};
use crate::support::fake_forge::Flavor;
use crate::support::registry::pull_and_verify;
use crate::support::vm::{self, Vm};
use std::time::{Duration, Instant};

const OPS: &str = "org/ops";
const ACT_TIMEOUT: Duration = Duration::from_secs(300);
/// What production (and the VM) runs at first.
const PROD: &str = "v0.9.0";
/// What staging records: a different build of each service.
const STAGING_API: &str = "staging-1111111";
const STAGING_DASHBOARD: &str = "staging-2222222";
/// The version `promote.yml` is dispatched with.
const VERSION: &str = "v1.0.0";

fn versions(api: &str, dashboard: &str) -> String {
    format!("# what runs where\nAPI_IMAGE_TAG={api}\nDASHBOARD_IMAGE_TAG={dashboard}\n")
}

fn digest(stack: &Stack, service: &str, tag: &str) -> String {
    let creds = Some((REGISTRY_USER, REGISTRY_PASSWORD));
    pull_and_verify(&stack.registry.host, &format!("org/{service}"), tag, creds)
}

/// The VM on `PROD`, staging's builds in the registry, and `org/ops` with production and dev
/// on their own versions (every environment records different tags) and the example
/// `workflows/<first>` configured for the VM.
fn orchestration(stack: &Stack, first: &str) -> (Vm, Orchestration) {
    let vm = Vm::start(stack, PROD);
    for (service, tag) in [("api", STAGING_API), ("dashboard", STAGING_DASHBOARD)] {
        vm.push_image(&stack.registry.host, service, tag, &format!("ok {service} {tag}"));
    }
    let ops = configured(stack, &vm, Orchestration::example(stack, OPS, first, &versions(PROD, PROD)));
    stack.forge.put_file(OPS, &versions_file("staging"), &versions(STAGING_API, STAGING_DASHBOARD));
    stack.forge.put_file(OPS, &versions_file("dev"), &versions("dev-3333333", "dev-4444444"));
    (vm, ops)
}

/// Runs the one pending dispatch of `o`; panics when it fails.
fn run_one(stack: &Stack, o: &Orchestration) -> Timed {
    let mut ran = o.run_dispatched(stack, ACT_TIMEOUT);
    assert_eq!(ran.len(), 1, "one dispatch of {}", o.workflow);
    ran.pop().unwrap().timed
}

fn assert_runs(stack: &Stack, vm: &Vm, tag: &str, health: [&str; 2]) {
    let containers = vm.containers();
    for (service, body) in ["api", "dashboard"].into_iter().zip(health) {
        let image = format!("{}/org/{service}:{tag}", stack.registry.host);
        assert_eq!(containers[service].1, image, "{containers:?}");
        vm.wait_health(service, body, Duration::from_secs(5));
    }
}

fn assert_records(stack: &Stack, environment: &str, api: &str, dashboard: &str) {
    let file = stack.forge.file(OPS, &versions_file(environment)).unwrap();
    assert!(file.contains(&format!("\nAPI_IMAGE_TAG={api}\n")), "{environment}: {file}");
    assert!(file.contains(&format!("\nDASHBOARD_IMAGE_TAG={dashboard}\n")), "{environment}: {file}");
}

/// staging's builds, promoted: the same digests now also tagged `VERSION`.
fn assert_retagged(stack: &Stack) {
    for (service, tag) in [("api", STAGING_API), ("dashboard", STAGING_DASHBOARD)] {
        assert_eq!(digest(stack, service, VERSION), digest(stack, service, tag), "{service}:{VERSION}");
    }
}

/// status.yml's job summary (act prints it after the step) has one row per environment and
/// the step's log one block, each with that environment's own versions.
fn assert_status_rows(log: &str, production: &str) {
    for (environment, versions) in [
        ("dev", "api dev-3333333, dashboard dev-4444444".to_owned()),
        ("staging", format!("api {STAGING_API}, dashboard {STAGING_DASHBOARD}")),
        ("production", format!("api {production}, dashboard {production}")),
    ] {
        let row = format!("\n| {environment} | {versions} |");
        assert!(log.contains(&row), "no summary row {row:?} in:\n{log}");
        let block = format!("| {environment} ({})", versions_file(environment));
        assert!(log.contains(&block), "no {block} in:\n{log}");
        assert!(log.contains(&format!("|   versions: {versions}\n")), "{environment}: {log}");
    }
}

const HEALTH_STAGING: [&str; 2] = ["ok api staging-1111111", "ok dashboard staging-2222222"];
const HEALTH_PROD: [&str; 2] = ["ok api v0.9.0", "ok dashboard v0.9.0"];

/// GitHub: promote.yml takes staging's builds to production (tagged `v1.0.0`, production's
/// required reviewers protect it), rollback.yml `to: previous` puts production back on what it
/// ran before, and status.yml reports every environment's own versions (its JSON through jq).
#[test]
fn github_promote_then_rollback_to_previous_then_status() {
    if !vm::available() {
        return;
    }
    let Some(stack) = Stack::start() else { return };
    let (vm, promote) = orchestration(&stack, "promote.yml");
    let rollback = configured(&stack, &vm, Orchestration::another_example(&stack, OPS, "rollback.yml"));
    let status = Orchestration::another_example(&stack, OPS, "status.yml");
    stack.forge.seed_environment(OPS, "production", &["alice"], 0);

    let start = Instant::now();
    promote.dispatch(&stack, &format!("tag={VERSION}"));
    let promoted = run_one(&stack, &promote);
    let log = &promoted.outcome.log;
    assert!(log.contains("environment protection: required reviewers alice"), "{log}");
    assert_retagged(&stack);
    assert_records(&stack, "production", VERSION, VERSION);
    assert_records(&stack, "staging", STAGING_API, STAGING_DASHBOARD);
    assert_runs(&stack, &vm, VERSION, HEALTH_STAGING);
    let promote_time = start.elapsed();

    let start = Instant::now();
    rollback.dispatch(&stack, "to=previous\nenvironment=production");
    let rolled = run_one(&stack, &rollback);
    assert!(rolled.outcome.log.contains(&format!("previous versions of {}", versions_file("production"))));
    assert_records(&stack, "production", PROD, PROD);
    assert_records(&stack, "staging", STAGING_API, STAGING_DASHBOARD);
    assert_runs(&stack, &vm, PROD, HEALTH_PROD);
    let history = stack.forge.history(OPS, &versions_file("production"));
    assert_eq!(history.len(), 3, "seed, promote, rollback: {history:#?}");
    assert!(history[0].starts_with("rollback"), "{history:#?}");
    let deployments = stack.forge.deployments(OPS);
    let production: Vec<_> = deployments.iter().filter(|d| d.2 == "production").collect();
    assert_eq!(production.len(), 2, "{deployments:?}");
    assert_eq!(production[1].3.last().map(String::as_str), Some("success"), "{deployments:?}");
    let rollback_time = start.elapsed();

    let start = Instant::now();
    status.dispatch(&stack, "");
    let reported = run_one(&stack, &status);
    let log = &reported.outcome.log;
    assert_status_rows(log, PROD);
    // The workflow's own step reads the `status` output with jq: one line per environment.
    assert!(log.contains("dev: api dev-3333333, dashboard dev-4444444"), "{log}");
    assert!(log.contains(&format!("staging: api {STAGING_API}, dashboard {STAGING_DASHBOARD}")), "{log}");
    assert!(log.contains(&format!("production: api {PROD}, dashboard {PROD}")), "{log}");
    assert!(log.contains(&format!("deployment: #{} success", production[1].0)), "{log}");
    eprintln!(
        "e2e examples on GitHub: promote.yml {} (act {}), rollback.yml to previous {} (act {}), status.yml {} (act {})",
        secs(promote_time),
        secs(promoted.outcome.elapsed),
        secs(rollback_time),
        secs(rolled.outcome.elapsed),
        secs(start.elapsed()),
        secs(reported.outcome.elapsed),
    );
}

/// GitHub without environment protection on production: with the variable APPROVAL_MODE set to
/// `resume`, deploy.yml ends after opening the approval issue (signed by the job token's
/// github-actions[bot]), and approve.yml on an approver's `/approve` comment deploys it.
#[test]
fn github_approve_yml_continues_a_release_left_on_the_approval_issue() {
    if !vm::available() {
        return;
    }
    let Some(stack) = Stack::start() else { return };
    let (vm, mut deploy) = orchestration(&stack, "deploy.yml");
    deploy.vars.push(("APPROVAL_MODE".into(), "resume".into()));
    let approve = configured(&stack, &vm, Orchestration::another_example(&stack, OPS, "approve.yml"));
    vm.push_image(&stack.registry.host, "api", VERSION, &format!("ok api {VERSION}"));
    let before = vm.containers();

    let start = Instant::now();
    deploy.dispatch(&stack, &format!("api_image_tag={VERSION}\nenvironment=production"));
    let release = run_one(&stack, &deploy);
    let log = &release.outcome.log;
    assert!(log.contains("state=awaiting-approval"), "{log}");
    let issues = stack.forge.issues(OPS);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!((issues[0].state.as_str(), issues[0].author.as_str()), ("open", "github-actions[bot]"));
    assert_eq!(vm.containers(), before, "nothing deployed before the approval");
    assert_records(&stack, "production", PROD, PROD);

    // Not an approver: the run is ignored and changes nothing.
    let ignored = approve.comment(&stack, "mallory", "/approve", ACT_TIMEOUT);
    assert!(ignored.outcome.log.contains("state=ignored"), "{}", ignored.outcome.log);
    assert_eq!(stack.forge.issues(OPS)[0].state, "open");
    assert_eq!(vm.containers(), before);
    let approved = approve.comment(&stack, "alice", "/approve", ACT_TIMEOUT);
    assert!(approved.outcome.success, "{}", approved.outcome.log);
    let after = vm.containers();
    assert_eq!(after["api"].1, format!("{}/org/api:{VERSION}", stack.registry.host), "{after:?}");
    assert_eq!(after["dashboard"], before["dashboard"], "dashboard was not part of the release");
    vm.wait_health("api", &format!("ok api {VERSION}"), Duration::from_secs(5));
    assert_eq!(stack.forge.issues(OPS)[0].state, "closed");
    assert_records(&stack, "production", VERSION, PROD);
    let deployments = stack.forge.deployments(OPS);
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    assert_eq!(deployments[0].2, "production");
    assert_eq!(deployments[0].3.last().map(String::as_str), Some("success"), "{deployments:?}");
    eprintln!(
        "e2e examples on GitHub: deploy.yml (resume) + approve.yml twice {} (act {} + {} + {})",
        secs(start.elapsed()),
        secs(release.outcome.elapsed),
        secs(ignored.outcome.elapsed),
        secs(approved.outcome.elapsed),
    );
}

/// Forgejo: promote.yml and rollback.yml (`to: previous`) open the approval issue and end;
/// approve.yml deploys each on an approver's `/approve`; status.yml reports every environment.
#[test]
fn forgejo_promote_and_rollback_through_the_approval_issue_then_status() {
    if !vm::available() {
        return;
    }
    let Some(stack) = Stack::start_flavor(Flavor::Forgejo) else { return };
    let (vm, promote) = orchestration(&stack, "forgejo/promote.yml");
    let rollback =
        configured(&stack, &vm, Orchestration::another_example(&stack, OPS, "forgejo/rollback.yml"));
    let approve = configured(&stack, &vm, Orchestration::another_example(&stack, OPS, "forgejo/approve.yml"));
    let status = Orchestration::another_example(&stack, OPS, "forgejo/status.yml");
    let before = vm.containers();

    let start = Instant::now();
    promote.dispatch(&stack, &format!("tag={VERSION}"));
    let asked = run_one(&stack, &promote);
    assert!(asked.outcome.log.contains("state=awaiting-approval"), "{}", asked.outcome.log);
    assert_retagged(&stack);
    assert_eq!(vm.containers(), before, "nothing deployed before the approval");
    assert_records(&stack, "production", PROD, PROD);
    let approved = approve.comment(&stack, "alice", "/approve", ACT_TIMEOUT);
    assert!(approved.outcome.success, "{}", approved.outcome.log);
    assert_records(&stack, "production", VERSION, VERSION);
    assert_runs(&stack, &vm, VERSION, HEALTH_STAGING);
    let promote_time = start.elapsed();

    let start = Instant::now();
    rollback.dispatch(&stack, "to=previous\nenvironment=production");
    let asked_back = run_one(&stack, &rollback);
    assert!(asked_back.outcome.log.contains("state=awaiting-approval"), "{}", asked_back.outcome.log);
    let issues = stack.forge.issues(OPS);
    assert_eq!(issues.len(), 2, "{issues:#?}");
    assert!(issues[1].body.contains(PROD), "the rollback asks for {PROD}: {}", issues[1].body);
    let approved_back = approve.comment(&stack, "alice", "/approve", ACT_TIMEOUT);
    assert!(approved_back.outcome.success, "{}", approved_back.outcome.log);
    assert_records(&stack, "production", PROD, PROD);
    assert_records(&stack, "staging", STAGING_API, STAGING_DASHBOARD);
    assert_runs(&stack, &vm, PROD, HEALTH_PROD);
    assert!(stack.forge.issues(OPS).iter().all(|i| i.state == "closed"));
    let history = stack.forge.history(OPS, &versions_file("production"));
    assert_eq!(history.len(), 3, "seed, promote, rollback: {history:#?}");
    assert!(history[0].starts_with("rollback"), "{history:#?}");
    let rollback_time = start.elapsed();

    let start = Instant::now();
    status.dispatch(&stack, "");
    let reported = run_one(&stack, &status);
    assert_status_rows(&reported.outcome.log, PROD);
    assert!(reported.outcome.log.contains("deployment: none on this forge"), "{}", reported.outcome.log);
    eprintln!(
        "e2e examples on Forgejo: promote.yml + approve.yml {} (act {} + {}), rollback.yml to previous + \
         approve.yml {} (act {} + {}), status.yml {} (act {})",
        secs(promote_time),
        secs(asked.outcome.elapsed),
        secs(approved.outcome.elapsed),
        secs(rollback_time),
        secs(asked_back.outcome.elapsed),
        secs(approved_back.outcome.elapsed),
        secs(start.elapsed()),
        secs(reported.outcome.elapsed),
    );
}

/// The service side on GitHub: service-publish.yml on a push to main builds the Dockerfile,
/// pushes `staging-<sha>` and `staging` and dispatches deploy.yml; metadata-action-compatible.yml
/// on a `v1.2.3` tag computes metadata-action's tags and labels.
#[test]
fn github_service_publish_and_metadata_action_compatible() {
    let Some(stack) = Stack::start() else { return };
    let ops = Orchestration::example(&stack, OPS, "deploy.yml", &versions(PROD, PROD));

    let start = Instant::now();
    let api = Service::new(&stack, "org/api", &example("service-publish.yml"));
    let (sha, published) = api.push(&stack, "publish", ACT_TIMEOUT);
    let tag = format!("staging-{}", &sha[..7]);
    let built = digest(&stack, "api", &tag);
    assert_eq!(digest(&stack, "api", "staging"), built);
    assert!(published.outcome.log.contains(&built), "{}", published.outcome.log);
    let runs = ops.pending(&stack);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].workflow, "deploy.yml");
    assert_eq!(runs[0].inputs.get("api_image_tag"), Some(&tag), "{runs:#?}");
    assert_eq!(runs[0].inputs.get("environment").map(String::as_str), Some("staging"));
    let publish_time = start.elapsed();

    let start = Instant::now();
    let web = Service::new(&stack, "org/web", &example("metadata-action-compatible.yml"));
    let short = &web.repo.head_sha()[..7];
    let mut run = web.push_run(ACT_TIMEOUT);
    run.payload = Some(serde_json::json!({
        "ref": "refs/tags/v1.2.3",
        "repository": { "full_name": "org/web", "default_branch": "main" },
    }));
    let meta = stack.act(&web.repo, run);
    let log = &meta.outcome.log;
    let image = format!("{}/org/web", stack.registry.host);
    for t in ["1.2.3", "1.2", &format!("sha-{short}"), "latest"] {
        assert!(log.contains(&format!("| {image}:{t}")), "no {image}:{t} in:\n{log}");
    }
    assert!(!log.contains(&format!("{image}:main")), "no branch tag on a tag push:\n{log}");
    assert!(log.contains("version: 1.2.3"), "{log}");
    assert!(log.contains("org.opencontainers.image.version=1.2.3"), "{log}");
    assert!(log.contains(&format!("org.opencontainers.image.revision={}", web.repo.head_sha())), "{log}");
    eprintln!(
        "e2e examples on GitHub: service-publish.yml {} (act {}), metadata-action-compatible.yml {} (act {})",
        secs(publish_time),
        secs(published.outcome.elapsed),
        secs(start.elapsed()),
        secs(meta.outcome.elapsed),
    );
}

/// forgejo/service-ci.yml on a push to main: the tags job, then publish pushes `staging-<sha>`
/// and `staging` to the registry and dispatches deploy.yml with a personal token.
#[test]
fn forgejo_service_ci_builds_pushes_and_dispatches() {
    let Some(stack) = Stack::start_flavor(Flavor::Forgejo) else { return };
    let start = Instant::now();
    let ops = Orchestration::example(&stack, OPS, "forgejo/deploy.yml", &versions(PROD, PROD));
    let api = Service::new(&stack, "org/api", &example("forgejo/service-ci.yml"));
    let (sha, ci) = api.push(&stack, "forgejo", ACT_TIMEOUT);
    let tag = format!("staging-{}", &sha[..7]);
    let built = digest(&stack, "api", &tag);
    assert_eq!(digest(&stack, "api", "staging"), built);
    let runs = ops.pending(&stack);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].inputs.get("api_image_tag"), Some(&tag), "{runs:#?}");
    assert_eq!(runs[0].inputs.get("environment").map(String::as_str), Some("staging"));
    eprintln!(
        "e2e examples on Forgejo: service-ci.yml {} (act {}: action steps {})",
        secs(start.elapsed()),
        secs(ci.outcome.elapsed),
        secs(ci.steps_total()),
    );
}
