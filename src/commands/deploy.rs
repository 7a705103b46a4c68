//! `deploy`: roll the given versions out to a target, without any forge: no commit, no
//! deployment record. For local use and for trying a target; `release` is the full pipeline.

use super::record::tag_edits;
use crate::deploy::targets::args::TargetArgs;
use crate::deploy::targets::{Rollout, Target};
use crate::env::EnvMap;
use crate::envfile::EnvFile;
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use anyhow::Context as _;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `deploy` (and the inputs of `command: deploy`).
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// The environment deployed to (`staging`, `production`); given to the target.
    #[arg(long, value_name = "NAME")]
    pub environment: String,
    /// `service=tag` items (`api=1.2.3`); in a runner, `<service>_image_tag` inputs count too.
    #[arg(long, value_name = "SERVICE=TAG")]
    pub versions: Vec<String>,
    /// The local versions file the current (old) tags are read from; it is not written.
    #[arg(long = "env-file", visible_alias = "file", value_name = "PATH", default_value = ".env.versions")]
    pub file: PathBuf,
    /// Tell the target this restores older versions (`true`/`false`).
    #[arg(long, value_name = "BOOL", default_value = "false", value_parser = crate::settings::bool_input(), action = clap::ArgAction::Set)]
    pub rollback: bool,
    /// The target and its inputs.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Runs `deploy`.
pub(crate) async fn run(args: &DeployArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let environment = args.environment.trim();
    if environment.is_empty() {
        return Err(InputError::new("environment", "", "is empty: name the environment deployed to").into());
    }
    let rollback = args.rollback;
    let tags = tag_edits(&args.versions, env)?;
    let target = args.target.target(env, runner)?;
    let current = match std::fs::read_to_string(&args.file) {
        Ok(text) => EnvFile::parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => EnvFile::parse(""),
        Err(e) => return Err(e).with_context(|| format!("reading {}", args.file.display())),
    };
    let rollout = Rollout::from_tags(environment, &current, &tags, rollback)?;
    let started = Instant::now();
    runner.group(&format!("deploy to {environment} via {}", target.name()));
    let result = target.deploy(&rollout, &mut |line: &str| runner.info(line)).await;
    runner.end_group();
    result?;
    let elapsed = started.elapsed();
    let changes: Vec<String> = rollout
        .changed
        .iter()
        .map(|c| format!("{} {} → {}", c.service, c.old.as_deref().unwrap_or("(new)"), c.new))
        .collect();
    let what = if changes.is_empty() { "no tag changed".to_owned() } else { changes.join(", ") };
    let rows: String = rollout
        .changed
        .iter()
        .map(|c| format!("| {} | {} | {} |\n", c.service, c.old.as_deref().unwrap_or("(new)"), c.new))
        .collect();
    let name = target.name();
    let r = Report {
        text: format!("deployed to {environment} via {name} in {elapsed:.1?}: {what}\n"),
        summary: format!(
            "### Deployed to `{environment}` via `{name}`\n\n| Service | Old | New |\n|---|---|---|\n{rows}"
        ),
        json: serde_json::json!({
            "environment": environment, "target": name, "rollout": rollout,
            "seconds": elapsed.as_secs_f64(),
        }),
        ..Report::default()
    };
    Ok(r)
}
