//! `status`: what runs where. For each environment, the versions its file records, the last
//! deploy, the file's latest commits and (GitHub) the latest deployment and its state.

use super::forge_args::ForgeArgs;
use super::shared_args::VersionsRepoArgs;
use crate::context::RunContext;
use crate::deploy::status::{gather, render_summary, render_text};
use crate::env::EnvMap;
use crate::runner::{Report, Runner};
use crate::settings::{InputError, split_list};
use anyhow::Context;

/// Most commits listed per environment.
const MAX_HISTORY: usize = 50;

/// Arguments of `status` (and the inputs of `command: status`).
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Environments to report on, comma or newline separated (`staging, production`).
    #[arg(long = "status-environments", value_name = "ENV")]
    pub environments: Vec<String>,
    /// Where the versions file lives.
    #[command(flatten)]
    pub versions_repo: VersionsRepoArgs,
    /// Latest commits of each versions file to list (0 to 50).
    #[arg(long = "status-history", value_name = "N", default_value_t = 5)]
    pub history: usize,
    /// Forge API and token (read access is enough).
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// The environments to report on, validated (no I/O).
pub(crate) fn environments(args: &StatusArgs) -> Result<Vec<String>, InputError> {
    let mut out: Vec<String> = Vec::new();
    for e in args.environments.iter().flat_map(|e| split_list(e, false)) {
        if e.contains(['/', '{', '}']) || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InputError::new("status-environments", &e, "must be environment names"));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err(InputError::new(
            "status-environments",
            "",
            "is required: the environments to report on (`staging, production`)",
        ));
    }
    if args.history > MAX_HISTORY {
        return Err(InputError::new("status-history", args.history.to_string(), "must be 0 to 50"));
    }
    Ok(out)
}

/// Runs `status`.
pub(crate) async fn run(args: &StatusArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let environments = environments(args)?;
    let ctx = RunContext::from_env(env)?;
    let repo = args.versions_repo.repo(&ctx)?;
    let branch = args.versions_repo.branch();
    let forge = args.forge.connect(&ctx, env, runner, &repo, crate::forge::app::Access::Status).await?;
    let all = gather(&forge, &repo, branch, &args.versions_repo.file, &environments, args.history)
        .await
        .with_context(|| format!("reading the status of {} in {repo}@{branch}", environments.join(", ")))?;
    let json = serde_json::json!({ "repo": repo.to_string(), "branch": branch, "environments": all });
    let mut r = Report::default();
    r.output("status", serde_json::to_string(&all)?);
    r.text = render_text(&all);
    r.summary = render_summary(&repo, &all);
    r.json = json;
    Ok(r)
}
