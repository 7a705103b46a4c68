//! Which files a push changed, for `changed-only`: `git diff --name-only before after` in the
//! workspace when git and both commits are there, else the push payload's per-commit file
//! lists (GitHub and Forgejo send `added`/`modified`/`removed`), else "everything".

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The changed files of this push, or why every service is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChangeSet {
    /// Build every service, for this reason.
    All(String),
    /// These workspace-relative paths changed (learned from `source`).
    Paths {
        /// Changed files.
        paths: Vec<String>,
        /// `git diff` or `the push payload`.
        source: &'static str,
    },
}

/// GitHub sends at most this many commits in a push payload.
const PAYLOAD_MAX_COMMITS: usize = 2048;

/// The push's `before` and `after` commits, or why the push cannot be narrowed (another
/// event, a new branch, a forced push).
pub(crate) fn push_range(event_name: &str, payload: &Value) -> Result<(String, String), String> {
    if event_name != "push" {
        return Err(format!("changed-only applies to push events and this is a `{event_name}` event"));
    }
    let field = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (before, after) = (field("before"), field("after"));
    let is_sha = |s: &str| s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit());
    if !is_sha(&before) || !is_sha(&after) {
        return Err("the event payload has no `before`/`after` commits".into());
    }
    if before.chars().all(|c| c == '0') {
        return Err("the push created the branch (`before` is all zeros)".into());
    }
    if payload.get("forced").and_then(Value::as_bool) == Some(true) {
        return Err("the push was forced (`forced: true`)".into());
    }
    Ok((before, after))
}

/// The files the payload's commits list, when the list is complete.
pub(crate) fn from_payload(payload: &Value) -> Option<Vec<String>> {
    let commits = payload.get("commits")?.as_array()?;
    let total = payload.get("total_commits").and_then(Value::as_u64);
    if commits.is_empty()
        || commits.len() >= PAYLOAD_MAX_COMMITS
        || total.is_some_and(|t| t as usize != commits.len())
    {
        return None;
    }
    let mut paths = Vec::new();
    for c in commits {
        for key in ["added", "modified", "removed"] {
            for p in c.get(key)?.as_array()? {
                paths.push(p.as_str()?.to_owned());
            }
        }
    }
    paths.sort();
    paths.dedup();
    Some(paths)
}

/// `git diff --name-only before after` in `workspace`.
fn git_diff(workspace: &Path, before: &str, after: &str) -> Result<Vec<String>, String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(workspace)
            // The checkout may belong to another user than the action's container.
            .args(["-c", "safe.directory=*"])
            .args(args)
            .output()
    };
    for commit in [before, after] {
        let out = git(&["cat-file", "-e", &format!("{commit}^{{commit}}")]).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "git is not installed here (the action's image has none)".to_owned()
            }
            _ => format!("git could not run: {e}"),
        })?;
        if !out.status.success() {
            return Err(format!(
                "commit {commit} is not in the checkout at {} (fetch it: actions/checkout with fetch-depth: 0 or 2)",
                workspace.display()
            ));
        }
    }
    let out = git(&["diff", "--name-only", "--no-renames", before, after]).map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("git diff failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

/// The files this push changed: git first, then the payload; `All` with the reasons when
/// neither can tell.
pub(crate) fn detect(event_name: &str, payload: &Value, workspace: &Path) -> ChangeSet {
    let (before, after) = match push_range(event_name, payload) {
        Ok(range) => range,
        Err(why) => return ChangeSet::All(why),
    };
    let git_failed = match git_diff(workspace, &before, &after) {
        Ok(paths) => return ChangeSet::Paths { paths, source: "git diff" },
        Err(why) => why,
    };
    match from_payload(payload) {
        Some(paths) => ChangeSet::Paths { paths, source: "the push payload" },
        None => ChangeSet::All(format!(
            "{git_failed}, and the push payload lists no complete set of changed files"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn new_branches_forced_pushes_and_other_events_build_all() {
        let zeros = "0".repeat(40);
        assert!(push_range("push", &json!({"before": zeros, "after": B})).unwrap_err().contains("created"));
        assert!(
            push_range("push", &json!({"before": A, "after": B, "forced": true}))
                .unwrap_err()
                .contains("forced")
        );
        assert!(push_range("pull_request", &json!({})).unwrap_err().contains("pull_request"));
        assert_eq!(push_range("push", &json!({"before": A, "after": B})).unwrap(), (A.into(), B.into()));
    }

    #[test]
    fn payload_file_lists_when_complete() {
        let c = |f: &str| json!({"added": [], "modified": [f], "removed": []});
        let p = json!({"before": A, "after": B, "commits": [c("b/x"), c("a/y"), c("b/x")]});
        assert_eq!(from_payload(&p).unwrap(), ["a/y", "b/x"]);
        let truncated = json!({"commits": [c("a")], "total_commits": 9});
        assert_eq!(from_payload(&truncated), None);
        assert_eq!(from_payload(&json!({"commits": [{"id": "x"}]})), None);
        let d = tempfile::tempdir().unwrap();
        // No repository at `d`: the payload answers.
        assert_eq!(
            detect("push", &p, d.path()),
            ChangeSet::Paths { paths: vec!["a/y".into(), "b/x".into()], source: "the push payload" }
        );
        let ChangeSet::All(why) = detect("push", &json!({"before": A, "after": B}), d.path()) else {
            panic!()
        };
        assert!(why.contains("push payload"), "{why}");
    }
}
