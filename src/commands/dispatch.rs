//! `dispatch`: start the orchestration repository's workflow with the new tag(s) as inputs,
//! and optionally wait for the run to finish.

use super::forge_args::{ForgeArgs, repo_arg};
use crate::context::RunContext;
use crate::env::EnvMap;
use crate::forge::{AnyForge, Dispatch, Forge, RepoId, Run, RunFilter, RunState};
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use anyhow::bail;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

/// Parses the `inputs` input: `name=value` lines or one JSON object (numbers and booleans
/// become strings: every value is sent as a string). A value holding `{{ … }}` or `{% … %}` is
/// a minijinja template rendered with `vars` (an undefined name is an error naming it).
pub fn parse_inputs(
    items: &[String],
    vars: &serde_json::Value,
) -> Result<BTreeMap<String, String>, InputError> {
    let joined = items.join("\n");
    let mut out = BTreeMap::new();
    if joined.trim_start().starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(joined.trim())
            .map_err(|e| InputError::new("inputs", joined.trim(), format!("is not a JSON object: {e}")))?;
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
                other => {
                    return Err(InputError::new(
                        "inputs",
                        other.to_string(),
                        format!("{k}: values must be strings, numbers or booleans"),
                    ));
                }
            };
            out.insert(k, render_input(&v, vars)?);
        }
        return Ok(out);
    }
    for line in joined.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once('=') else {
            return Err(InputError::new("inputs", line, "must be name=value"));
        };
        if out.insert(k.trim().to_owned(), render_input(v.trim(), vars)?).is_some() {
            return Err(InputError::new("inputs", line, "names an input twice"));
        }
    }
    Ok(out)
}

/// Renders one input value as a minijinja template when it holds one.
fn render_input(value: &str, vars: &serde_json::Value) -> Result<String, InputError> {
    if !value.contains("{{") && !value.contains("{%") {
        return Ok(value.to_owned());
    }
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(value, jinja_value(vars))
        .map(|v| v.trim().to_owned())
        .map_err(|e| InputError::new("inputs", value, format!("is not a valid template: {e}")))
}

/// A JSON value as a template value.
fn jinja_value(v: &serde_json::Value) -> minijinja::Value {
    use minijinja::Value;
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            n.as_i64().map(Value::from).unwrap_or_else(|| Value::from(n.as_f64().unwrap_or_default()))
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(jinja_value).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => {
            Value::from(o.iter().map(|(k, v)| (k.clone(), jinja_value(v))).collect::<BTreeMap<_, _>>())
        }
    }
}

/// What an `inputs` template may use: this run's `sha`, `short_sha`, `ref`, `ref_name`,
/// `actor`, `run_url`, `repository`, `event_name`, the `environment` the `environments` lines
/// chose (publish; empty otherwise), and each default input by name (publish:
/// `api_image_tag`, …) also under `defaults`.
pub fn template_vars(
    ctx: &RunContext,
    defaults: &BTreeMap<String, String>,
    environment: &str,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "environment": environment,
        "sha": ctx.sha,
        "short_sha": ctx.sha.chars().take(7).collect::<String>(),
        "ref": ctx.git_ref,
        "ref_name": ctx.git_ref.rsplit('/').next().unwrap_or_default(),
        "actor": ctx.actor,
        "run_url": ctx.run_url(),
        "repository": ctx.repository,
        "event_name": ctx.event_name,
        "defaults": defaults,
    });
    for (k, val) in defaults {
        v[k] = val.clone().into();
    }
    v
}

/// A validated dispatch: where, what, and whether to wait.
#[derive(Clone, Debug)]
pub struct DispatchRequest {
    /// The target repository.
    pub repo: RepoId,
    /// Workflow, ref and inputs.
    pub dispatch: Dispatch,
    /// Follow the run to its end.
    pub wait: bool,
}

/// How a dispatch ended: the run's id, URL and last known state (empty id and URL when the
/// forge returned no run and we did not wait).
#[derive(Clone, Debug)]
pub struct DispatchOutcome {
    /// Run id.
    pub id: String,
    /// Run web URL.
    pub url: String,
    /// The web page listing the workflow's runs (where to look when the run was not found).
    pub list_url: String,
    /// `dispatched`, `queued`, `success`, …
    pub state: String,
}

impl DispatchOutcome {
    /// Adds the outputs `run-id`, `run-url`, `run-list-url` and `state`.
    pub fn outputs(&self, r: &mut Report) {
        r.output("run-id", self.id.clone());
        r.output("run-url", self.url.clone());
        r.output("run-list-url", self.list_url.clone());
        r.output("state", self.state.clone());
    }
}

/// What became of a dispatched run.
enum Followed {
    /// Read from the forge (followed to its end with `wait`).
    Run(Run),
    /// Not looked up: the forge returned no id and we did not wait.
    Unknown,
    /// The forge has no runs API: the dispatch answer is all there is.
    NoRunsApi(crate::forge::Dispatched),
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
        let wait = self.wait;
        let vars = template_vars(ctx, &base, environment);
        base.extend(parse_inputs(&self.inputs, &vars)?);
        let dispatch =
            Dispatch { workflow: workflow.to_owned(), git_ref: self.target_ref.clone(), inputs: base };
        Ok(DispatchRequest { repo, dispatch, wait })
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
        let run = dispatch_and_wait(&forge, req, self, runner).await?;
        let d = &req.dispatch;
        if let Followed::Run(run) = &run
            && req.wait
            && run.state != RunState::Success
        {
            bail!("run {} of {} ended {:?}: {}", run.id, d.workflow, run.state, run.html_url);
        }
        let list_url = forge.runs_page(&req.repo, &d.workflow);
        let dispatched = |id: Option<u64>, url: Option<String>| DispatchOutcome {
            id: id.map(|i| i.to_string()).unwrap_or_default(),
            url: url.unwrap_or_default(),
            list_url: list_url.clone(),
            state: "dispatched".to_owned(),
        };
        Ok(match run {
            Followed::Run(run) => DispatchOutcome {
                id: run.id.to_string(),
                url: run.html_url.clone(),
                list_url: list_url.clone(),
                state: format!("{:?}", run.state).to_ascii_lowercase(),
            },
            Followed::Unknown => dispatched(None, None),
            Followed::NoRunsApi(d) => dispatched(d.run_id, d.html_url),
        })
    }
}

/// The `client_payload` of a `repository_dispatch`: the inputs, each `<service>_image_tag`
/// as `services.<service>.tag`, and this run's repository, sha, ref, actor and URL.
pub fn client_payload(inputs: &BTreeMap<String, String>, ctx: &RunContext) -> serde_json::Value {
    let mut services = serde_json::Map::new();
    for (k, v) in inputs {
        if let Some(service) = k.strip_suffix(crate::versions::TAG_INPUT_SUFFIX) {
            services.insert(service.to_owned(), serde_json::json!({ "tag": v }));
        }
    }
    let mut payload: serde_json::Map<String, serde_json::Value> =
        inputs.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
    payload.insert("services".into(), services.into());
    for (k, v) in [
        ("repository", ctx.repository.clone()),
        ("sha", ctx.sha.clone()),
        ("ref", ctx.git_ref.clone()),
        ("actor", ctx.actor.clone()),
        ("run_url", ctx.run_url()),
    ] {
        payload.entry(k).or_insert(v.into());
    }
    payload.into()
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
pub async fn run(args: &DispatchArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
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
    out.outputs(&mut r);
    let (url, state) = (&out.url, &out.state);
    r.text = format!("{}\n", if url.is_empty() { state } else { url });
    r.summary =
        format!("### Dispatched `{}` on `{repo}` at `{}`\n\nRun: {url} ({state})\n", d.workflow, d.git_ref);
    r.json = serde_json::json!({ "repo": repo.to_string(), "workflow": d.workflow, "run_id": out.id, "run_url": url, "run_list_url": out.list_url, "state": state });
    Ok(r)
}

/// The workflow input that carries a correlation id, when the workflow declares it.
pub const DISPATCH_ID: &str = "dispatch_id";

/// Whether the dispatched workflow file declares a `dispatch_id` input. Forgejo reads only
/// the first existing workflow directory; a file that cannot be read counts as no.
async fn declares_dispatch_id(forge: &AnyForge, repo: &RepoId, d: &Dispatch) -> bool {
    let dirs: &[&str] = match forge.kind() {
        crate::context::ForgeKind::Github => &[".github/workflows"],
        crate::context::ForgeKind::Forgejo => {
            &[".forgejo/workflows", ".gitea/workflows", ".github/workflows"]
        }
    };
    for dir in dirs {
        match forge.get_file(repo, &format!("{dir}/{}", d.workflow), Some(&d.git_ref)).await {
            Ok(Some(f)) => return declares_input(&f.text, DISPATCH_ID),
            Ok(None) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// Whether workflow YAML declares `input` under `on.workflow_dispatch.inputs` (a key at
/// deeper indentation than `inputs:` inside the `workflow_dispatch:` block).
pub fn declares_input(yaml: &str, input: &str) -> bool {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut in_dispatch: Option<usize> = None;
    // (indent of `inputs:`, indent of its direct children once seen)
    let mut in_inputs: Option<(usize, Option<usize>)> = None;
    for line in yaml.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
        let ind = indent(line);
        let key = line.trim().split(':').next().unwrap_or_default().trim();
        if in_inputs.is_some_and(|(i, _)| ind <= i) {
            in_inputs = None;
        }
        if in_dispatch.is_some_and(|i| ind <= i) {
            in_dispatch = None;
        }
        if let Some((_, child)) = &mut in_inputs {
            let child = *child.get_or_insert(ind);
            if ind == child && key == input {
                return true;
            }
        } else if in_dispatch.is_some() && line.trim() == "inputs:" {
            in_inputs = Some((ind, None));
        } else if line.trim().starts_with("workflow_dispatch:") {
            in_dispatch = Some(ind);
        }
    }
    false
}

async fn dispatch_and_wait(
    forge: &AnyForge,
    req: &DispatchRequest,
    args: &DispatchTarget,
    runner: &Runner,
) -> anyhow::Result<Followed> {
    let (repo, wait) = (&req.repo, req.wait);
    // Forgejo before v12 has no runs API: a run can be neither found nor followed. Waiting is
    // refused before anything is dispatched; without it the dispatch alone is the result.
    if let Some(server) = forge.missing_runs_api().await {
        let d = &req.dispatch;
        if wait {
            bail!(
                "wait: true cannot follow the run of {} on {repo}: {server} has no runs API (Forgejo v12 added \
                 `/actions/runs`); nothing was dispatched. Fix: set wait: false (the run then shows on {}), \
                 or upgrade the forge to Forgejo v12 or later",
                d.workflow,
                forge.runs_page(repo, &d.workflow)
            );
        }
        let dispatched = forge.dispatch_workflow(repo, d).await?;
        runner.info(&format!("dispatched {} on {repo} at {}", d.workflow, d.git_ref));
        runner.info(&format!(
            "{server} has no runs API (Forgejo v12 added it): the run is not looked up; its state is not known. Runs: {}",
            forge.runs_page(repo, &d.workflow)
        ));
        return Ok(Followed::NoRunsApi(dispatched));
    }
    let mut d = req.dispatch.clone();
    // A workflow that declares `dispatch_id` gets a fresh one, so its run can be told apart
    // from others (by its title: `run-name: … ${{ inputs.dispatch_id }}`) when the forge does
    // not return the run's id.
    let correlation =
        if wait && !d.inputs.contains_key(DISPATCH_ID) && declares_dispatch_id(forge, repo, &d).await {
            let id = format!("{:016x}", rand::random::<u64>());
            d.inputs.insert(DISPATCH_ID.to_owned(), id.clone());
            runner.info(&format!("{} declares {DISPATCH_ID}: dispatching with {id}", d.workflow));
            Some(id)
        } else {
            None
        };
    let d = &d;
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
            Some(id) => Followed::Run(forge.get_run(repo, id).await?),
            None => Followed::Unknown,
        });
    }
    loop {
        if id.is_none() {
            id = forge
                .list_runs(repo, &filter)
                .await?
                .iter()
                .filter(|r| !before.contains(&r.id))
                .find(|r| correlation.as_ref().is_none_or(|c| r.title.contains(c.as_str())))
                .map(|r| r.id);
        }
        if let Some(id) = id {
            let run = forge.get_run(repo, id).await?;
            if run.state.is_terminal() {
                return Ok(Followed::Run(run));
            }
        }
        if started.elapsed() + interval > deadline {
            bail!("the run of {} did not finish within {}s", d.workflow, args.timeout);
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{declares_input, parse_inputs};

    #[test]
    fn inputs_are_lines_or_json_and_may_be_templates() {
        let vars =
            serde_json::json!({"short_sha": "abc1234", "ref": "refs/tags/v1.2.3", "api_image_tag": "v1.2.3"});
        let lines = parse_inputs(
            &["environment={{ 'production' if ref is startingwith('refs/tags/v') else 'staging' }}\nnote=sha {{ short_sha }}".into()],
            &vars,
        )
        .unwrap();
        assert_eq!(lines["environment"], "production");
        assert_eq!(lines["note"], "sha abc1234");
        let json = parse_inputs(
            &[r#"{"dashboard_image_tag": "{{ api_image_tag }}", "replicas": 3, "dry_run": false}"#.into()],
            &vars,
        )
        .unwrap();
        assert_eq!(json["dashboard_image_tag"], "v1.2.3");
        assert_eq!((json["replicas"].as_str(), json["dry_run"].as_str()), ("3", "false"));
        let err = parse_inputs(&["x={{ nope }}".into()], &vars).unwrap_err();
        assert_eq!(err.input, "inputs");
        assert!(parse_inputs(&[r#"{"a": [1]}"#.into()], &vars).is_err());
    }

    #[test]
    fn finds_a_declared_workflow_dispatch_input() {
        let wf = "name: deploy\nrun-name: deploy ${{ inputs.dispatch_id }}\non:\n  workflow_dispatch:\n    inputs:\n      api_image_tag:\n        type: string\n      dispatch_id:\n        required: false\njobs:\n  x:\n    steps: []\n";
        assert!(declares_input(wf, "dispatch_id"));
        assert!(declares_input(wf, "api_image_tag"));
        assert!(!declares_input(wf, "type"));
        let other = "on:\n  push:\n    inputs:\n      dispatch_id: x\n  workflow_dispatch:\n    inputs:\n      api_image_tag: {}\njobs: {}\n";
        assert!(!declares_input(other, "dispatch_id"));
    }
}
