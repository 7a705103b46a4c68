//! Actions handlers of the fake forge: workflow dispatch (run details on request) and runs
//! in each flavour's shape.

use super::Flavor;
use super::Reply;
use super::routes::{Ctx, Err, ok};
use super::state::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn dispatch(
    ctx: &Ctx,
    repo: &mut Repo,
    wf: &str,
    body: &Value,
    details: bool,
    next_id: &mut u64,
    err: Err,
) -> Reply {
    let gh = ctx.flavor == Flavor::Github;
    let Some(workflow) = (if gh { repo.github_workflow(wf) } else { repo.forgejo_workflow(wf) }).cloned()
    else {
        // Forgejo maps an unknown workflow file to a 500 (message blanked).
        return if gh { err(404, "Not Found") } else { err(500, "workflow not found") };
    };
    let git_ref = body.get("ref").and_then(Value::as_str).unwrap_or_default().to_owned();
    if git_ref.is_empty() {
        return err(if gh { 422 } else { 400 }, "ref is required");
    }
    let Some(head) = repo.resolve(&git_ref).map(|c| c.sha.clone()) else {
        return err(422, &format!("No ref found for: {git_ref}"));
    };
    let empty = serde_json::Map::new();
    let raw = body.get("inputs").and_then(Value::as_object).unwrap_or(&empty);
    if gh && raw.len() > 25 {
        return err(422, &format!("inputs are too large. Max number of inputs is 25, got {}", raw.len()));
    }
    let mut inputs = BTreeMap::new();
    let major = ctx.version.forgejo_major().unwrap_or(0);
    for (k, v) in raw {
        match v.as_str() {
            // Forgejo v8–v13: `val = strconv.FormatBool(val == "on")` for boolean inputs (the
            // web form's checkbox value), so "true" reads as false; v14 keeps the value and
            // maps "on" to "true" (services/actions/workflows.go @ v11.0.0, v13.0.0, v14.0.0,
            // v15.0.0 resolveDispatchInput). What is stored is what the workflow sees.
            Some(s) if !gh && workflow.booleans.contains(k) && !s.is_empty() => {
                let seen = if major < 14 {
                    (s == "on").to_string()
                } else if s == "on" {
                    "true".into()
                } else {
                    s.into()
                };
                inputs.insert(k.clone(), seen);
            }
            Some(s) => {
                inputs.insert(k.clone(), s.to_owned());
            }
            // Forgejo decodes inputs as map<string,string>.
            None if !gh => {
                return err(422, &format!("json: cannot unmarshal {v} into Go value of type string"));
            }
            None => {
                inputs.insert(k.clone(), v.to_string());
            }
        }
    }
    if gh {
        let unexpected: Vec<&String> = inputs.keys().filter(|k| !workflow.inputs.contains(k)).collect();
        if !unexpected.is_empty() {
            return err(422, &format!("Unexpected inputs provided: {unexpected:?}"));
        }
    }
    if let Some(missing) = workflow.required.iter().find(|r| !inputs.contains_key(*r)) {
        return err(if gh { 422 } else { 400 }, &format!("Required input '{missing}' not provided"));
    }
    *next_id += 1;
    // Forgejo titles a dispatched run with the workflow's `name:`, else its path
    // (services/actions/workflows.go Dispatch: `title := wf.Name`); GitHub with `run-name`.
    let fj_title = workflow.name.clone().unwrap_or_else(|| format!("{}/{}", workflow.dir, workflow.file));
    let run = RunRec {
        title: fj_title,
        id: *next_id,
        number: repo.runs.len() as u64 + 1,
        workflow: workflow.file.clone(),
        workflow_id: workflow.id,
        workflow_path: format!("{}/{}", workflow.dir, workflow.file),
        head_sha: head,
        git_ref: git_ref.clone(),
        event: "workflow_dispatch".into(),
        step: 0,
        conclusion: workflow.conclusion.clone(),
        actor: ctx.login.clone(),
        inputs,
    };
    let (id, number) = (run.id, run.number);
    repo.runs.push(run);
    let flag = if gh { "return_run_details" } else { "return_run_info" };
    if !(details && body.get(flag).and_then(Value::as_bool) == Some(true)) {
        return ok(204, Value::Null);
    }
    if gh {
        ok(
            200,
            json!({
                "workflow_run_id": id,
                "run_url": format!("{}/repos/{}/actions/runs/{id}", ctx.base, ctx.repo_name),
                "html_url": format!("{}/{}/actions/runs/{id}", ctx.web, ctx.repo_name),
            }),
        )
    } else {
        ok(201, json!({ "id": id, "run_number": number, "jobs": ["deploy"] }))
    }
}

pub(super) fn run_json(ctx: &Ctx, r: &RunRec) -> Value {
    let created = "2026-01-01T00:00:00Z";
    match ctx.flavor {
        Flavor::Github => {
            let (status, conclusion) = match r.step {
                0 => ("queued", Value::Null),
                1 => ("in_progress", Value::Null),
                _ => ("completed", Value::String(r.conclusion.clone())),
            };
            json!({
                "id": r.id, "name": r.workflow, "display_title": title(r),
                "event": r.event, "status": status, "conclusion": conclusion,
                "head_branch": r.git_ref.trim_start_matches("refs/heads/"), "head_sha": r.head_sha,
                "run_number": r.number, "run_attempt": 1, "workflow_id": r.workflow_id, "path": r.workflow_path,
                "html_url": format!("{}/{}/actions/runs/{}", ctx.web, ctx.repo_name, r.id),
                "url": format!("{}/repos/{}/actions/runs/{}", ctx.base, ctx.repo_name, r.id),
                "created_at": created, "updated_at": created,
                "actor": { "login": r.actor }, "triggering_actor": { "login": r.actor },
            })
        }
        Flavor::Forgejo => {
            let status = match r.step {
                0 => "waiting",
                1 => "running",
                _ => r.conclusion.as_str(),
            };
            json!({
                "id": r.id, "index_in_repo": r.number, "workflow_id": r.workflow, "title": r.title,
                "event": r.event, "trigger_event": r.event, "status": status, "commit_sha": r.head_sha,
                "prettyref": r.git_ref.trim_start_matches("refs/heads/"),
                "html_url": format!("{}/{}/actions/runs/{}", ctx.web, ctx.repo_name, r.number),
                "created": created, "started": created, "stopped": created, "updated": created, "duration": 0,
                "trigger_user": { "login": r.actor }, "need_approval": false, "is_fork_pull_request": false,
            })
        }
    }
}

/// `POST …/statuses/{sha}`: request `state`; GitHub answers `state`, Forgejo `status`.
pub(super) fn commit_status(ctx: &Ctx, repo: &mut Repo, sha: &str, body: &Value, err: Err) -> Reply {
    let gh = ctx.flavor == Flavor::Github;
    let state = body.get("state").and_then(Value::as_str).unwrap_or_default().to_owned();
    let allowed: &[&str] = if gh {
        &["error", "failure", "pending", "success"]
    } else {
        &["pending", "success", "error", "failure", "warning", "skipped"]
    };
    if !allowed.contains(&state.as_str()) {
        return err(if gh { 422 } else { 400 }, &format!("state {state:?} is not one of {allowed:?}"));
    }
    if !repo.commits.contains_key(sha) {
        return err(if gh { 422 } else { 404 }, &format!("No commit found for SHA: {sha}"));
    }
    let context = body.get("context").and_then(Value::as_str).unwrap_or("default").to_owned();
    let description = body.get("description").and_then(Value::as_str).unwrap_or_default().to_owned();
    repo.statuses.push((sha.to_owned(), state.clone(), context.clone(), description.clone()));
    let id = repo.statuses.len();
    let field = if gh { "state" } else { "status" };
    let mut v = json!({ "id": id, "context": context, "description": description, "created_at": "2026-01-01T00:00:00Z" });
    v[field] = state.into();
    ok(201, v)
}

/// `POST …/deployments` (GitHub): 202 when auto-merge is left on, 409 when required
/// contexts are not disabled and a status of the sha failed.
pub(super) fn deployment(ctx: &Ctx, repo: &mut Repo, body: &Value, err: Err) -> Reply {
    let git_ref = body.get("ref").and_then(Value::as_str).unwrap_or_default();
    let Some(sha) = repo.resolve(git_ref).map(|c| c.sha.clone()) else {
        return err(422, &format!("No ref found for: {git_ref}"));
    };
    if body.get("auto_merge").and_then(Value::as_bool) != Some(false) {
        return ok(202, json!({ "message": format!("Auto-merged main into {git_ref} on deployment.") }));
    }
    let contexts_off = body.get("required_contexts").and_then(Value::as_array).is_some_and(Vec::is_empty);
    if !contexts_off
        && repo.statuses.iter().any(|(s, st, _, _)| *s == sha && (st == "failure" || st == "error"))
    {
        return err(409, "Conflict: Commit status checks failed for main.");
    }
    let env = body.get("environment").and_then(Value::as_str).unwrap_or("production").to_owned();
    let production =
        body.get("production_environment").and_then(Value::as_bool).unwrap_or(env == "production");
    let n = repo.deployments.len();
    let d = DeployRec {
        id: 9000 + n as u64,
        sha,
        git_ref: git_ref.to_owned(),
        environment: env,
        payload: body.get("payload").cloned().unwrap_or_else(|| json!({})),
        description: body.get("description").and_then(Value::as_str).unwrap_or_default().to_owned(),
        creator: ctx.login.clone(),
        created_at: format!("2026-01-01T01:{:02}:{:02}Z", (n / 60) % 60, n % 60),
        statuses: Vec::new(),
        production,
    };
    let out = super::environments::deployment_json(ctx, &d);
    repo.deployments.push(d);
    ok(201, out)
}

/// `POST …/deployments/{id}/statuses` (GitHub).
pub(super) fn deployment_status(repo: &mut Repo, id: &str, body: &Value, err: Err) -> Reply {
    let state = body.get("state").and_then(Value::as_str).unwrap_or_default().to_owned();
    let allowed = ["error", "failure", "inactive", "in_progress", "queued", "pending", "success"];
    if !allowed.contains(&state.as_str()) {
        return err(422, &format!("Validation Failed: state {state:?}"));
    }
    let Some(d) = repo.deployments.iter_mut().find(|d| d.id.to_string() == id) else {
        return err(404, "Not Found");
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    d.statuses.push(StatusRec {
        state: state.clone(),
        description: text("description").unwrap_or_default(),
        environment_url: text("environment_url"),
        log_url: text("log_url"),
    });
    let out = super::environments::status_json(d, d.statuses.len() - 1);
    // GitHub: `auto_inactive` (default true) "adds a new inactive status to all prior
    // non-transient, non-production environment deployments with the same repository and
    // environment name" (REST docs, create a deployment status): production keeps them.
    let (env, production, this) = (d.environment.clone(), d.production, d.id);
    if state == "success" && body.get("auto_inactive").and_then(Value::as_bool) != Some(false) && !production
    {
        for other in repo.deployments.iter_mut().filter(|o| o.environment == env && o.id < this) {
            // "earlier successful … deployments" (the REST description of auto_inactive).
            if other.statuses.last().is_some_and(|s| s.state == "success") {
                other.statuses.push(StatusRec { state: "inactive".into(), ..Default::default() });
            }
        }
    }
    ok(201, out)
}

/// A run's title: as if the workflow had `run-name: deploy ${{ inputs.dispatch_id || github.ref_name }}`.
fn title(r: &RunRec) -> String {
    format!("deploy {}", r.inputs.get("dispatch_id").unwrap_or(&r.git_ref))
}
