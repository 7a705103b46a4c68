//! End to end in a real runner, scenario 5: production through the approval gate in `resume`
//! mode on the Forgejo flavour. act runs `workflows/forgejo/deploy.yml` (`release` opens the
//! approval issue and ends with `state=awaiting-approval`), then `workflows/forgejo/approve.yml`
//! for `issue_comment` events built from the fake forge's issue: a `/approve` from someone
//! who is not an approver is ignored, one from an approver continues the release and the new
//! version runs on the VM.

use crate::e2e_release::{configured, secs};
use crate::support::e2e::{Orchestration, Stack, versions_file};
use crate::support::fake_forge::Flavor;
use crate::support::vm::{self, Vm};
use std::time::{Duration, Instant};

const OPS: &str = "org/ops";
const ACT_TIMEOUT: Duration = Duration::from_secs(300);
const OLD: &str = "v0.9.0";
const NEW: &str = "v1.0.0";

#[test]
fn production_on_forgejo_waits_for_an_approver_in_resume_mode() {
    if !vm::available() {
        return;
    }
    let Some(stack) = Stack::start_flavor(Flavor::Forgejo) else { return };
    let vm = Vm::start(&stack, OLD);
    let seed = format!("API_IMAGE_TAG={OLD}\nDASHBOARD_IMAGE_TAG={OLD}\n");
    let deploy = configured(&stack, &vm, Orchestration::example(&stack, OPS, "forgejo/deploy.yml", &seed));
    let approve = configured(&stack, &vm, Orchestration::another_example(&stack, OPS, "forgejo/approve.yml"));
    vm.push_image(&stack.registry.host, "api", NEW, &format!("ok api {NEW}"));
    let before = vm.containers();
    let start = Instant::now();

    // A release of v1.0.0 to production (a service's `publish` on a v* tag dispatches this).
    deploy.dispatch(&stack, &format!("api_image_tag={NEW}\nenvironment=production"));
    let release = deploy.run_dispatched(&stack, ACT_TIMEOUT).pop().unwrap();
    let log = &release.timed.outcome.log;
    assert!(log.contains("state=awaiting-approval"), "{log}");
    let issues = stack.forge.issues(OPS);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(issues[0].state, "open");
    assert!(issues[0].body.contains(NEW), "{}", issues[0].body);
    assert_eq!(vm.containers(), before, "nothing deployed before the approval");
    assert_eq!(stack.forge.history(OPS, &versions_file("production")).len(), 1);

    // Not an approver: ignored, the issue stays open, nothing deployed.
    let mallory = approve.comment(&stack, "mallory", "/approve", ACT_TIMEOUT);
    assert!(mallory.outcome.success, "{}", mallory.outcome.log);
    assert!(mallory.outcome.log.contains("state=ignored"), "{}", mallory.outcome.log);
    assert_eq!(stack.forge.issues(OPS)[0].state, "open");
    assert_eq!(vm.containers(), before);
    assert_eq!(vm.health("api").as_deref(), Some(format!("ok api {OLD}").as_str()));

    // An approver: the release continues and v1.0.0 runs.
    let alice = approve.comment(&stack, "alice", "/approve", ACT_TIMEOUT);
    assert!(alice.outcome.success, "{}", alice.outcome.log);
    let after = vm.containers();
    assert_eq!(after["api"].1, format!("{}/org/api:{NEW}", stack.registry.host), "{after:?}");
    vm.wait_health("api", &format!("ok api {NEW}"), Duration::from_secs(5));
    assert_eq!(stack.forge.issues(OPS)[0].state, "closed");
    let file = stack.forge.file(OPS, &versions_file("production")).unwrap();
    assert!(file.contains(&format!("API_IMAGE_TAG={NEW}\n")), "{file}");
    assert_eq!(stack.forge.history(OPS, &versions_file("production")).len(), 2);
    let statuses = stack.forge.statuses(OPS);
    assert!(statuses.iter().any(|s| s.1 == "success" && s.2 == "deploy/production"), "{statuses:?}");

    let runs = [&release.timed, &mallory, &alice];
    let action: Duration = runs.iter().map(|t| t.action_total()).sum();
    eprintln!(
        "e2e scenario 5 production through the approval gate (Forgejo, resume): wall {}; act runs {} + {} + {}; \
         action containers running {}",
        secs(start.elapsed()),
        secs(release.timed.outcome.elapsed),
        secs(mallory.outcome.elapsed),
        secs(alice.outcome.elapsed),
        secs(action),
    );
}
