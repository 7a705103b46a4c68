//! `promote`: take the versions live on one environment (its versions file) and release them
//! to another through the gate, optionally retagging each image first (`staging-abc1234` →
//! `v1.2.3`) without rebuilding ([`crate::deploy::promote`]).

use super::release::{OrchestrationArgs, execute};
use crate::context::RunContext;
use crate::deploy::promote;
use crate::deploy::release::Kind;
use crate::env::EnvMap;
use crate::runner::{Report, Runner};
use crate::settings::{InputError, split_list};

/// Arguments of `promote` (and the inputs of `command: promote`).
#[derive(Debug, Clone, clap::Args)]
pub struct PromoteArgs {
    /// Environment to promote to.
    #[arg(long, value_name = "ENV", default_value = "production")]
    pub environment: String,
    /// Environment whose live versions are promoted.
    #[arg(long, value_name = "ENV", default_value = "staging")]
    pub from_environment: String,
    /// Versions file of the source environment (default: `env-file` with `{environment}`
    /// replaced by `from-environment`).
    #[arg(long, value_name = "PATH")]
    pub from_env_file: Option<String>,
    /// Services to promote (default: every `*_IMAGE_TAG` of the source file).
    #[arg(long = "promote-services", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Tag each promoted image with this tag first (`v1.2.3`) and deploy that tag.
    #[arg(long, value_name = "TAG")]
    pub promote_tag: Option<String>,
    /// Shared orchestration arguments.
    #[command(flatten)]
    pub common: OrchestrationArgs,
}

/// Runs `promote`.
pub(crate) async fn run(args: &PromoteArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    let from = args.from_environment.trim();
    let source = args
        .from_env_file
        .clone()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| args.common.env_file(from));
    let dest = args.common.env_file(args.environment.trim());
    if source == dest {
        return Err(InputError::new(
            "from-env-file",
            &source,
            format!(
                "is also the versions file of {}: give each environment its own file (env-file: deploy/{{environment}}/.env.versions) or set from-env-file",
                args.environment.trim()
            ),
        )
        .into());
    }
    let promote_tag = args.promote_tag.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if let Some(t) = promote_tag {
        crate::envfile::validate("promote-tag", "TAG", t)?;
    }
    let wanted: Vec<String> =
        args.services.iter().flat_map(|s| split_list(s, false)).map(|s| s.to_ascii_lowercase()).collect();
    let mut s = args.common.settings(Kind::Promote, &args.environment, Vec::new(), &ctx, env)?;
    let target = args.common.deploy_target(env, runner)?;
    let forge =
        args.common.forge.connect(&ctx, env, runner, &s.repo, crate::forge::app::Access::Release).await?;
    s.tags = promote::live_tags(&forge, &s.repo, &s.branch, &source, &wanted).await?;
    let registries = args.common.registries(&s, env, runner)?;
    if let Some(new_tag) = promote_tag {
        promote::retag(&registries, &s.images, &mut s.tags, new_tag, &|line| runner.info(line)).await?;
    }
    let list: Vec<String> = s.tags.iter().map(|t| format!("{} {}", t.service, t.tag)).collect();
    runner.info(&format!("promoting from {from} to {}: {}", s.environment, list.join(", ")));
    execute(&forge, &registries, &target, &s, runner, None).await
}
