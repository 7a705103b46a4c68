//! The process environment as data, and every environment variable name the action reads.
//!
//! Code below `main` never calls `std::env::var`: it gets an [`EnvMap`], so tests can
//! build one from a fixture.

use std::collections::BTreeMap;

/// A snapshot of environment variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvMap(BTreeMap<String, String>);

impl EnvMap {
    /// Captures the current process environment (non-UTF-8 entries are skipped).
    pub fn from_process() -> Self {
        EnvMap(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        )
    }

    /// Builds a map from pairs (for tests and fixtures).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        EnvMap(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `name` when set and not empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Sets a variable (tests, and settings derived by the action).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// True when running inside a GitHub, Forgejo or Gitea Actions runner.
    pub fn in_runner(&self) -> bool {
        [vars::GITHUB_ACTIONS, vars::FORGEJO_ACTIONS, vars::GITEA_ACTIONS]
            .iter()
            .any(|v| self.get(v) == Some("true"))
    }

    /// A context variable by its suffix (`REF`, `SHA`, …): `GITHUB_<suffix>`, else Forgejo's
    /// native `FORGEJO_<suffix>`.
    pub fn runner_var(&self, suffix: &str) -> Option<&str> {
        self.non_empty(&format!("GITHUB_{suffix}")).or_else(|| self.non_empty(&format!("FORGEJO_{suffix}")))
    }

    /// A file the step writes (`OUTPUT`, `STEP_SUMMARY`): Forgejo's native `FORGEJO_<suffix>`
    /// first (Forgejo Runner 7+ keeps `GITHUB_<suffix>` only as an alias), else `GITHUB_<suffix>`.
    pub fn runner_file(&self, suffix: &str) -> Option<&str> {
        self.non_empty(&format!("FORGEJO_{suffix}")).or_else(|| self.non_empty(&format!("GITHUB_{suffix}")))
    }

    /// The raw value of action input `name` (`INPUT_<NAME>`), as the runners name it:
    /// upper-cased, spaces to `_`, hyphens kept.
    pub fn input(&self, name: &str) -> Option<&str> {
        self.get(&vars::input(name))
    }

    /// Every variable, sorted by name (for a child process's environment).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// All `INPUT_*` variables as (lower-case input name, value).
    pub fn inputs(&self) -> impl Iterator<Item = (String, &str)> {
        self.0
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("INPUT_").map(|n| (n.to_ascii_lowercase(), v.as_str())))
    }
}

/// Environment variable names, in one place.
pub mod vars {
    /// `true` inside GitHub's and Forgejo's runners (and act).
    pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
    /// Event that triggered the workflow.
    pub const GITHUB_EVENT_NAME: &str = "GITHUB_EVENT_NAME";
    /// Path of the event payload JSON.
    pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
    /// Fully-formed ref (`refs/heads/main`, `refs/tags/v1`, `refs/pull/1/merge`).
    pub const GITHUB_REF: &str = "GITHUB_REF";
    /// Short ref name.
    pub const GITHUB_REF_NAME: &str = "GITHUB_REF_NAME";
    /// `branch` or `tag`.
    pub const GITHUB_REF_TYPE: &str = "GITHUB_REF_TYPE";
    /// Commit sha of the event.
    pub const GITHUB_SHA: &str = "GITHUB_SHA";
    /// owner/name.
    pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
    /// Repository owner.
    pub const GITHUB_REPOSITORY_OWNER: &str = "GITHUB_REPOSITORY_OWNER";
    /// Login that triggered the run.
    pub const GITHUB_ACTOR: &str = "GITHUB_ACTOR";
    /// Login that triggered a re-run.
    pub const GITHUB_TRIGGERING_ACTOR: &str = "GITHUB_TRIGGERING_ACTOR";
    /// Run id.
    pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
    /// Run number.
    pub const GITHUB_RUN_NUMBER: &str = "GITHUB_RUN_NUMBER";
    /// Run attempt.
    pub const GITHUB_RUN_ATTEMPT: &str = "GITHUB_RUN_ATTEMPT";
    /// Web URL of the forge.
    pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
    /// REST API URL of the forge.
    pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
    /// Checkout directory.
    pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";
    /// Target branch of a pull request.
    pub const GITHUB_BASE_REF: &str = "GITHUB_BASE_REF";
    /// Source branch of a pull request.
    pub const GITHUB_HEAD_REF: &str = "GITHUB_HEAD_REF";
    /// Workflow name.
    pub const GITHUB_WORKFLOW: &str = "GITHUB_WORKFLOW";
    /// Job id.
    pub const GITHUB_JOB: &str = "GITHUB_JOB";
    /// File the step writes outputs to.
    pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
    /// Suffix of the outputs file variable (`GITHUB_OUTPUT`, `FORGEJO_OUTPUT`).
    pub const OUTPUT_SUFFIX: &str = "OUTPUT";
    /// Suffix of the job summary file variable.
    pub const STEP_SUMMARY_SUFFIX: &str = "STEP_SUMMARY";
    /// Suffix of the file that sets environment variables for the job's next steps
    /// (`GITHUB_ENV`, `FORGEJO_ENV`).
    pub const ENV_SUFFIX: &str = "ENV";
    /// File the step appends its Markdown summary to.
    pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
    /// Token of the job (GitHub: `GITHUB_TOKEN` when passed through env).
    pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
    /// Set to `true` by Forgejo's runner.
    pub const FORGEJO_ACTIONS: &str = "FORGEJO_ACTIONS";
    /// Set to `true` by Gitea's and Forgejo's runners.
    pub const GITEA_ACTIONS: &str = "GITEA_ACTIONS";
    /// Forgejo's job token, when exposed.
    pub const FORGEJO_TOKEN: &str = "FORGEJO_TOKEN";
    /// Reproducible-build timestamp (seconds since the epoch).
    pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
    /// metadata-action compatibility: use the PR head sha instead of the merge sha.
    pub const DOCKER_METADATA_PR_HEAD_SHA: &str = "DOCKER_METADATA_PR_HEAD_SHA";
    /// metadata-action compatibility: length of the short sha (default 7).
    pub const DOCKER_METADATA_SHORT_SHA_LENGTH: &str = "DOCKER_METADATA_SHORT_SHA_LENGTH";
    /// metadata-action compatibility: where annotations go (`manifest,index,…`).
    pub const DOCKER_METADATA_ANNOTATIONS_LEVELS: &str = "DOCKER_METADATA_ANNOTATIONS_LEVELS";
    /// metadata-action compatibility: set the `DOCKER_METADATA_OUTPUT_*` env vars.
    pub const DOCKER_METADATA_SET_OUTPUT_ENV: &str = "DOCKER_METADATA_SET_OUTPUT_ENV";
    /// Docker engine endpoint.
    pub const DOCKER_HOST: &str = "DOCKER_HOST";
    /// Docker client config directory (`config.json`).
    pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
    /// Home directory (for `~/.docker/config.json`).
    pub const HOME: &str = "HOME";
    /// The runner's per-job temporary directory (where `publish` writes its layouts).
    pub const RUNNER_TEMP: &str = "RUNNER_TEMP";
    /// Seconds of the first wait after a GitHub secondary rate limit (default 60). A hidden
    /// tuning knob for tests, never an action input.
    pub const SECONDARY_RATE_LIMIT_WAIT: &str = "DEPLOY_ACTION_SECONDARY_RATE_LIMIT_WAIT";

    /// The variable name of action input `name`: `INPUT_` + upper-case, spaces to `_`.
    pub fn input(name: &str) -> String {
        format!("INPUT_{}", name.replace(' ', "_").to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgejo_native_files_win_and_github_context_names_come_first() {
        let env = EnvMap::from_pairs([
            ("GITHUB_OUTPUT", "/alias"),
            ("FORGEJO_OUTPUT", "/native"),
            ("FORGEJO_REF", "refs/heads/x"),
            ("FORGEJO_ACTIONS", "true"),
        ]);
        assert_eq!(env.runner_file("OUTPUT"), Some("/native"));
        assert_eq!(env.runner_var("REF"), Some("refs/heads/x"));
        assert!(env.in_runner());
    }

    #[test]
    fn input_names_follow_the_runner() {
        assert_eq!(vars::input("sep-tags"), "INPUT_SEP-TAGS");
        assert_eq!(vars::input("my input"), "INPUT_MY_INPUT");
        let env = EnvMap::from_pairs([("INPUT_SEP-TAGS", ",")]);
        assert_eq!(env.input("sep-tags"), Some(","));
    }
}
