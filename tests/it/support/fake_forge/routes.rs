//! Routing and handlers of the fake forge, per flavour.

use super::state::*;
use super::{Flavor, Reply};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The flavour's error body: GitHub `{message, documentation_url}`, Forgejo `{message, url}`.
/// Forgejo blanks 500 messages for non-admins.
pub fn error(flavor: Flavor, addr: SocketAddr, status: u16, message: &str) -> Reply {
    let body = match flavor {
        Flavor::Github => json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        }),
        Flavor::Forgejo => json!({
            "message": if status >= 500 { "" } else { message },
            "url": format!("http://{addr}/api/swagger"),
        }),
    };
    Reply { status, headers: Vec::new(), body: body.to_string() }
}

fn ok(status: u16, body: Value) -> Reply {
    Reply { status, headers: Vec::new(), body: if status == 204 { String::new() } else { body.to_string() } }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Contents,
    Commits,
    Dispatch,
    WorkflowRuns,
    RunGet,
    RepoRuns,
    RepositoryDispatch,
    Version,
}

fn decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&seg[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(flavor: Flavor, seg: &[String]) -> Option<(Route, &'static [&'static str])> {
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    Some(match (flavor, s.as_slice()) {
        (Flavor::Github, ["repos", _, _, "contents", _, ..]) => (Route::Contents, &["GET", "PUT", "DELETE"]),
        (Flavor::Forgejo, ["repos", _, _, "contents", _, ..]) => {
            (Route::Contents, &["GET", "POST", "PUT", "DELETE"])
        }
        (_, ["repos", _, _, "commits"]) => (Route::Commits, &["GET"]),
        (_, ["repos", _, _, "actions", "workflows", _, "dispatches"]) => (Route::Dispatch, &["POST"]),
        (Flavor::Github, ["repos", _, _, "actions", "workflows", _, "runs"]) => {
            (Route::WorkflowRuns, &["GET"])
        }
        (_, ["repos", _, _, "actions", "runs", _]) => (Route::RunGet, &["GET"]),
        (Flavor::Forgejo, ["repos", _, _, "actions", "runs"]) => (Route::RepoRuns, &["GET"]),
        (Flavor::Github, ["repos", _, _, "dispatches"]) => (Route::RepositoryDispatch, &["POST"]),
        (Flavor::Forgejo, ["version"]) => (Route::Version, &["GET"]),
        _ => return None,
    })
}

/// Answers one request against the state.
pub fn handle(flavor: Flavor, addr: SocketAddr, s: &mut State, req: &Recorded) -> Reply {
    let err = |status, msg: &str| error(flavor, addr, status, msg);
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let prefix = if flavor == Flavor::Github { "/api/v3/" } else { "/api/v1/" };
    let what = format!("{} {}", req.method, path);
    let Some(rest) = path.strip_prefix(prefix) else {
        return err(404, &format!("Not Found: no API route for {what}"));
    };
    let seg: Vec<String> = rest.split('/').filter(|p| !p.is_empty()).map(decode).collect();
    let q: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let Some((route, methods)) = route(flavor, &seg) else {
        return err(404, &format!("Not Found: no API route for {what}"));
    };
    if !methods.contains(&req.method.as_str()) {
        let mut r = err(405, &format!("Method Not Allowed: {what} (allowed: {})", methods.join(", ")));
        r.headers.push(("allow".into(), methods.join(", ")));
        return r;
    }
    if route == Route::Version {
        return ok(200, json!({ "version": "15.0.0+fake" }));
    }
    // Authentication.
    let token = req.header("authorization").and_then(|h| {
        let (scheme, value) = h.split_once(' ')?;
        let accepted = match flavor {
            Flavor::Github => scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"),
            Flavor::Forgejo => scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"),
        };
        accepted.then(|| value.trim().to_owned())
    });
    let Some(token) = token else {
        return err(
            401,
            if flavor == Flavor::Github { "Requires authentication" } else { "token is required" },
        );
    };
    let Some(tok) = s.tokens.get(&token).cloned() else {
        return err(
            401,
            if flavor == Flavor::Github { "Bad credentials" } else { "user does not exist [uid: 0, name: ]" },
        );
    };
    let repo_name = format!("{}/{}", seg[1], seg[2]);
    let not_found = || match flavor {
        Flavor::Github => err(404, "Not Found"),
        Flavor::Forgejo => err(404, "The target couldn't be found."),
    };
    if !tok.sees(&repo_name) || !s.repos.contains_key(&repo_name) {
        return not_found();
    }
    let needs = match (route, req.method.as_str()) {
        (Route::Contents, "GET") | (Route::Commits, _) => "contents:read",
        (Route::Contents, _) | (Route::RepositoryDispatch, _) => "contents:write",
        (Route::Dispatch, _) => "actions:write",
        _ => "actions:read",
    };
    if !tok.has(needs) {
        return match flavor {
            Flavor::Github => err(403, "Resource not accessible by personal access token"),
            Flavor::Forgejo => {
                let scope = if needs.ends_with(":write") { "write:repository" } else { "read:repository" };
                err(403, &format!("token does not have at least one of required scope(s): [{scope}]"))
            }
        };
    }
    let base = format!("http://{addr}{}", prefix.trim_end_matches('/'));
    let web = format!("http://{addr}");
    let body: Value = if req.body.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(&req.body) {
            Ok(v) => v,
            Err(e) => return err(400, &format!("Problems parsing JSON: {e}")),
        }
    };
    let ctx = Ctx { flavor, base, web, repo_name: repo_name.clone(), login: tok.login.clone() };
    let run_details = s.run_details;
    let next_id = &mut s.next_run_id;
    let repo = s.repos.get_mut(&repo_name).unwrap();
    match route {
        Route::Contents => contents(&ctx, repo, &req.method, &seg[4..].join("/"), &q, &body, &err),
        Route::Commits => commits(&ctx, repo, &q, &err),
        Route::Dispatch => dispatch(&ctx, repo, &seg[5], &body, run_details, next_id, &err),
        Route::WorkflowRuns => {
            let Some(wf) = repo.github_workflow(&seg[5]).cloned() else { return not_found() };
            let runs: Vec<Value> = repo
                .runs
                .iter()
                .rev()
                .filter(|r| r.workflow == wf.file)
                .filter(|r| q.get("event").is_none_or(|e| &r.event == e))
                .filter(|r| q.get("head_sha").is_none_or(|h| &r.head_sha == h))
                .map(|r| run_json(&ctx, r))
                .collect();
            ok(200, json!({ "total_count": runs.len(), "workflow_runs": runs }))
        }
        Route::RepoRuns => {
            let limit = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(30usize).min(50);
            let runs: Vec<Value> = repo
                .runs
                .iter()
                .rev()
                .filter(|r| q.get("workflow_id").is_none_or(|w| &r.workflow == w))
                .filter(|r| q.get("event").is_none_or(|e| &r.event == e))
                .filter(|r| q.get("head_sha").is_none_or(|h| &r.head_sha == h))
                .map(|r| run_json(&ctx, r))
                .collect();
            let total = runs.len();
            ok(
                200,
                json!({ "total_count": total, "workflow_runs": runs.into_iter().take(limit).collect::<Vec<_>>() }),
            )
        }
        Route::RunGet => {
            let id: u64 = seg[5].parse().unwrap_or(0);
            let Some(run) = repo.runs.iter_mut().find(|r| r.id == id) else { return not_found() };
            let out = run_json(&ctx, run);
            // Each read moves the run on: queued → in progress → completed.
            run.step = (run.step + 1).min(2);
            ok(200, out)
        }
        Route::RepositoryDispatch => {
            let event = body.get("event_type").and_then(Value::as_str).unwrap_or_default();
            if event.is_empty() || event.len() > 100 {
                return err(422, "Invalid request.\n\nevent_type must be 1 to 100 characters");
            }
            ok(204, Value::Null)
        }
        Route::Version => unreachable!(),
    }
}

struct Ctx {
    flavor: Flavor,
    base: String,
    web: String,
    repo_name: String,
    login: String,
}

type Err<'a> = &'a dyn Fn(u16, &str) -> Reply;

fn wrap60(b64: &str) -> String {
    let mut out = String::new();
    for (i, c) in b64.chars().enumerate() {
        if i > 0 && i % 60 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out.push('\n');
    out
}

fn contents(
    ctx: &Ctx,
    repo: &mut Repo,
    method: &str,
    path: &str,
    q: &BTreeMap<String, String>,
    body: &Value,
    err: Err,
) -> Reply {
    let gh = ctx.flavor == Flavor::Github;
    if method == "GET" {
        let r = q.get("ref").cloned().unwrap_or_else(|| repo.default_branch.clone());
        let Some(commit) = repo.resolve(&r) else {
            return err(404, &format!("No commit found for the ref {r}"));
        };
        let Some(bytes) = commit.files.get(path) else {
            return if gh { err(404, "Not Found") } else { err(404, "object does not exist") };
        };
        let last = repo.history(&r, path).first().map(|c| c.sha.clone()).unwrap_or_default();
        let mut v = json!({
            "type": "file", "encoding": "base64", "size": bytes.len(),
            "name": path.rsplit('/').next().unwrap_or(path), "path": path,
            "content": wrap60(&STANDARD.encode(bytes)), "sha": blob_sha(bytes),
            "html_url": format!("{}/{}/blob/{r}/{path}", ctx.web, ctx.repo_name),
            "download_url": format!("{}/{}/raw/{r}/{path}", ctx.web, ctx.repo_name),
        });
        if !gh {
            v["last_commit_sha"] = last.into();
        }
        return ok(200, v);
    }
    if method == "DELETE" {
        return err(422, "the fake forge does not delete files");
    }
    let branch = body.get("branch").and_then(Value::as_str).unwrap_or(&repo.default_branch).to_owned();
    let Some(content) = body.get("content").and_then(Value::as_str) else {
        return err(422, "Invalid request.\n\n\"content\" wasn't supplied.");
    };
    let Ok(bytes) = STANDARD.decode(content.replace(['\n', '\r'], "")) else {
        return err(422, "content is not valid Base64");
    };
    let Some(head) = repo.head(&branch) else {
        return err(404, &format!("Branch {branch} not found"));
    };
    let existing = head.files.get(path).map(|b| blob_sha(b));
    let given = body.get("sha").and_then(Value::as_str);
    let created = match (ctx.flavor, method, &existing, given) {
        // Forgejo: POST creates only, PUT updates only and needs the sha.
        (Flavor::Forgejo, "POST", Some(_), _) => {
            return err(422, &format!("repository file already exists [path: {path}]"));
        }
        (Flavor::Forgejo, "POST", None, _) => true,
        (Flavor::Forgejo, _, None, _) => return err(404, "object does not exist"),
        (Flavor::Forgejo, _, Some(_), None) => return err(422, "sha: Required"),
        (Flavor::Github, _, Some(_), None) => {
            return err(422, "Invalid request.\n\n\"sha\" wasn't supplied.");
        }
        (Flavor::Github, _, None, _) => true,
        (_, _, Some(cur), Some(g)) if cur != g => {
            return if gh {
                err(409, &format!("{path} does not match {g}"))
            } else {
                err(409, &format!("sha does not match [given: {g}, expected: {cur}]"))
            };
        }
        _ => false,
    };
    let message = body.get("message").and_then(Value::as_str).unwrap_or("Update file").to_owned();
    let blob = blob_sha(&bytes);
    let sha = repo.commit(&branch, path, bytes, &message, &ctx.login);
    ok(
        if created && (gh || method == "POST") { 201 } else { 200 },
        json!({
            "content": { "name": path.rsplit('/').next().unwrap_or(path), "path": path, "sha": blob },
            "commit": { "sha": sha, "html_url": format!("{}/{}/commit/{sha}", ctx.web, ctx.repo_name), "message": message },
        }),
    )
}

fn commits(ctx: &Ctx, repo: &Repo, q: &BTreeMap<String, String>, err: Err) -> Reply {
    let branch = q.get("sha").cloned().unwrap_or_else(|| repo.default_branch.clone());
    if !repo.branches.contains_key(&branch) {
        return err(404, &format!("No commit found for SHA: {branch}"));
    }
    // GitHub: per_page ≤ 100; Forgejo: limit, silently capped at 50 (per_page ignored).
    let size = match ctx.flavor {
        Flavor::Github => q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30usize).clamp(1, 100),
        Flavor::Forgejo => q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(30usize).clamp(1, 50),
    };
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let all: Vec<&Commit> = match q.get("path") {
        Some(p) => repo.history(&branch, p),
        None => repo.branches[&branch].iter().rev().map(|s| &repo.commits[s]).collect(),
    };
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|c| {
            let mut v = json!({
                "sha": c.sha,
                "html_url": format!("{}/{}/commit/{}", ctx.web, ctx.repo_name, c.sha),
                "commit": {
                    "message": c.message,
                    "author": { "name": c.author, "email": format!("{}@example.com", c.author), "date": c.date },
                    "committer": { "name": c.author, "email": format!("{}@example.com", c.author), "date": c.date },
                },
                "author": { "login": c.author },
                "parents": c.parent.iter().map(|p| json!({ "sha": p })).collect::<Vec<_>>(),
            });
            if ctx.flavor == Flavor::Forgejo {
                v["created"] = c.date.clone().into();
            }
            v
        })
        .collect();
    let pages = all.len().div_ceil(size).max(1);
    let mut reply = ok(200, Value::Array(items));
    let link = |p: usize| {
        let mut qq = q.clone();
        qq.insert("page".into(), p.to_string());
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(qq.iter()).finish();
        format!("{}/repos/{}/commits?{qs}", ctx.base, ctx.repo_name)
    };
    let mut links = Vec::new();
    if page < pages {
        links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", link(pages)));
    }
    if !links.is_empty() {
        reply.headers.push(("link".into(), links.join(", ")));
    }
    if ctx.flavor == Flavor::Forgejo {
        reply.headers.push(("x-total-count".into(), all.len().to_string()));
    }
    reply
}

fn dispatch(
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
    for (k, v) in raw {
        match v.as_str() {
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
    let run = RunRec {
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

fn run_json(ctx: &Ctx, r: &RunRec) -> Value {
    let created = "2026-01-01T00:00:00Z";
    match ctx.flavor {
        Flavor::Github => {
            let (status, conclusion) = match r.step {
                0 => ("queued", Value::Null),
                1 => ("in_progress", Value::Null),
                _ => ("completed", Value::String(r.conclusion.clone())),
            };
            json!({
                "id": r.id, "name": r.workflow, "display_title": format!("deploy {}", r.git_ref),
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
                "id": r.id, "index_in_repo": r.number, "workflow_id": r.workflow, "title": format!("deploy {}", r.git_ref),
                "event": r.event, "trigger_event": r.event, "status": status, "commit_sha": r.head_sha,
                "prettyref": r.git_ref.trim_start_matches("refs/heads/"),
                "html_url": format!("{}/{}/actions/runs/{}", ctx.web, ctx.repo_name, r.number),
                "created": created, "started": created, "stopped": created, "updated": created, "duration": 0,
                "trigger_user": { "login": r.actor }, "need_approval": false, "is_fork_pull_request": false,
            })
        }
    }
}
