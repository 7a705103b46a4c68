//! `dispatch`: start the orchestration repository's workflow with the new tag(s) as inputs,
//! and optionally wait for the run to finish (the work is in [`crate::forge::dispatch`]).

use super::forge_args::{ForgeArgs, repo_arg};
use crate::context::RunContext;
use crate::env::EnvMap;
use crate::forge::dispatch::inputs::{parse_inputs, template_vars};
use crate::forge::dispatch::{DispatchOutcome, DispatchRequest, Follow, client_payload, dispatch_and_follow};
use crate::forge::{Dispatch, Forge};
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use std::collections::BTreeMap;
use std::time::Duration;

/// Arguments of `dispatch` (and the inputs of `command: dispatch`).
#[derive(Debug, Clone, clap::Args)]
pub struct DispatchArgs {
    /// Workflow file name (`deploy.yml`), for `workflow_dispatch` (both forges).
    #[arg(long, value_name = "FILE", required_unless_present = "event_type", conflicts_with = "event_type")]
    pub workflow: Option<String>,
    /// Send a `repository_dispatch` event of this type instead (GitHub only); the inputs and
    /// this run's sha, ref, actor and URL go in `client_payload`.
    #[arg(long, value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Where and how to dispatch (shared with `publish`).
    #[command(flatten)]
    pub target: DispatchTarget,
}

/// The repository, ref, inputs and waiting of a dispatch, and the forge to send it to.
#[derive(Debug, Clone, clap::Args)]
pub struct DispatchTarget {
    /// `owner/name` of the repository whose workflow to run.
    #[arg(long = "repository", visible_alias = "repo", value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Branch or tag to run the workflow on.
    #[arg(long = "ref", value_name = "REF", default_value = "main")]
    pub target_ref: String,
    /// Workflow inputs, `name=value`, one per line (values are sent as strings; at most 25).
    #[arg(long = "inputs", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Wait for the run to finish and fail when it does not succeed (`true`/`false`).
    #[arg(long, value_name = "BOOL", default_value = "false", value_parser = crate::settings::bool_input(), action = clap::ArgAction::Set)]
    pub wait: bool,
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

impl DispatchTarget {
    /// Validates the request for `workflow`: the `inputs` lines are added to (and override) `base`.
    pub fn request(
        &self,
        workflow: &str,
        base: BTreeMap<String, String>,
        ctx: &RunContext,
    ) -> Result<DispatchRequest, InputError> {
        self.request_for(workflow, base, "", ctx)
    }

    /// As [`DispatchTarget::request`], with `environment` for the `inputs` templates.
    pub fn request_for(
        &self,
        workflow: &str,
        mut base: BTreeMap<String, String>,
        environment: &str,
        ctx: &RunContext,
    ) -> Result<DispatchRequest, InputError> {
        let repo = repo_arg("repository", self.repo.as_deref(), ctx)?;
        let vars = template_vars(ctx, &base, environment);
        base.extend(parse_inputs(&self.inputs, &vars)?);
        let dispatch =
            Dispatch { workflow: workflow.to_owned(), git_ref: self.target_ref.clone(), inputs: base };
        Ok(DispatchRequest { repo, dispatch, wait: self.wait })
    }

    /// Connects, dispatches and (with `wait`) follows the run; fails when a followed run fails.
    pub async fn send(
        &self,
        req: &DispatchRequest,
        ctx: &RunContext,
        env: &EnvMap,
        runner: &Runner,
    ) -> anyhow::Result<DispatchOutcome> {
        let forge =
            self.forge.connect(ctx, env, runner, &req.repo, crate::forge::app::Access::Dispatch).await?;
        let follow = Follow {
            timeout: Duration::from_secs(self.timeout),
            interval: Duration::from_secs(self.poll_interval),
        };
        dispatch_and_follow(&forge, req, follow, &|line| runner.info(line)).await
    }
}

/// Adds the outputs `run-id`, `run-url`, `run-list-url` and `state`.
pub(crate) fn outcome_outputs(out: &DispatchOutcome, r: &mut Report) {
    r.output("run-id", out.id.clone());
    r.output("run-url", out.url.clone());
    r.output("run-list-url", out.list_url.clone());
    r.output("state", out.state.clone());
}

async fn repository_dispatch(
    args: &DispatchArgs,
    event_type: &str,
    env: &EnvMap,
    runner: &Runner,
) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    let event_type = event_type.trim();
    if event_type.is_empty() || event_type.len() > 100 {
        return Err(InputError::new("event-type", event_type, "must be 1 to 100 characters").into());
    }
    let req = args.target.request("", BTreeMap::new(), &ctx)?;
    // GitHub accepts at most 10 top-level client_payload properties.
    let payload = client_payload(&req.dispatch.inputs, &ctx);
    if payload.as_object().is_some_and(|o| o.len() > 10) {
        return Err(InputError::new(
            "inputs",
            req.dispatch.inputs.keys().cloned().collect::<Vec<_>>().join(","),
            "give at most 5 inputs with event-type: GitHub takes at most 10 client_payload properties (5 are the run's own)",
        )
        .into());
    }
    let forge = args
        .target
        .forge
        .connect(&ctx, env, runner, &req.repo, crate::forge::app::Access::RepositoryDispatch)
        .await?;
    forge.repository_dispatch(&req.repo, event_type, &payload).await?;
    runner.info(&format!("sent repository_dispatch {event_type} to {}", req.repo));
    let mut r = Report::default();
    r.output("state", "dispatched");
    r.text = "dispatched\n".into();
    r.summary = format!("### Sent `{event_type}` to `{}`\n", req.repo);
    r.json = serde_json::json!({ "repo": req.repo.to_string(), "event_type": event_type, "client_payload": payload, "state": "dispatched" });
    Ok(r)
}

/// Runs `dispatch`.
pub(crate) async fn run(args: &DispatchArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let workflow = match (&args.workflow, &args.event_type) {
        (_, Some(event_type)) => return repository_dispatch(args, event_type, env, runner).await,
        (Some(w), None) => w,
        (None, None) => {
            return Err(InputError::new(
                "workflow",
                "",
                "is empty: name the workflow file (deploy.yml), or set event-type",
            )
            .into());
        }
    };
    let ctx = RunContext::from_env(env)?;
    let req = args.target.request(workflow, BTreeMap::new(), &ctx)?;
    let out = args.target.send(&req, &ctx, env, runner).await?;
    let (repo, d) = (&req.repo, &req.dispatch);
    let mut r = Report::default();
    outcome_outputs(&out, &mut r);
    let (url, state) = (&out.url, &out.state);
    r.text = format!("{}\n", if url.is_empty() { state } else { url });
    r.summary =
        format!("### Dispatched `{}` on `{repo}` at `{}`\n\nRun: {url} ({state})\n", d.workflow, d.git_ref);
    r.json = serde_json::json!({ "repo": repo.to_string(), "workflow": d.workflow, "run_id": out.id, "run_url": url, "run_list_url": out.list_url, "state": state });
    Ok(r)
}
