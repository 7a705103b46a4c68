//! The README's team-convention block, taken from the README itself, gives exactly the tags and
//! environments of the README's table for each ref. `${{ … }}` conditions are evaluated as the
//! runner would before the action sees them.

use deploy_action::context::RunContext;
use deploy_action::tags::{TagsInput, TagsOptions, compute};

const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The indented lines of a `key: |` block inside the convention YAML.
fn block(yaml: &str, key: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in yaml.lines() {
        if line.trim() == format!("{key}: |") {
            inside = true;
            continue;
        }
        if inside {
            if line.trim_start().len() + 6 <= line.len() {
                out.push(line.trim());
            } else {
                break;
            }
        }
    }
    out.join("\n")
}

/// Evaluates the runner expressions the block uses for one ref.
fn runner_eval(text: &str, git_ref: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").unwrap() + start;
        let expr = rest[start + 3..end].trim();
        let value = expr.split("&&").all(|clause| {
            let clause = clause.trim();
            let (op, neg) = if clause.contains("!=") { ("!=", true) } else { ("==", false) };
            let (_, rhs) = clause.split_once(op).unwrap();
            let rhs = rhs.trim().trim_matches('\'');
            (git_ref == rhs) != neg
        });
        out.push_str(if value { "true" } else { "false" });
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn readme_convention_block_gives_the_readme_table() {
    let readme = readme();
    let section = &readme[readme.find("## The team conventions").unwrap()..];
    let yaml = &section[section.find("```yaml").unwrap() + 7..];
    let yaml = &yaml[..yaml.find("```").unwrap()];
    let cases = [
        ("refs/heads/develop", "push", vec!["dev-860c190"], "dev"),
        ("refs/heads/main", "push", vec!["staging-860c190", "staging"], "staging"),
        ("refs/tags/v1.2.3", "push", vec!["v1.2.3", "1.2", "1", "latest"], "production"),
        ("refs/heads/feature/login", "push", vec!["feature-login-860c190"], ""),
        ("refs/pull/42/merge", "pull_request", vec!["pr-42"], ""),
    ];
    for (git_ref, event, want_tags, want_env) in cases {
        let input = TagsInput {
            images: "ghcr.io/org/api".into(),
            tags: runner_eval(&block(yaml, "tags"), git_ref),
            environments: block(yaml, "environments"),
            sep_tags: "\n".into(),
            sep_labels: "\n".into(),
            sep_annotations: "\n".into(),
            ..Default::default()
        };
        let ctx = RunContext {
            event_name: event.into(),
            git_ref: git_ref.into(),
            sha: SHA.into(),
            event: serde_json::json!({"number": 42, "repository": {"default_branch": "main"}}),
            ..Default::default()
        };
        let opts = TagsOptions {
            now: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            short_sha_length: 7,
            pr_head_sha: false,
            annotation_levels: "manifest".into(),
        };
        let meta = compute(&input, &ctx, &opts).unwrap_or_else(|e| panic!("{git_ref}: {e}"));
        let tags: Vec<_> = meta.tags.iter().map(|t| t.strip_prefix("ghcr.io/org/api:").unwrap()).collect();
        assert_eq!(tags, want_tags, "{git_ref}");
        assert_eq!(meta.environment, want_env, "{git_ref}");
        // The README table states the same.
        let row = match git_ref {
            "refs/heads/develop" => "| `develop` | `dev-<shortsha>` | `dev` |",
            "refs/heads/main" => "| `main` | `staging-<shortsha>`, `staging` | `staging` |",
            "refs/tags/v1.2.3" => "| `v1.2.3` tag | `v1.2.3`, `1.2`, `1`, `latest` | `production` |",
            "refs/heads/feature/login" => "| other branches | `<branch>-<shortsha>` | — |",
            _ => "| pull requests | `pr-<n>` | — |",
        };
        assert!(readme.contains(row), "README table lacks {row}");
    }
}
