//! `dispatch`: start the orchestration repository's workflow with the new tag(s) as inputs,
//! and optionally wait for the run to finish.

use super::forge_args::{ForgeArgs, repo_arg};
use crate::context::RunContext;
use crate::env::EnvMap;
use crate::forge::{AnyForge, Dispatch, Forge, RepoId, Run, RunFilter, RunState};
use crate::runner::{Report, Runner};
use crate::settings::{InputError, parse_bool};
use anyhow::bail;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Arguments of `dispatch` (and the inputs of `command: dispatch`).
#[derive(Debug, Clone, clap::Args)]
pub struct DispatchArgs {
    /// `owner/name` of the repository whose workflow to run.
    #[arg(long = "repository", visible_alias = "repo", value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Workflow file name (`deploy.yml`).
    #[arg(long, value_name = "FILE")]
    pub workflow: String,
    /// Branch or tag to run the workflow on.
    #[arg(long = "ref", value_name = "REF", default_value = "main")]
    pub target_ref: String,
    /// Workflow inputs, `name=value`, one per line (values are sent as strings; at most 25).
    #[arg(long = "inputs", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Wait for the run to finish and fail when it does not succeed (`true`/`false`).
    #[arg(long, value_name = "BOOL", default_value = "false")]
    pub wait: String,
    /// Longest wait, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub timeout: u64,
    /// Seconds between polls while waiting.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub poll_interval: u64,
    /// Forge API and token.
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// Parses `name=value` lines into inputs.
pub fn parse_inputs(items: &[String]) -> Result<BTreeMap<String, String>, InputError> {
    let mut out = BTreeMap::new();
    for line in items.iter().flat_map(|i| i.lines()).map(str::trim).filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once('=') else {
            return Err(InputError::new("inputs", line, "must be name=value"));
        };
        if out.insert(k.trim().to_owned(), v.trim().to_owned()).is_some() {
            return Err(InputError::new("inputs", line, "names an input twice"));
        }
    }
    Ok(out)
}

/// Runs `dispatch`.
pub fn run(args: &DispatchArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    let repo = repo_arg("repository", args.repo.as_deref(), &ctx)?;
    let wait = parse_bool("wait", &args.wait)?;
    let d = Dispatch {
        workflow: args.workflow.clone(),
        git_ref: args.target_ref.clone(),
        inputs: parse_inputs(&args.inputs)?,
    };
    let forge = args.forge.connect(&ctx, env)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let run = rt.block_on(dispatch_and_wait(&forge, &repo, &d, args, wait, runner))?;
    let mut r = Report::default();
    let (id, url, state) = match &run {
        Some(run) => {
            (run.id.to_string(), run.html_url.clone(), format!("{:?}", run.state).to_ascii_lowercase())
        }
        None => (String::new(), String::new(), "dispatched".to_owned()),
    };
    r.output("run-id", id.clone());
    r.output("run-url", url.clone());
    r.output("state", state.clone());
    r.text = format!("{}\n", if url.is_empty() { &state } else { &url });
    r.summary =
        format!("### Dispatched `{}` on `{repo}` at `{}`\n\nRun: {url} ({state})\n", d.workflow, d.git_ref);
    r.json = serde_json::json!({ "repo": repo.to_string(), "workflow": d.workflow, "run_id": id, "run_url": url, "state": state });
    if let Some(run) = &run
        && wait
        && run.state != RunState::Success
    {
        bail!("run {} of {} ended {:?}: {}", run.id, d.workflow, run.state, run.html_url);
    }
    Ok(r)
}

async fn dispatch_and_wait(
    forge: &AnyForge,
    repo: &RepoId,
    d: &Dispatch,
    args: &DispatchArgs,
    wait: bool,
    runner: &Runner,
) -> anyhow::Result<Option<Run>> {
    let filter = RunFilter {
        workflow: d.workflow.clone(),
        event: Some("workflow_dispatch".into()),
        head_sha: None,
        max: 20,
    };
    // Runs seen before the dispatch, to find ours when the forge does not return its id.
    let before: Vec<u64> = if wait {
        forge.list_runs(repo, &filter).await.map(|r| r.iter().map(|r| r.id).collect()).unwrap_or_default()
    } else {
        Vec::new()
    };
    let dispatched = forge.dispatch_workflow(repo, d).await?;
    runner.info(&format!("dispatched {} on {repo} at {}", d.workflow, d.git_ref));
    let started = Instant::now();
    let deadline = Duration::from_secs(args.timeout);
    let interval = Duration::from_secs(args.poll_interval.max(1));
    let mut id = dispatched.run_id;
    if !wait {
        return Ok(match id {
            Some(id) => Some(forge.get_run(repo, id).await?),
            None => None,
        });
    }
    loop {
        if id.is_none() {
            id = forge.list_runs(repo, &filter).await?.iter().map(|r| r.id).find(|i| !before.contains(i));
        }
        if let Some(id) = id {
            let run = forge.get_run(repo, id).await?;
            if run.state.is_terminal() {
                return Ok(Some(run));
            }
        }
        if started.elapsed() + interval > deadline {
            bail!("the run of {} did not finish within {}s", d.workflow, args.timeout);
        }
        tokio::time::sleep(interval).await;
    }
}
