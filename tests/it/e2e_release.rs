//! End to end in a real runner, from a push to a verified deployment and back (issue 6): act
//! runs the shipped workflows (`workflows/service-ci.yml` → `publish`; `workflows/deploy.yml`
//! → `release` with `target: compose-ssh`; `workflows/rollback.yml` → `rollback`) against the
//! test engine, the local registry, the fake forge and a real sshd standing in for the VM
//! (`support/vm.rs`: compose v1 on the test engine, services `api` and `dashboard`).
//!
//! `e2e_demo_…` is what `make demo` runs: scenarios 1 and 3 with a narrative on stderr.

use crate::support::ActionRun;
use crate::support::e2e::{
    DISPATCH_TOKEN, Orchestration, REGISTRY_PASSWORD, REGISTRY_USER, Ran, Service, Stack, Timed, example,
    versions_file,
};
use crate::support::fake_forge::state::FaultKind;
use crate::support::registry::pull_and_verify;
use crate::support::vm::{self, Vm};
use std::time::{Duration, Instant};

const OPS: &str = "org/ops";
const ACT_TIMEOUT: Duration = Duration::from_secs(300);
const OLD: &str = "staging-0000000";
const SEED: &str = "# what runs where\nAPI_IMAGE_TAG=staging-0000000\nDASHBOARD_IMAGE_TAG=staging-0000000\n";

/// The stack, the VM running `OLD` of both services, and the orchestration repository with
/// the example deploy workflow configured for the VM.
pub struct World {
    pub stack: Stack,
    pub vm: Vm,
    pub ops: Orchestration,
    narrate: bool,
}

impl World {
    pub fn start(narrate: bool) -> Option<World> {
        if !vm::available() {
            return None;
        }
        let stack = Stack::start()?;
        let vm = Vm::start(&stack, OLD);
        let ops = configured(&stack, &vm, Orchestration::example(&stack, OPS, "deploy.yml", SEED));
        let w = World { stack, vm, ops, narrate };
        w.say(&format!(
            "stack up: registry {}, fake forge {}, VM sshd 127.0.0.1:{} with compose project {} \
             (api and dashboard on {OLD})",
            w.stack.registry.host,
            w.stack.forge.api_url(),
            w.vm.sshd.port,
            w.vm.project.display()
        ));
        Some(w)
    }

    fn say(&self, what: &str) {
        if self.narrate {
            eprintln!("\n== {what}");
        }
    }

    /// In the demo, keeps act's log of a run in `DEMO_LOG_DIR` and says where.
    fn keep_log(&self, name: &str, timed: &Timed) {
        let Some(dir) = std::env::var_os("DEMO_LOG_DIR").filter(|_| self.narrate) else { return };
        let path = std::path::Path::new(&dir).join(format!("{name}.log"));
        if std::fs::write(&path, &timed.outcome.log).is_ok() {
            self.say(&format!("act's log of {name}: {}", path.display()));
        }
    }

    /// A service repository with the example CI workflow, publishing `service`.
    pub fn service(&self, service: &str) -> Service {
        let ci = example("service-ci.yml").replace("service: api", &format!("service: {service}"));
        Service::new(&self.stack, &format!("org/{service}"), &ci)
    }

    fn image(&self, service: &str, tag: &str) -> String {
        format!("{}/org/{service}:{tag}", self.stack.registry.host)
    }

    fn deployment_states(&self) -> Vec<(String, Vec<String>)> {
        self.stack.forge.deployments(OPS).into_iter().map(|(_, _, env, states)| (env, states)).collect()
    }

    /// Scenario 1: a push to `api`'s main publishes `staging-<sha>` and dispatches; the
    /// release runs it on the VM. Returns the new tag and the times of both act runs.
    pub fn push_and_release(&self, change: &str) -> (String, Timed, Ran) {
        let api = self.service("api");
        let before = self.vm.containers();
        let (sha, ci) = api.push(&self.stack, change, ACT_TIMEOUT);
        let tag = format!("staging-{}", &sha[..7]);
        let creds = Some((REGISTRY_USER, REGISTRY_PASSWORD));
        let digest = pull_and_verify(&self.stack.registry.host, "org/api", &tag, creds);
        assert!(ci.outcome.log.contains(&digest), "{}", ci.outcome.log);
        self.say(&format!(
            "push to org/api main ({}): publish built and pushed {} ({digest}) and dispatched deploy.yml",
            &sha[..7],
            self.image("api", &tag)
        ));
        self.keep_log("1-service-ci", &ci);
        let runs = self.ops.pending(&self.stack);
        assert_eq!(runs.len(), 1, "one dispatch: {runs:#?}");
        assert_eq!(runs[0].inputs.get("api_image_tag"), Some(&tag), "{runs:#?}");
        assert_eq!(runs[0].inputs.get("environment").map(String::as_str), Some("staging"));
        self.say(&format!(
            "dispatch recorded by the forge: run {} with inputs {:?}",
            runs[0].id, runs[0].inputs
        ));

        let ran = self.ops.run_dispatched(&self.stack, ACT_TIMEOUT).pop().unwrap();
        self.keep_log("2-deploy", &ran.timed);
        let key = self.vm.sshd.client_key_text();
        for line in key.lines().filter(|l| l.len() > 20 && !l.starts_with("-----")) {
            assert!(
                !ran.timed.outcome.log.contains(line),
                "a line of the ssh key leaked:\n{}",
                ran.timed.outcome.log
            );
        }
        let file = self.stack.forge.file(OPS, &versions_file("staging")).unwrap();
        assert!(file.contains(&format!("\nAPI_IMAGE_TAG={tag}\n")), "{file}");
        let history = self.stack.forge.history(OPS, &versions_file("staging"));
        assert!(history[0].starts_with("deploy: api "), "{history:#?}");
        self.say(&format!(
            "release committed .env.versions in org/ops: \"{}\"",
            history[0].lines().next().unwrap_or_default()
        ));

        let after = self.vm.containers();
        assert_eq!(after["api"].1, self.image("api", &tag), "{after:?}");
        assert_ne!(after["api"].0, before["api"].0, "api was not recreated");
        assert_eq!(after["dashboard"], before["dashboard"], "dashboard was recreated");
        assert_eq!(self.vm.health("api").as_deref(), Some(format!("ok {change}").as_str()));
        self.say(&format!(
            "compose on the VM runs {} (container {}); GET {}/health -> {:?}",
            after["api"].1,
            after["api"].0,
            format_args!("http://127.0.0.1:{}", self.vm.ports["api"]),
            self.vm.health("api").unwrap_or_default()
        ));
        let states = self.deployment_states();
        let last = states.last().unwrap();
        assert_eq!(last.0, "staging");
        assert_eq!(last.1.last().map(String::as_str), Some("success"), "{states:?}");
        self.say(&format!("GitHub deployment to staging: {}", last.1.join(" → ")));
        (tag, ci, ran)
    }

    /// Scenario 3: `rollback.yml` dispatched by hand with `to: api=<tag>`; the VM runs `tag`
    /// again and its `/health` says so.
    pub fn roll_back_to(&self, tag: &str, health: &str) -> Ran {
        let rollback = configured(
            &self.stack,
            &self.vm,
            Orchestration::another_example(&self.stack, OPS, "rollback.yml"),
        );
        let out = ActionRun::cli([
            "dispatch",
            "--repository",
            OPS,
            "--workflow",
            "rollback.yml",
            "--ref",
            "main",
            "--inputs",
            &format!("to=api={tag}\nenvironment=staging"),
            "--token",
            DISPATCH_TOKEN,
            "--api-url",
            &self.stack.forge.api_url(),
            "--forge",
            "github",
        ])
        .run();
        assert_eq!(out.code, 0, "{}", out.log());
        self.say(&format!("dispatched rollback.yml with to=api={tag} (as the Run workflow button does)"));
        let ran = rollback.run_dispatched(&self.stack, ACT_TIMEOUT).pop().unwrap();
        self.keep_log("3-rollback", &ran.timed);
        let containers = self.vm.containers();
        assert_eq!(containers["api"].1, self.image("api", tag), "{containers:?}");
        self.vm.wait_health("api", health, Duration::from_secs(5));
        let file = self.stack.forge.file(OPS, &versions_file("staging")).unwrap();
        assert!(file.contains(&format!("\nAPI_IMAGE_TAG={tag}\n")), "{file}");
        let history = self.stack.forge.history(OPS, &versions_file("staging"));
        self.say(&format!(
            "rollback committed {:?}; the VM runs {} again (container {}); GET /health -> {health:?}",
            history[0].lines().next().unwrap_or_default(),
            containers["api"].1,
            containers["api"].0
        ));
        let states = self.deployment_states();
        assert_eq!(states.last().unwrap().1.last().map(String::as_str), Some("success"), "{states:?}");
        ran
    }

    fn where_to_look(&self) {
        let compose = std::fs::read_to_string(self.vm.project.join("docker-compose.yml")).unwrap_or_default();
        let history = self.stack.forge.history(OPS, &versions_file("staging"));
        let subjects: Vec<&str> = history.iter().filter_map(|m| m.lines().next()).collect();
        self.say(&format!(
            "where to look: act's logs in DEMO_LOG_DIR (target/demo/ with make demo); the workflows that \
             ran: workflows/service-ci.yml, deploy.yml, rollback.yml; everything else lived on loopback \
             and is gone now.\nThe VM's docker-compose.yml:\n{compose}\norg/ops .env.versions now:\n{}\
             \nits history (newest first): {subjects:#?}",
            self.stack.forge.file(OPS, &versions_file("staging")).unwrap_or_default()
        ));
    }
}

/// The orchestration workflow's variables and secrets for the VM (short health timeout).
pub fn configured(stack: &Stack, vm: &Vm, mut o: Orchestration) -> Orchestration {
    let _ = stack;
    o.vars = vm.vars();
    o.vars.push(("HEALTH_TIMEOUT".into(), "10".into()));
    o.secrets = vm.secrets();
    o
}

pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn report(scenario: &str, wall: Duration, runs: &[&Timed]) {
    let action: Duration = runs.iter().map(|t| t.action_total()).sum();
    let steps: Duration = runs.iter().map(|t| t.steps_total()).sum();
    let acts: Vec<String> = runs.iter().map(|t| secs(t.outcome.elapsed)).collect();
    eprintln!(
        "e2e scenario {scenario}: wall {}; act runs {}; action containers running {} (act's step times {})",
        secs(wall),
        acts.join(" + "),
        secs(action),
        secs(steps)
    );
}

#[test]
fn push_publishes_and_the_release_runs_the_new_container_on_the_vm() {
    let Some(w) = World::start(false) else { return };
    let start = Instant::now();
    let (_, ci, ran) = w.push_and_release("api v2");
    let history = w.stack.forge.history(OPS, &versions_file("staging"));
    assert_eq!(history.len(), 2, "seed + one commit: {history:#?}");
    assert_eq!(w.deployment_states().len(), 1);
    assert_eq!(ci.steps.len(), 2, "tags, publish");
    report("1 push → publish → release (compose-ssh)", start.elapsed(), &[&ci, &ran.timed]);
}

#[test]
fn rollback_by_dispatching_the_old_tag_runs_the_old_container_again() {
    let Some(w) = World::start(false) else { return };
    let (_, _, _) = w.push_and_release("api v2");
    let start = Instant::now();
    let ran = w.roll_back_to(OLD, &format!("ok api {OLD}"));
    assert_eq!(w.stack.forge.history(OPS, &versions_file("staging")).len(), 3);
    report("3 rollback.yml to the old tag", start.elapsed(), &[&ran.timed]);
}

#[test]
fn e2e_demo_push_release_and_rollback() {
    let Some(w) = World::start(true) else { return };
    let start = Instant::now();
    let (tag, ci, ran) = w.push_and_release("api v2");
    report("1 push → publish → release (compose-ssh)", start.elapsed(), &[&ci, &ran.timed]);
    let start = Instant::now();
    let back = w.roll_back_to(OLD, &format!("ok api {OLD}"));
    report("3 rollback.yml to the old tag", start.elapsed(), &[&back.timed]);
    w.say(&format!("done: api went {OLD} → {tag} → {OLD}, each step checked by /health"));
    w.where_to_look();
}

#[test]
fn a_broken_release_is_rolled_back_to_the_old_container_and_tag() {
    let Some(w) = World::start(false) else { return };
    let start = Instant::now();
    let before = w.vm.containers();
    // The new image's /health answers without the `health-body` text (`ok`).
    let (sha, ci) = w.service("api").push_health(&w.stack, "starting", "broken health", ACT_TIMEOUT);
    let tag = format!("staging-{}", &sha[..7]);
    let ran = w.ops.try_run_dispatched(&w.stack, ACT_TIMEOUT).pop().unwrap();
    let log = &ran.timed.outcome.log;
    assert!(!ran.timed.outcome.success, "the release step must fail:\n{log}");
    assert!(log.contains("health check failed"), "{log}");
    assert!(log.contains(&format!("rolled back to api {OLD}")), "{log}");

    let after = w.vm.containers();
    assert_eq!(after["api"].1, w.image("api", OLD), "{after:?}");
    assert_ne!(after["api"].0, before["api"].0, "the old version runs in a new container");
    assert_eq!(after["dashboard"], before["dashboard"]);
    w.vm.wait_health("api", &format!("ok api {OLD}"), Duration::from_secs(5));
    assert!(w.vm.live_env().contains(&format!("API_IMAGE_TAG={OLD}\n")), "{}", w.vm.live_env());

    let file = w.stack.forge.file(OPS, &versions_file("staging")).unwrap();
    assert!(file.starts_with(SEED), "the old tag is recorded again: {file}");
    let history = w.stack.forge.history(OPS, &versions_file("staging"));
    assert_eq!(history.len(), 3, "seed, the release, the rollback: {history:#?}");
    assert!(history[1].contains(&tag), "{history:#?}");
    assert!(history[0].contains("automatic"), "{history:#?}");
    let states = w.deployment_states();
    assert_eq!(states.len(), 1, "{states:?}");
    assert_eq!(states[0].1.last().map(String::as_str), Some("failure"), "{states:?}");
    report("2 broken release → automatic rollback", start.elapsed(), &[&ci, &ran.timed]);
}

#[test]
fn two_services_released_at_once_both_land_and_both_containers_run() {
    let Some(w) = World::start(false) else { return };
    let start = Instant::now();
    let before = w.vm.containers();
    let (api, dashboard) = (w.service("api"), w.service("dashboard"));
    let ((api_sha, api_ci), (dash_sha, dash_ci)) = std::thread::scope(|s| {
        let a = s.spawn(|| api.push(&w.stack, "api v2", ACT_TIMEOUT));
        let d = s.spawn(|| dashboard.push(&w.stack, "dashboard v2", ACT_TIMEOUT));
        (a.join().unwrap(), d.join().unwrap())
    });
    let api_tag = format!("staging-{}", &api_sha[..7]);
    let dash_tag = format!("staging-{}", &dash_sha[..7]);
    assert_eq!(w.ops.pending(&w.stack).len(), 2);
    // Both runs read `.env.versions` before either writes, so one write conflicts and is
    // re-applied on the other's commit.
    w.stack.forge.inject(
        Some("GET"),
        "/contents/deploy/staging/.env.versions",
        2,
        FaultKind::DelayAfterHandling(3000),
    );
    let ran = w.ops.run_dispatched(&w.stack, ACT_TIMEOUT);
    assert_eq!(ran.len(), 2);

    let file = w.stack.forge.file(OPS, &versions_file("staging")).unwrap();
    assert!(file.contains(&format!("\nAPI_IMAGE_TAG={api_tag}\n")), "{file}");
    assert!(file.contains(&format!("\nDASHBOARD_IMAGE_TAG={dash_tag}\n")), "{file}");
    let history = w.stack.forge.history(OPS, &versions_file("staging"));
    assert_eq!(history.len(), 3, "seed + one commit per release: {history:#?}");
    let after = w.vm.containers();
    assert_eq!(after["api"].1, w.image("api", &api_tag), "{after:?}");
    assert_eq!(after["dashboard"].1, w.image("dashboard", &dash_tag), "{after:?}");
    // The host's env file has both tags too (each deploy merged only its own).
    let live = w.vm.live_env();
    assert!(live.contains(&format!("API_IMAGE_TAG={api_tag}\n")), "{live}");
    assert!(live.contains(&format!("DASHBOARD_IMAGE_TAG={dash_tag}\n")), "{live}");
    assert_ne!(after["api"].0, before["api"].0);
    assert_ne!(after["dashboard"].0, before["dashboard"].0);
    w.vm.wait_health("api", "ok api v2", Duration::from_secs(5));
    w.vm.wait_health("dashboard", "ok dashboard v2", Duration::from_secs(5));
    let states = w.deployment_states();
    assert_eq!(states.len(), 2, "{states:?}");
    // Both succeeded; as on GitHub, the later success retires the earlier deployment of the
    // environment (the environment's latest deployment holds both tags).
    let last: Vec<&str> = states.iter().filter_map(|(_, s)| s.last().map(String::as_str)).collect();
    assert_eq!(last, ["inactive", "success"], "{states:?}");
    assert!(states.iter().all(|(_, s)| s.iter().any(|x| x == "success")), "{states:?}");
    // The runs overlap: each watch saw the other's containers too, so count act's step
    // times (per run) for the action's share.
    let steps: Duration = [&api_ci, &dash_ci].iter().map(|t| t.steps_total()).sum::<Duration>()
        + ran.iter().map(|r| r.timed.steps_total()).sum::<Duration>();
    eprintln!(
        "e2e scenario 4 two services at once: wall {}; service acts {} / {} in parallel; \
         orchestration acts {} / {} in parallel; act's action step times {} summed over both pairs",
        secs(start.elapsed()),
        secs(api_ci.outcome.elapsed),
        secs(dash_ci.outcome.elapsed),
        secs(ran[0].timed.outcome.elapsed),
        secs(ran[1].timed.outcome.elapsed),
        secs(steps),
    );
}

/// Production on GitHub through `workflows/deploy.yml` as copied: its job token holds exactly
/// the workflow's `permissions:`, and reading production's protection rules (required
/// reviewers, enforced by the job's `environment:`) needs `actions: read` on a private
/// repository, which the fake's repositories are.
#[test]
fn a_production_release_on_github_reads_the_environment_protection_with_the_shipped_permissions() {
    let Some(w) = World::start(false) else { return };
    const NEW: &str = "v1.0.0";
    w.stack.forge.seed_environment(OPS, "production", &["alice"], 0);
    w.vm.push_image(&w.stack.registry.host, "api", NEW, &format!("ok api {NEW}"));
    let out = ActionRun::cli([
        "dispatch",
        "--repository",
        OPS,
        "--workflow",
        "deploy.yml",
        "--ref",
        "main",
        "--inputs",
        &format!("api_image_tag={NEW}\nenvironment=production"),
        "--token",
        DISPATCH_TOKEN,
        "--api-url",
        &w.stack.forge.api_url(),
        "--forge",
        "github",
    ])
    .run();
    assert_eq!(out.code, 0, "{}", out.log());
    let ran = w.ops.run_dispatched(&w.stack, ACT_TIMEOUT).pop().unwrap();
    let log = &ran.timed.outcome.log;
    assert!(log.contains("environment protection: required reviewers alice"), "{log}");
    let containers = w.vm.containers();
    assert_eq!(containers["api"].1, w.image("api", NEW), "{containers:?}");
    w.vm.wait_health("api", &format!("ok api {NEW}"), Duration::from_secs(5));
    let file = w.stack.forge.file(OPS, &versions_file("production")).unwrap();
    assert!(file.contains(&format!("\nAPI_IMAGE_TAG={NEW}\n")), "{file}");
}
