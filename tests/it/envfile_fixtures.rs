//! Fixture table for the `.env.versions` editor: `tests/fixtures/envfile/<case>/` holds
//! `before.env`, `edits.json` (`[[key, value], …]`, applied in order) and either `after.env`
//! (the exact bytes expected) or `error.txt` (a fragment of the error; the file must not change).

use deploy_action::envfile::EnvFile;
use std::path::Path;

#[test]
fn envfile_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/envfile");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 15, "expected at least 15 cases in {}", root.display());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let before = std::fs::read_to_string(case.join("before.env")).unwrap();
        let edits: Vec<(String, String)> =
            serde_json::from_str(&std::fs::read_to_string(case.join("edits.json")).unwrap()).unwrap();
        let mut file = EnvFile::parse(&before);
        assert_eq!(file.render(), before, "{name}: parse + render must round-trip");
        let result = file.apply(&edits);
        if let Ok(expected_err) = std::fs::read_to_string(case.join("error.txt")) {
            match result {
                Err(e) if e.to_string().contains(expected_err.trim_end_matches('\n')) => {
                    assert_eq!(file.render(), before, "{name}: a rejected edit changed the file");
                }
                other => failures.push(format!("{name}: expected error {expected_err:?}, got {other:?}")),
            }
            continue;
        }
        let expected = std::fs::read_to_string(case.join("after.env")).unwrap();
        match result {
            Ok(_) if file.render() == expected => {
                // Applying the same edits again is a no-op, and the result parses to the new values.
                let mut again = EnvFile::parse(&expected);
                assert!(again.apply(&edits).unwrap().is_empty(), "{name}: second apply changed something");
                for (k, v) in &edits {
                    assert_eq!(again.get(k), Some(v.as_str()), "{name}: {k}");
                }
            }
            Ok(_) => {
                failures.push(format!("{name}:\n  expected {expected:?}\n  got      {:?}", file.render()))
            }
            Err(e) => failures.push(format!("{name}: unexpected error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
