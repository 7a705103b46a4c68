//! Table of tag-computation cases, one per file under `tests/fixtures/tags/`, run through
//! `deploy_action::tags::compute` with a fixed clock. Every failing file is reported.

use deploy_action::context::RunContext;
use deploy_action::env::EnvMap;
use deploy_action::tags::TagsOptions;
use deploy_action::tags::{TagsInput, compute};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// metadata-action's test clock.
const DEFAULT_NOW: &str = "2020-01-10T00:30:00.000Z";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tags")
}

/// An input given as one string or as a list of lines.
fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    Some(v?.as_array()?.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
}

fn run_case(case: &Value) -> Result<(), String> {
    let field = |k: &str| case.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let ctx = RunContext {
        event_name: field("event_name"),
        git_ref: field("ref"),
        sha: field("sha"),
        event: case.get("payload").cloned().unwrap_or_else(|| serde_json::json!({})),
        ..Default::default()
    };
    let env = EnvMap::from_pairs(
        case.get("env")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())),
    );
    let mut opts = TagsOptions::from_env(&env).map_err(|e| format!("options: {e}"))?;
    let now = case.get("now").and_then(Value::as_str).unwrap_or(DEFAULT_NOW);
    opts.now = chrono::DateTime::parse_from_rfc3339(now).map_err(|e| format!("now: {e}"))?.to_utc();
    let inputs = case.get("inputs").cloned().unwrap_or_default();
    let input = TagsInput {
        images: text(inputs.get("images")),
        tags: text(inputs.get("tags")),
        flavor: text(inputs.get("flavor")),
        labels: text(inputs.get("labels")),
        annotations: text(inputs.get("annotations")),
        environments: text(inputs.get("environments")),
        ..Default::default()
    };
    let result = compute(&input, &ctx, &opts);
    if let Some(err) = case.get("error") {
        let e = match result {
            Ok(meta) => return Err(format!("expected an error, got tags {:?}", meta.tags)),
            Err(e) => e,
        };
        let want_input = err.get("input").and_then(Value::as_str).unwrap_or_default();
        let contains = err.get("contains").and_then(Value::as_str).unwrap_or_default();
        if e.input != want_input || !e.to_string().contains(contains) {
            return Err(format!("expected error on `{want_input}` containing {contains:?}, got: {e}"));
        }
        return Ok(());
    }
    let meta = result.map_err(|e| format!("unexpected error: {e}"))?;
    let exp = case.get("expected").ok_or("no `expected` nor `error`")?;
    let mut problems = Vec::new();
    if let Some(v) = exp.get("version").and_then(Value::as_str)
        && meta.version != v
    {
        problems.push(format!("version: want {v:?}, got {:?}", meta.version));
    }
    if let Some(tags) = strings(exp.get("tags"))
        && meta.tags != tags
    {
        problems.push(format!("tags: want {tags:?}, got {:?}", meta.tags));
    }
    for (key, got) in [("labels", &meta.labels), ("annotations", &meta.annotations)] {
        for want in strings(exp.get(key)).unwrap_or_default() {
            if !got.contains(&want) {
                problems.push(format!("{key}: missing {want:?} in {got:?}"));
            }
        }
    }
    if let Some(env) = exp.get("environment").and_then(Value::as_str)
        && meta.environment != env
    {
        problems.push(format!("environment: want {env:?}, got {:?}", meta.environment));
    }
    for want in strings(exp.get("warnings")).unwrap_or_default() {
        if !meta.warnings.iter().any(|w| w.contains(&want)) {
            problems.push(format!("warnings: none contains {want:?} in {:?}", meta.warnings));
        }
    }
    if exp.get("no_warnings").and_then(Value::as_bool) == Some(true) && !meta.warnings.is_empty() {
        problems.push(format!("warnings: want none, got {:?}", meta.warnings));
    }
    if let Some(json) = exp.get("json")
        && &meta.json != json
    {
        problems.push(format!("json: want {json}, got {}", meta.json));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n    ")) }
}

#[test]
fn tag_fixtures() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/tags exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 45, "expected at least 45 cases, found {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("invalid JSON: {e}")))
            .and_then(|case| run_case(&case));
        if let Err(e) = outcome {
            failures.push(format!("{name}:\n    {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// The team convention exactly as the README recommends it; `${{ … }}` is evaluated by the
/// runner before the action sees the input, which [`runner_expressions`] imitates.
const TEAM_TAGS: &str = "\
type=sha,prefix=dev-,enable=${{ github.ref == 'refs/heads/develop' }}
type=sha,prefix=staging-,enable=${{ github.ref == 'refs/heads/main' }}
type=raw,value=staging,priority=50,enable=${{ github.ref == 'refs/heads/main' }}
type=ref,event=branch,suffix=-{{sha}},enable=${{ github.ref != 'refs/heads/develop' && github.ref != 'refs/heads/main' }}
type=semver,pattern=v{{version}}
type=semver,pattern={{major}}.{{minor}}
type=semver,pattern={{major}}
type=ref,event=pr
";

/// The README's `environments` block.
const TEAM_ENVIRONMENTS: &str = "\
refs/heads/develop=dev
refs/heads/main=staging
refs/tags/v*=production
refs/pull/*=none
";

/// Evaluates the three runner expressions of [`TEAM_TAGS`] for `git_ref`.
fn runner_expressions(block: &str, git_ref: &str) -> String {
    let (develop, main) = (git_ref == "refs/heads/develop", git_ref == "refs/heads/main");
    block
        .replace("${{ github.ref == 'refs/heads/develop' }}", &develop.to_string())
        .replace("${{ github.ref == 'refs/heads/main' }}", &main.to_string())
        .replace(
            "${{ github.ref != 'refs/heads/develop' && github.ref != 'refs/heads/main' }}",
            &(!develop && !main).to_string(),
        )
}

#[test]
fn team_convention_block() {
    let sha = "860c1904a1ce19322e91ac35af1ab07466440c37";
    let cases: &[(&str, &str, &str, &[&str], &str)] = &[
        ("push", "refs/heads/develop", "dev-860c190", &["dev-860c190"], "dev"),
        ("push", "refs/heads/main", "staging-860c190", &["staging-860c190", "staging"], "staging"),
        ("push", "refs/tags/v1.2.3", "v1.2.3", &["v1.2.3", "1.2", "1", "latest"], "production"),
        ("push", "refs/heads/feature/login", "feature-login-860c190", &["feature-login-860c190"], ""),
        ("pull_request", "refs/pull/42/merge", "pr-42", &["pr-42"], "none"),
    ];
    let mut opts = TagsOptions::from_env(&EnvMap::default()).unwrap();
    opts.now = chrono::DateTime::parse_from_rfc3339(DEFAULT_NOW).unwrap().to_utc();
    for (event, git_ref, version, tags, environment) in cases {
        let tags_input = runner_expressions(TEAM_TAGS, git_ref);
        assert!(!tags_input.contains("${{"), "{tags_input}");
        let input = TagsInput {
            images: "ghcr.io/acme/api".into(),
            tags: tags_input,
            environments: TEAM_ENVIRONMENTS.into(),
            ..Default::default()
        };
        let ctx = RunContext {
            event_name: event.to_string(),
            git_ref: git_ref.to_string(),
            sha: sha.into(),
            event: serde_json::json!({"number": 42, "repository": {"default_branch": "main"}}),
            ..Default::default()
        };
        let meta = compute(&input, &ctx, &opts).unwrap();
        let want: Vec<String> = tags.iter().map(|t| format!("ghcr.io/acme/api:{t}")).collect();
        assert_eq!((meta.version.as_str(), &meta.tags), (*version, &want), "{git_ref}");
        assert_eq!(meta.environment, *environment, "{git_ref}");
        assert!(meta.warnings.is_empty(), "{git_ref}: {:?}", meta.warnings);
    }
}
