//! The workflow run's context (event, ref, sha, repository, URLs, run ids) read from an
//! [`EnvMap`] and the event payload, the same way on GitHub's and Forgejo's runners.

use crate::env::{EnvMap, vars};
use serde_json::Value;
use std::path::PathBuf;

/// Which forge runs the workflow (or is addressed by an API URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// github.com or GitHub Enterprise Server.
    Github,
    /// Forgejo (and Gitea, which shares its API).
    Forgejo,
}

impl std::fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ForgeKind::Github => "GitHub",
            ForgeKind::Forgejo => "Forgejo",
        })
    }
}

/// Everything the action knows about the run that invoked it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunContext {
    /// `push`, `pull_request`, `workflow_dispatch`, `schedule`, …
    pub event_name: String,
    /// Fully-formed ref, e.g. `refs/heads/main`.
    pub git_ref: String,
    /// Commit sha of the event (full length).
    pub sha: String,
    /// `owner/name` of the repository running the workflow.
    pub repository: String,
    /// Login that triggered the run.
    pub actor: String,
    /// Run id (as a string, it is only ever echoed).
    pub run_id: String,
    /// Run number.
    pub run_number: String,
    /// Run attempt.
    pub run_attempt: String,
    /// Web URL of the forge, without a trailing slash.
    pub server_url: String,
    /// REST API URL of the forge, without a trailing slash.
    pub api_url: String,
    /// Checkout directory.
    pub workspace: PathBuf,
    /// `GITHUB_BASE_REF` (pull requests).
    pub base_ref: String,
    /// `GITHUB_HEAD_REF` (pull requests).
    pub head_ref: String,
    /// The event payload (`{}` when there is none).
    pub event: Value,
    /// The forge running the workflow, when it can be told.
    pub forge: Option<ForgeKind>,
}

/// Why the context could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// `GITHUB_EVENT_PATH` names a file that cannot be read or is not JSON.
    #[error("cannot read the event payload {path}: {reason}")]
    EventPayload {
        /// The path from `GITHUB_EVENT_PATH`.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl RunContext {
    /// Reads the context from the environment, loading the event payload from
    /// `GITHUB_EVENT_PATH` when it is set.
    pub fn from_env(env: &EnvMap) -> Result<Self, ContextError> {
        let event = match env.runner_var("EVENT_PATH") {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ContextError::EventPayload {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                if text.trim().is_empty() {
                    Value::Object(Default::default())
                } else {
                    serde_json::from_str(&text).map_err(|e| ContextError::EventPayload {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })?
                }
            }
            None => Value::Object(Default::default()),
        };
        Ok(Self::from_env_and_event(env, event))
    }

    /// Builds the context from the environment and an already-parsed payload.
    pub fn from_env_and_event(env: &EnvMap, event: Value) -> Self {
        // GITHUB_<X>, or Forgejo's native FORGEJO_<X>.
        let get = |name: &str| {
            let suffix = name.strip_prefix("GITHUB_").unwrap_or(name);
            env.runner_var(suffix).unwrap_or_default().to_owned()
        };
        let server_url = trim_slash(env.runner_var("SERVER_URL").unwrap_or("https://github.com"));
        let api_url = match env.runner_var("API_URL") {
            Some(u) => trim_slash(u),
            None if server_url == "https://github.com" => "https://api.github.com".to_owned(),
            None => format!("{server_url}/api/v1"),
        };
        let mut git_ref = get(vars::GITHUB_REF);
        if git_ref.is_empty() {
            // Some events (and older runners) leave GITHUB_REF empty; metadata-action
            // falls back to the payload's ref.
            if let Some(r) = event.get("ref").and_then(Value::as_str) {
                git_ref = r.to_owned();
            }
        }
        let workspace =
            env.non_empty(vars::GITHUB_WORKSPACE).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        let forge = detect_forge(env);
        RunContext {
            event_name: get(vars::GITHUB_EVENT_NAME),
            git_ref,
            sha: get(vars::GITHUB_SHA),
            repository: get(vars::GITHUB_REPOSITORY),
            actor: get(vars::GITHUB_ACTOR),
            run_id: get(vars::GITHUB_RUN_ID),
            run_number: get(vars::GITHUB_RUN_NUMBER),
            run_attempt: get(vars::GITHUB_RUN_ATTEMPT),
            server_url,
            api_url,
            workspace,
            base_ref: get(vars::GITHUB_BASE_REF),
            head_ref: get(vars::GITHUB_HEAD_REF),
            event,
            forge,
        }
    }

    /// Web URL of this run (`<server>/<repo>/actions/runs/<id>`), empty outside a run.
    pub fn run_url(&self) -> String {
        if self.repository.is_empty() || self.run_id.is_empty() {
            return String::new();
        }
        format!("{}/{}/actions/runs/{}", self.server_url, self.repository, self.run_id)
    }

    /// Web URL of the repository.
    pub fn repository_url(&self) -> String {
        if self.repository.is_empty() {
            return String::new();
        }
        format!("{}/{}", self.server_url, self.repository)
    }

    /// The repository's default branch from the event payload, if present.
    pub fn default_branch(&self) -> Option<&str> {
        self.event.pointer("/repository/default_branch").and_then(Value::as_str)
    }

    /// The pull request number for pull request events (from the payload, else the ref).
    pub fn pull_request_number(&self) -> Option<u64> {
        if let Some(n) = self.event.pointer("/pull_request/number").and_then(Value::as_u64) {
            return Some(n);
        }
        if let Some(n) = self.event.get("number").and_then(Value::as_u64) {
            return Some(n);
        }
        let rest = self.git_ref.strip_prefix("refs/pull/")?;
        rest.split('/').next()?.parse().ok()
    }
}

/// Tells GitHub from Forgejo by the runner's variables and URLs.
pub fn detect_forge(env: &EnvMap) -> Option<ForgeKind> {
    if env.get(vars::FORGEJO_ACTIONS) == Some("true") || env.get(vars::GITEA_ACTIONS) == Some("true") {
        return Some(ForgeKind::Forgejo);
    }
    if let Some(api) = env.runner_var("API_URL") {
        return Some(forge_of_api_url(api));
    }
    if env.in_runner() { Some(ForgeKind::Github) } else { None }
}

/// GitHub's API lives at `api.github.com` or `<ghes>/api/v3`; Forgejo's at `<host>/api/v1`.
pub fn forge_of_api_url(api: &str) -> ForgeKind {
    if trim_slash(api).ends_with("/api/v1") { ForgeKind::Forgejo } else { ForgeKind::Github }
}

fn trim_slash(s: &str) -> String {
    s.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_github_context() {
        let env = EnvMap::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_SHA", "860c1904a1ce19322e91ac35af1ab07466440c37"),
            ("GITHUB_REPOSITORY", "org/api"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_API_URL", "https://api.github.com"),
        ]);
        let ctx = RunContext::from_env_and_event(&env, json!({"repository": {"default_branch": "main"}}));
        assert_eq!(ctx.forge, Some(ForgeKind::Github));
        assert_eq!(ctx.run_url(), "https://github.com/org/api/actions/runs/42");
        assert_eq!(ctx.default_branch(), Some("main"));
    }

    #[test]
    fn detects_forgejo() {
        let env = EnvMap::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://code.example.org/"),
            ("GITHUB_API_URL", "https://code.example.org/api/v1"),
        ]);
        let ctx = RunContext::from_env_and_event(&env, json!({}));
        assert_eq!(ctx.forge, Some(ForgeKind::Forgejo));
        assert_eq!(ctx.server_url, "https://code.example.org");
    }

    #[test]
    fn pr_number_from_ref() {
        let ctx = RunContext { git_ref: "refs/pull/15/merge".into(), ..Default::default() };
        assert_eq!(ctx.pull_request_number(), Some(15));
    }
}
