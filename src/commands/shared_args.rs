//! Argument groups several commands take, so each input is spelled, defaulted and checked
//! the same way everywhere: where the versions files live, and who deploys from which run.

use super::forge_args::repo_arg;
use crate::cli::CONTEXT_HEADING;
use crate::context::RunContext;
use crate::forge::RepoId;
use crate::settings::InputError;

/// Where the versions files live (`record`, `status`, `release`, `rollback`, `promote`,
/// `approve`).
#[derive(Debug, Clone, clap::Args)]
pub struct VersionsRepoArgs {
    /// `owner/name` of the orchestration repository (default: this repository).
    #[arg(long = "repository", visible_alias = "repo", value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Branch the versions files are committed to.
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub branch: String,
    /// Path of the versions file in the repository; in commands that name an environment,
    /// `{environment}` is replaced by it (`deploy/{environment}/.env.versions`).
    #[arg(long = "env-file", visible_alias = "file", value_name = "PATH", default_value = ".env.versions")]
    pub file: String,
}

impl VersionsRepoArgs {
    /// The repository, validated (default: the run's own).
    pub fn repo(&self, ctx: &RunContext) -> Result<RepoId, InputError> {
        repo_arg("repository", self.repo.as_deref(), ctx)
    }

    /// The branch, trimmed.
    pub fn branch(&self) -> &str {
        self.branch.trim()
    }

    /// The versions file of `environment`.
    pub fn file_for(&self, environment: &str) -> String {
        crate::versions::env_file_for(&self.file, environment)
    }
}

/// Who deploys and from which run: read from `GITHUB_*` in a runner, flags on the CLI.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Who deploys (default: `GITHUB_ACTOR`).
    #[arg(long, value_name = "LOGIN", help_heading = CONTEXT_HEADING)]
    pub actor: Option<String>,
    /// Web URL of the deploying run (default: this run's URL).
    #[arg(long, value_name = "URL", help_heading = CONTEXT_HEADING)]
    pub run_url: Option<String>,
}

impl RunArgs {
    /// The actor, else the run's.
    pub fn actor(&self, ctx: &RunContext) -> String {
        self.actor.clone().unwrap_or_else(|| ctx.actor.clone())
    }

    /// The run URL, else this run's.
    pub fn run_url(&self, ctx: &RunContext) -> String {
        self.run_url.clone().unwrap_or_else(|| ctx.run_url())
    }
}
