//! Differential check against docker/metadata-action v5 itself: `tests/fixtures/metadata-action/
//! cases.json` holds what the real action (built from its source, run under node 20 with a pinned
//! clock) printed for 69 cases; each runs here through `tags::compute`. Where we differ on
//! purpose, the case is listed in `KNOWN` with the reason.

use deploy_action::context::RunContext;
use deploy_action::tags::{TagsInput, TagsOptions, compute};
use serde_json::Value;

/// Cases where we differ on purpose, with the reason.
const KNOWN: &[(&str, &str)] = &[
    (
        "custom_labels_override_and_invalid",
        "a label line without `=` is an input error here; v5 drops it silently",
    ),
    (
        "explicit_raw_latest_duplicates",
        "v5 emits `latest` twice for `type=raw,value=latest` plus latest=auto; we emit it once",
    ),
    (
        "hash_infix_is_comment_v5",
        "v5 treats `#` anywhere as a comment (v6: only at line start); we follow v6 and name the bad image",
    ),
];

fn load() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metadata-action/cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn run(case: &Value) -> Result<(String, Vec<String>, Vec<String>), String> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let inputs = &case["inputs"];
    let input = TagsInput {
        images: s(&inputs["images"]),
        tags: s(&inputs["tags"]),
        flavor: s(&inputs["flavor"]),
        labels: s(&inputs["labels"]),
        sep_tags: "\n".into(),
        sep_labels: "\n".into(),
        sep_annotations: "\n".into(),
        ..Default::default()
    };
    let ctx = RunContext {
        event_name: s(&case["event_name"]),
        git_ref: s(&case["ref"]),
        sha: s(&case["sha"]),
        event: case["payload"].clone(),
        repository: "acme/deploy-action".into(),
        ..Default::default()
    };
    let env = &case["env"];
    let now = case["now"].as_str().unwrap_or("2026-11-22T10:00:00Z");
    let opts = TagsOptions {
        now: chrono::DateTime::parse_from_rfc3339(now).unwrap().with_timezone(&chrono::Utc),
        short_sha_length: env["DOCKER_METADATA_SHORT_SHA_LENGTH"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(7),
        pr_head_sha: env["DOCKER_METADATA_PR_HEAD_SHA"].as_str() == Some("true"),
        annotation_levels: env["DOCKER_METADATA_ANNOTATIONS_LEVELS"].as_str().unwrap_or("manifest").into(),
    };
    let meta = compute(&input, &ctx, &opts).map_err(|e| e.to_string())?;
    Ok((meta.version, meta.tags, meta.labels))
}

#[test]
fn same_version_and_tags_as_docker_metadata_action() {
    let cases = load();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut diffs = Vec::new();
    let mut same = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let want_ok = case["expected_ok"].as_bool().unwrap_or(true);
        let got = run(case);
        let verdict = match (&got, want_ok) {
            (Ok((v, t, _)), true) => {
                let want_v = case["expected"]["version"].as_str().unwrap_or_default();
                let want_t: Vec<String> =
                    serde_json::from_value(case["expected"]["tags"].clone()).unwrap_or_default();
                if v == want_v && *t == want_t {
                    None
                } else {
                    Some(format!("got version {v:?} tags {t:?}; metadata-action: {want_v:?} {want_t:?}"))
                }
            }
            (Err(_), false) => None,
            (Ok(_), false) => Some("metadata-action failed, we did not".to_owned()),
            (Err(e), true) => Some(format!("we failed ({e}), metadata-action did not")),
        };
        match (verdict, KNOWN.iter().find(|(n, _)| *n == name)) {
            (None, None) => same += 1,
            (None, Some(_)) => diffs.push(format!("{name}: listed as a known difference but now agrees")),
            (Some(_), Some(_)) => {}
            (Some(d), None) => diffs.push(format!("{name}: {d}")),
        }
    }
    eprintln!(
        "{same}/{} cases identical to docker/metadata-action, {} known differences",
        cases.len(),
        KNOWN.len()
    );
    assert!(diffs.is_empty(), "{} unexpected differences:\n{}", diffs.len(), diffs.join("\n"));
}
