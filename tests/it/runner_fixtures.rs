//! Recorded runner environments (GitHub, Forgejo, act), one case per file in
//! `tests/fixtures/runner/`, run through the real binary; outputs read back from the file.

use crate::support::ActionRun;
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/runner"));
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn run_case(case: &Value) -> crate::support::Outcome {
    let mut run = ActionRun::bare();
    let dir = run.dir().to_owned();
    let event_path = dir.join("event.json");
    std::fs::write(&event_path, serde_json::to_vec(&case["event"]).unwrap()).unwrap();
    for (k, v) in case["env"].as_object().unwrap() {
        let v = v
            .as_str()
            .unwrap()
            .replace("$WORKSPACE", &dir.display().to_string())
            .replace("$EVENT", &event_path.display().to_string())
            .replace("$OUTPUT", &dir.join("output").display().to_string())
            .replace("$SUMMARY", &dir.join("summary").display().to_string());
        run = run.env(k, &v);
    }
    for (k, v) in case["inputs"].as_object().unwrap() {
        run = run.input(k, v.as_str().unwrap());
    }
    run.run()
}

#[test]
fn recorded_runner_environments() {
    let mut failures = Vec::new();
    for path in fixtures() {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = run_case(&case);
        let expected = &case["expected"];
        let mut problems = Vec::new();
        if out.code != 0 {
            problems.push(format!("exit {}: {}", out.code, out.log()));
        }
        for key in ["version", "tags", "environment"] {
            if let Some(want) = expected[key].as_str() {
                let got = out.outputs.get(key).map(String::as_str).unwrap_or("<missing>");
                if got != want {
                    problems.push(format!("{key}: got {got:?}, want {want:?}"));
                }
            }
        }
        if let Some(labels) = expected["labels_contain"].as_array() {
            let got = out.outputs.get("labels").cloned().unwrap_or_default();
            for l in labels {
                if !got.lines().any(|g| g == l.as_str().unwrap()) {
                    problems.push(format!("labels lack {l}; got {got:?}"));
                }
            }
        }
        if out.summary.is_empty() {
            problems.push("no job summary written".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}:\n  {}", problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
