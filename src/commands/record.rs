//! `record`: set image tags (and `LAST_DEPLOY_*`) in the orchestration repository's
//! `.env.versions` through the forge API, safely under concurrent deployments.

use super::forge_args::ForgeArgs;
use super::shared_args::{RunArgs, VersionsRepoArgs};
use crate::context::RunContext;
use crate::env::EnvMap;
use crate::forge::{RetryPolicy, update_env_file};
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use crate::versions::{self, DeployMeta, TagEdit};

/// Arguments of `record` (and the inputs of `command: record`).
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// Where the versions file lives.
    #[command(flatten)]
    pub versions_repo: VersionsRepoArgs,
    /// `service=tag` items (`api=1.2.3`), one per line or comma; in a runner, inputs named
    /// `<service>_image_tag` count too. Empty ones are skipped.
    #[arg(long, value_name = "SERVICE=TAG")]
    pub versions: Vec<String>,
    /// Who deploys, from which run.
    #[command(flatten)]
    pub run: RunArgs,
    /// Forge API and token.
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// The tag edits from `--versions` and the `<service>_image_tag` inputs.
pub(crate) fn tag_edits(versions_raw: &[String], env: &EnvMap) -> Result<Vec<TagEdit>, InputError> {
    let mut tags = versions::edits_from_map("versions", &versions_raw.join("\n"))?;
    let inputs: Vec<(String, String)> = env.inputs().map(|(n, v)| (n, v.to_owned())).collect();
    for edit in versions::edits_from_inputs(inputs.iter().map(|(n, v)| (n.as_str(), v.as_str())))? {
        if tags.iter().any(|t| t.key == edit.key) {
            return Err(InputError::new(
                &edit.input,
                &edit.tag,
                format!("sets {} already set by versions", edit.key),
            ));
        }
        tags.push(edit);
    }
    if tags.is_empty() {
        return Err(InputError::new(
            "versions",
            "",
            "names no tag: give service=tag or a <service>_image_tag input",
        ));
    }
    Ok(tags)
}

/// Runs `record`.
pub(crate) async fn run(args: &RecordArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    let tags = tag_edits(&args.versions, env)?;
    let repo = args.versions_repo.repo(&ctx)?;
    let meta = DeployMeta {
        actor: args.run.actor(&ctx),
        run_url: args.run.run_url(&ctx),
        now: crate::tags::TagsOptions::from_env(env)?.now,
    };
    let edits = versions::deploy_edits(&tags, &meta);
    let forge = args.forge.connect(&ctx, env, runner, &repo, crate::forge::app::Access::Record).await?;
    let update = update_env_file(
        &forge,
        &repo,
        args.versions_repo.branch(),
        &args.versions_repo.file,
        &edits,
        |changes| versions::commit_message("deploy", None, &tags, changes, &meta),
        &RetryPolicy::for_updates(),
    )
    .await?;
    let message = versions::commit_message("deploy", None, &tags, &update.changes, &meta);
    let mut r = Report::default();
    let commit = update.commit.as_ref().map(|c| c.commit_sha.clone()).unwrap_or_default();
    let previous: serde_json::Map<String, serde_json::Value> =
        update.changes.iter().map(|c| (c.key.clone(), c.old.clone().into())).collect();
    r.output("commit-sha", commit.clone());
    r.output("changed", update.commit.is_some().to_string());
    r.output("previous", serde_json::Value::Object(previous.clone()).to_string());
    r.output("commit-message", message.clone());
    let subject = message.lines().next().unwrap_or_default().to_owned();
    runner.info(&format!(
        "{repo}@{}: {subject} ({} attempt(s))",
        args.versions_repo.branch(),
        update.attempts
    ));
    r.text = if commit.is_empty() { format!("{subject} (no change)\n") } else { format!("{commit}\n") };
    r.summary =
        format!("### Recorded in `{repo}/{}`\n\n{subject}\n\nCommit: `{commit}`\n", args.versions_repo.file);
    r.json = serde_json::json!({
        "repo": repo.to_string(), "branch": args.versions_repo.branch(), "file": args.versions_repo.file, "commit_sha": commit,
        "changes": update.changes, "previous": previous, "commit_message": message, "attempts": update.attempts,
    });
    Ok(r)
}
