//! End to end in a real runner (issue 6): a push to a service repository runs its workflow
//! under act (`publish`: tags → build → push to the local registry → dispatch), and the
//! orchestration repository's workflow runs under act with the dispatched inputs (`release`
//! with `target: none`: tags checked in the registry, `.env.versions` committed through the
//! fake forge, deployment or commit status).
//!
//! The scenarios that deploy (compose over SSH to a VM, health, rollback, approval) run the
//! shipped example workflows: `e2e_release.rs` and `e2e_approval.rs`.

use crate::support::e2e::{Orchestration, REGISTRY_PASSWORD, REGISTRY_USER, Service, Stack, example};
use crate::support::fake_forge::Flavor;
use crate::support::fake_forge::state::FaultKind;
use crate::support::registry::pull_and_verify;
use crate::support::skip;
use std::time::{Duration, Instant};

const OPS: &str = "org/ops";
const ACT_TIMEOUT: Duration = Duration::from_secs(300);
const SEED: &str = "# what runs where\nAPI_IMAGE_TAG=staging-0000000\nDASHBOARD_IMAGE_TAG=staging-0000000\n";

/// A service's CI on a push to main: one `publish` step (tags → build with the files builder
/// → push → dispatch). `@SERVICE@` is the service name (`api`).
const SERVICE_CI: &str = r#"name: service-ci
on:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - id: publish
        uses: org/deploy-action@v1
        env:
          SOURCE_DATE_EPOCH: "1700000000"
        with:
          command: publish
          service: "@SERVICE@"
          images: "@REGISTRY@/@SERVICE@"
          tags: |
            type=raw,value=staging-{{sha}},enable=${{ github.ref == 'refs/heads/main' }}
          builder: files
          add: |
            bin/busybox:/bin/busybox
            app/:/srv/
          # Not `entrypoint`: runners take `with.entrypoint` of a container action as the
          # action container's own entrypoint.
          cmd: /bin/busybox,httpd,-f,-p,8080,-h,/srv
          exposed-ports: "8080"
          registry: "@REGISTRY@"
          username: ci
          password: ${{ secrets.REGISTRY_PASSWORD }}
          repository: org/ops
          workflow: deploy.yml
          ref: main
          environments: |
            refs/heads/main=staging
          inputs: environment={{ environment }}
          token: ${{ secrets.OPS_DISPATCH_TOKEN }}
      - shell: sh
        env:
          DIGEST: ${{ steps.publish.outputs.digest }}
          IMAGES: ${{ steps.publish.outputs.images }}
          RUN: ${{ steps.publish.outputs.run-id }}
        run: |
          echo "PUSHED [$IMAGES] [$DIGEST]"
          echo "DISPATCHED [$RUN]"
"#;

/// The orchestration repository's deploy workflow: `release` with `target: none` (the tags are
/// checked in the registry, `.env.versions` committed, the deployment or commit status set).
const DEPLOY: &str = r#"name: deploy
on:
  workflow_dispatch:
    inputs:
      api_image_tag:
        description: api image tag
        required: false
        default: ''
      dashboard_image_tag:
        description: dashboard image tag
        required: false
        default: ''
      environment:
        description: where to deploy
        required: true
        default: staging
permissions:
  contents: write
  deployments: write
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: ${{ inputs.environment }}
    steps:
      - id: release
        uses: org/deploy-action@v1
        with:
          command: release
          environment: ${{ inputs.environment }}
          versions: |
            api=${{ inputs.api_image_tag }}
            dashboard=${{ inputs.dashboard_image_tag }}
          images: "@REGISTRY@/{service}"
          username: ci
          password: ${{ secrets.REGISTRY_PASSWORD }}
          token: ${{ secrets.OPS_TOKEN }}
          target: none
      - shell: sh
        env:
          COMMIT: ${{ steps.release.outputs.commit-sha }}
          STATE: ${{ steps.release.outputs.state }}
          ENVIRONMENT: ${{ inputs.environment }}
        run: echo "RECORDED [$COMMIT] for [$ENVIRONMENT] [$STATE]"
"#;

const DEPLOY_INPUTS: &[&str] = &["api_image_tag", "dashboard_image_tag", "environment!"];

fn service(stack: &Stack, name: &str) -> Service {
    let short = name.rsplit('/').next().unwrap();
    Service::new(stack, name, &SERVICE_CI.replace("@SERVICE@", short))
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[test]
fn push_builds_pushes_dispatches_and_the_orchestration_run_records_the_tag() {
    push_to_record(Flavor::Github);
}

#[test]
fn the_same_on_forgejo() {
    push_to_record(Flavor::Forgejo);
}

fn push_to_record(flavor: Flavor) {
    let Some(stack) = Stack::start_flavor(flavor) else { return };
    let start = Instant::now();
    let ops = Orchestration::new(&stack, OPS, "deploy.yml", DEPLOY, DEPLOY_INPUTS, SEED);
    let api = service(&stack, "org/api");

    let (sha, ci) = api.push(&stack, "first", ACT_TIMEOUT);
    let tag = format!("staging-{}", &sha[..7]);
    let image = format!("{}/api:{tag}", stack.registry.host);
    assert!(ci.outcome.log.contains(&format!("PUSHED [{image}] [sha256:")), "{}", ci.outcome.log);
    let digest = pull_and_verify(&stack.registry.host, "api", &tag, Some((REGISTRY_USER, REGISTRY_PASSWORD)));
    assert!(ci.outcome.log.contains(&digest), "{}", ci.outcome.log);

    let runs = ops.pending(&stack);
    assert_eq!(runs.len(), 1, "one dispatch: {runs:#?}");
    assert_eq!(runs[0].inputs.get("api_image_tag").map(String::as_str), Some(tag.as_str()));
    assert_eq!(runs[0].inputs.get("environment").map(String::as_str), Some("staging"));
    assert!(ci.outcome.log.contains(&format!("DISPATCHED [{}]", runs[0].id)), "{}", ci.outcome.log);

    let ran = ops.run_dispatched(&stack, ACT_TIMEOUT);
    assert_eq!(ran.len(), 1);
    assert!(ops.pending(&stack).is_empty(), "the driver keeps which dispatches it ran");
    let log = &ran[0].timed.outcome.log;
    assert!(log.contains("RECORDED [") && log.contains("] for [staging] [success]"), "{log}");

    let file = stack.forge.file(OPS, ".env.versions").unwrap();
    assert!(file.contains(&format!("\nAPI_IMAGE_TAG={tag}\n")), "{file}");
    assert!(file.contains("\nDASHBOARD_IMAGE_TAG=staging-0000000\n"), "{file}");
    assert!(file.starts_with("# what runs where\n"), "{file}");
    let history = stack.forge.history(OPS, ".env.versions");
    assert_eq!(history.len(), 2, "seed + one new commit: {history:#?}");
    assert!(history[0].starts_with(&format!("deploy: api staging-0000000 → {tag}")), "{history:#?}");

    let orch = &ran[0].timed;
    assert_eq!(ci.steps.len(), 1, "publish");
    assert_eq!(orch.steps.len(), 1, "release");
    eprintln!(
        "e2e scenario push→publish→release (target none, {flavor:?}): wall {}; service act {}: action steps {} (containers running {}, {} steps); \
         orchestration act {}: action steps {} (containers running {})",
        secs(start.elapsed()),
        secs(ci.outcome.elapsed),
        secs(ci.steps_total()),
        secs(ci.action_total()),
        ci.steps.len(),
        secs(orch.outcome.elapsed),
        secs(orch.steps_total()),
        secs(orch.action_total()),
    );
}

#[test]
fn two_services_dispatched_at_once_both_land_in_env_versions() {
    let Some(stack) = Stack::start() else { return };
    let start = Instant::now();
    let ops = Orchestration::new(&stack, OPS, "deploy.yml", DEPLOY, DEPLOY_INPUTS, SEED);
    let api = service(&stack, "org/api");
    let dashboard = service(&stack, "org/dashboard");

    let ((api_sha, api_ci), (dash_sha, dash_ci)) = std::thread::scope(|s| {
        let a = s.spawn(|| api.push(&stack, "api change", ACT_TIMEOUT));
        let d = s.spawn(|| dashboard.push(&stack, "dashboard change", ACT_TIMEOUT));
        (a.join().unwrap(), d.join().unwrap())
    });
    let api_tag = format!("staging-{}", &api_sha[..7]);
    let dash_tag = format!("staging-{}", &dash_sha[..7]);
    assert_eq!(ops.pending(&stack).len(), 2);
    // Both runs read `.env.versions` before either writes (`release` reads it twice: the
    // current versions, then for the update; each read answers 4 s late), so one write
    // conflicts and must re-read and re-apply.
    stack.forge.inject(Some("GET"), "/contents/.env.versions", 4, FaultKind::DelayAfterHandling(4000));

    let ran = ops.run_dispatched(&stack, ACT_TIMEOUT);
    assert_eq!(ran.len(), 2);
    let file = stack.forge.file(OPS, ".env.versions").unwrap();
    assert!(file.contains(&format!("\nAPI_IMAGE_TAG={api_tag}\n")), "{file}");
    assert!(file.contains(&format!("\nDASHBOARD_IMAGE_TAG={dash_tag}\n")), "{file}");
    let history = stack.forge.history(OPS, ".env.versions");
    assert_eq!(history.len(), 3, "seed + one commit per release: {history:#?}");
    // Whichever ran second retried on the conflict and kept the other's change.
    for (tag, name) in [(&api_tag, "api"), (&dash_tag, "dashboard")] {
        assert!(history.iter().any(|m| m.starts_with(&format!("deploy: {name} staging-0000000 → {tag}"))));
    }

    let puts = stack
        .forge
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.target.contains("/contents/.env.versions"))
        .count();
    assert!(puts >= 3, "the second write conflicted and was retried: {puts} writes");
    // The runs overlap: each watch saw the other's containers too, so count them once.
    let steps: Duration = [&api_ci, &dash_ci].iter().map(|t| t.steps_total()).sum::<Duration>()
        + ran.iter().map(|r| r.timed.steps_total()).sum::<Duration>();
    eprintln!(
        "e2e scenario two services at once: wall {}; service acts {} / {} in parallel; \
         orchestration acts {} / {} in parallel ({} writes of .env.versions); action steps {} summed over 4 steps",
        secs(start.elapsed()),
        secs(api_ci.outcome.elapsed),
        secs(dash_ci.outcome.elapsed),
        secs(ran[0].timed.outcome.elapsed),
        secs(ran[1].timed.outcome.elapsed),
        puts,
        secs(steps),
    );
}

/// The compose-ssh target shells out to `ssh` inside the action's container: the image has
/// it, and from act's action container (host network) it reaches the "VM" on loopback with
/// the pinned host key and the key from a secret.
const SSH_CHECK: &str = r#"name: ssh-check
on: push
jobs:
  ssh:
    runs-on: ubuntu-latest
    steps:
      - shell: sh
        env:
          KEY: ${{ secrets.SSH_KEY }}
          KNOWN: ${{ secrets.SSH_KNOWN_HOSTS }}
        run: |
          printf '%s\n' "$KEY" > key && chmod 600 key
          printf '%s\n' "$KNOWN" > known_hosts
      - uses: org/deploy-action@v1
        with:
          entrypoint: /usr/bin/ssh
          args: -i key -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts -p @PORT@ root@127.0.0.1 echo vm-ok-from-the-action-image
"#;

#[test]
fn the_action_image_runs_ssh_to_the_vm_from_act() {
    if !skip::unless(std::path::Path::new("/usr/sbin/sshd").exists(), "sshd (apt-get install openssh-server)")
    {
        return;
    }
    let Some(stack) = Stack::start() else { return };
    let vm = crate::support::sshd::Sshd::start();
    let key = std::fs::read_to_string(&vm.client_key).unwrap();
    let wf = stack.localize(&SSH_CHECK.replace("@PORT@", &vm.port.to_string()));
    let repo = crate::support::act::ActRepo::new("ssh.yml", &wf, "main");
    let run = crate::support::act::ActRun::new("push", ACT_TIMEOUT)
        .secret("SSH_KEY", key.trim())
        .secret("SSH_KNOWN_HOSTS", &vm.known_hosts_line);
    let out = stack.act(&repo, run);
    assert!(out.outcome.log.contains("vm-ok-from-the-action-image"), "{}\n{}", out.outcome.log, vm.log());
    for line in key.lines().filter(|l| l.len() > 20) {
        assert!(!out.outcome.log.contains(line), "a line of the ssh key leaked:\n{}", out.outcome.log);
    }
}

/// `workflows/service-ci.yml` exactly as users copy it (only the action reference and
/// `ghcr.io` point at the local image and registry): tags, then the docker builder, push and
/// dispatch.
#[test]
fn the_example_service_ci_builds_pushes_and_dispatches_on_main() {
    let Some(stack) = Stack::start() else { return };
    let start = Instant::now();
    let ops = Orchestration::new(&stack, OPS, "deploy.yml", DEPLOY, DEPLOY_INPUTS, SEED);
    let api = Service::new(&stack, "org/api", &example("service-ci.yml"));
    let (sha, ci) = api.push(&stack, "example", ACT_TIMEOUT);
    let tag = format!("staging-{}", &sha[..7]);
    let creds = Some((REGISTRY_USER, REGISTRY_PASSWORD));
    let digest = pull_and_verify(&stack.registry.host, "org/api", &tag, creds);
    assert_eq!(pull_and_verify(&stack.registry.host, "org/api", "staging", creds), digest);
    let runs = ops.pending(&stack);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].inputs.get("api_image_tag"), Some(&tag));
    assert_eq!(runs[0].inputs.get("environment").map(String::as_str), Some("staging"));
    eprintln!(
        "e2e example service-ci.yml: wall {}; act {}: action steps {} (containers running {}, {} steps)",
        secs(start.elapsed()),
        secs(ci.outcome.elapsed),
        secs(ci.steps_total()),
        secs(ci.action_total()),
        ci.steps.len(),
    );
}
