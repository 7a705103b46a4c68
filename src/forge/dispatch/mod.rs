//! Dispatching a workflow and following its run: the run is found by the id the forge
//! returns, else by a `dispatch_id` input the workflow declares (in its run title), else as
//! the newest run that was not there before; it is followed until it ends or the wait times
//! out. Forgejo before v12 has no runs API: there the dispatch alone is the result.

pub mod inputs;

use super::workflow::declares_input;
use super::{AnyForge, Dispatch, Dispatched, Forge, RepoId, Run, RunFilter, RunState};
use crate::context::{ForgeKind, RunContext};
use anyhow::bail;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The workflow input that carries a correlation id, when the workflow declares it.
pub const DISPATCH_ID: &str = "dispatch_id";

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

/// How long a followed run may take, and how often it is read.
#[derive(Clone, Copy, Debug)]
pub struct Follow {
    /// The longest wait.
    pub timeout: Duration,
    /// Between two reads of the run.
    pub interval: Duration,
}

/// How a dispatch ended: the run's id, URL and last known state (empty id and URL when the
/// forge returned no run and we did not wait).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DispatchOutcome {
    /// Run id.
    pub id: String,
    /// Run web URL.
    pub url: String,
    /// The web page listing the workflow's runs (where to look when the run was not found).
    pub list_url: String,
    /// `dispatched`, `queued`, `in_progress`, `success`, …
    pub state: String,
}

/// What became of a dispatched run.
enum Followed {
    /// Read from the forge (followed to its end with `wait`).
    Run(Run),
    /// Not looked up: the forge returned no id and we did not wait.
    Unknown,
    /// The forge has no runs API: the dispatch answer is all there is.
    NoRunsApi(Dispatched),
}

/// Dispatches `req` and, with `wait`, follows the run to its end; fails when a followed run
/// does not succeed. `progress` gets one line per step.
pub async fn dispatch_and_follow(
    forge: &AnyForge,
    req: &DispatchRequest,
    follow: Follow,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<DispatchOutcome> {
    let d = &req.dispatch;
    let followed = send(forge, req, follow, progress).await?;
    if let Followed::Run(run) = &followed
        && req.wait
        && run.state != RunState::Success
    {
        bail!("run {} of {} ended {}: {}", run.id, d.workflow, run.state.as_str(), run.html_url);
    }
    let list_url = forge.runs_page(&req.repo, &d.workflow);
    let dispatched = |id: Option<u64>, url: Option<String>| DispatchOutcome {
        id: id.map(|i| i.to_string()).unwrap_or_default(),
        url: url.unwrap_or_default(),
        list_url: list_url.clone(),
        state: "dispatched".to_owned(),
    };
    Ok(match followed {
        Followed::Run(run) => DispatchOutcome {
            id: run.id.to_string(),
            url: run.html_url.clone(),
            list_url: list_url.clone(),
            state: run.state.as_str().to_owned(),
        },
        Followed::Unknown => dispatched(None, None),
        Followed::NoRunsApi(d) => dispatched(d.run_id, d.html_url),
    })
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

/// Whether the dispatched workflow file declares a `dispatch_id` input. Forgejo reads only
/// the first existing workflow directory. A file that cannot be read counts as no (said in
/// the log: the run is then found as the newest new one).
async fn declares_dispatch_id(
    forge: &AnyForge,
    repo: &RepoId,
    d: &Dispatch,
    progress: &(dyn Fn(&str) + Sync),
) -> bool {
    let dirs: &[&str] = match forge.kind() {
        ForgeKind::Github => &[".github/workflows"],
        ForgeKind::Forgejo => &[".forgejo/workflows", ".gitea/workflows", ".github/workflows"],
    };
    for dir in dirs {
        match forge.get_file(repo, &format!("{dir}/{}", d.workflow), Some(&d.git_ref)).await {
            Ok(Some(f)) => return declares_input(&f.text, DISPATCH_ID),
            Ok(None) => continue,
            Err(e) => {
                progress(&format!(
                    "warning: cannot read {dir}/{} ({e}); its run is found as the newest new run",
                    d.workflow
                ));
                return false;
            }
        }
    }
    false
}

async fn send(
    forge: &AnyForge,
    req: &DispatchRequest,
    follow: Follow,
    progress: &(dyn Fn(&str) + Sync),
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
        progress(&format!("dispatched {} on {repo} at {}", d.workflow, d.git_ref));
        progress(&format!(
            "{server} has no runs API (Forgejo v12 added it): the run is not looked up; its state is not known. Runs: {}",
            forge.runs_page(repo, &d.workflow)
        ));
        return Ok(Followed::NoRunsApi(dispatched));
    }
    let mut d = req.dispatch.clone();
    // A workflow that declares `dispatch_id` gets a fresh one, so its run can be told apart
    // from others (by its title: `run-name: … ${{ inputs.dispatch_id }}`) when the forge does
    // not return the run's id.
    let correlation = if wait
        && !d.inputs.contains_key(DISPATCH_ID)
        && declares_dispatch_id(forge, repo, &d, progress).await
    {
        let id = format!("{:016x}", rand::random::<u64>());
        d.inputs.insert(DISPATCH_ID.to_owned(), id.clone());
        progress(&format!("{} declares {DISPATCH_ID}: dispatching with {id}", d.workflow));
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
        match forge.list_runs(repo, &filter).await {
            Ok(runs) => runs.iter().map(|r| r.id).collect(),
            Err(e) => {
                progress(&format!("warning: cannot list the runs of {} before dispatching: {e}", d.workflow));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let dispatched = forge.dispatch_workflow(repo, d).await?;
    progress(&format!("dispatched {} on {repo} at {}", d.workflow, d.git_ref));
    let mut id = dispatched.run_id;
    if !wait {
        return Ok(match id {
            Some(id) => Followed::Run(forge.get_run(repo, id).await?),
            None => Followed::Unknown,
        });
    }
    let started = Instant::now();
    let interval = follow.interval.max(Duration::from_secs(1));
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
        if started.elapsed() + interval > follow.timeout {
            bail!("the run of {} did not finish within {}s", d.workflow, follow.timeout.as_secs());
        }
        tokio::time::sleep(interval).await;
    }
}
