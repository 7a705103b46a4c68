//! `rollback`: restore older versions (`to: previous` from the versions file's history, or
//! `service=tag` items), verified in the registry first, through the same gate, deploy and
//! health steps as `release`; the commit and the deployment say it is a rollback.

use super::release::{OrchestrationArgs, execute};
use crate::context::RunContext;
use crate::deploy::plan::previous_versions;
use crate::deploy::release::Kind;
use crate::env::EnvMap;
use crate::forge::{AnyForge, Forge, RepoId};
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use crate::versions::TagEdit;

/// How many commits of the versions file `to: previous` looks back through.
const HISTORY_DEPTH: usize = 20;

/// Arguments of `rollback` (and the inputs of `command: rollback`).
#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// Environment to roll back.
    #[arg(long, value_name = "ENV")]
    pub environment: String,
    /// `previous` (the versions before the last change, from the file's history) or
    /// `service=tag` items; inputs named `<service>_image_tag` count too.
    #[arg(long, value_name = "previous|SERVICE=TAG", default_value = "previous")]
    pub to: String,
    /// Shared orchestration arguments.
    #[command(flatten)]
    pub common: OrchestrationArgs,
}

/// Runs `rollback`.
pub(crate) async fn run(args: &RollbackArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    let to = args.to.trim();
    let explicit = if to == "previous" || to.is_empty() {
        // `<service>_image_tag` inputs name versions too; invalid ones are still refused.
        let inputs: Vec<(String, String)> = env.inputs().map(|(n, v)| (n, v.to_owned())).collect();
        let named = crate::versions::edits_from_inputs(inputs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
        (!named.is_empty()).then_some(named)
    } else {
        Some(super::record::tag_edits(&[to.to_owned()], env).map_err(|e| rename(e, "to"))?)
    };
    // Settings are validated with the explicit tags (or none) before anything is contacted.
    let mut s = args.common.settings(
        Kind::Rollback,
        &args.environment,
        explicit.clone().unwrap_or_default(),
        &ctx,
        env,
    )?;
    let target = args.common.deploy_target(env, runner)?;
    let forge =
        args.common.forge.connect(&ctx, env, runner, &s.repo, crate::forge::app::Access::Release).await?;
    async {
        if explicit.is_none() {
            s.tags = previous(&forge, &s.repo, &s.branch, &s.env_file).await?;
            let list: Vec<String> = s.tags.iter().map(|t| format!("{} {}", t.service, t.tag)).collect();
            runner.info(&format!("previous versions of {}: {}", s.env_file, list.join(", ")));
        }
        // The services are known now: the registries are those of their images.
        let registries = args.common.registries(&s, env, runner)?;
        execute(&forge, &registries, &target, &s, runner, None).await
    }
    .await
}

fn rename(mut e: InputError, input: &str) -> InputError {
    if e.input == "versions" {
        e.input = input.to_owned();
    }
    e
}

/// The versions before the last change, from the file's history.
async fn previous(forge: &AnyForge, repo: &RepoId, branch: &str, path: &str) -> anyhow::Result<Vec<TagEdit>> {
    let commits = forge.list_commits(repo, path, branch, HISTORY_DEPTH).await?;
    let mut history = Vec::new();
    for c in &commits {
        let text = forge.get_file(repo, path, Some(&c.sha)).await?.map(|f| f.text).unwrap_or_default();
        history.push((c.message.clone(), text));
        if let Some(found) = previous_versions(&history).filter(|_| history.len() > 1) {
            return Ok(found);
        }
    }
    anyhow::bail!(
        "{repo}: {path} on {branch} has no earlier versions to roll back to in its last {} commits; name them with `to: service=tag`",
        commits.len()
    )
}
