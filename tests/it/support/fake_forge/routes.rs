//! Routing and handlers of the fake forge, per flavour.

use super::state::*;
use super::{Flavor, Reply};
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

pub(super) fn ok(status: u16, body: Value) -> Reply {
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
    Statuses,
    Deployments,
    DeploymentStatuses,
    Issues,
    Issue,
    IssueComments,
    Environment,
    BranchPolicies,
    BranchPolicy,
    User,
    Team,
    AuthUser,
    Graphql,
    TeamMembership,
    OrgTeams,
    TeamMember,
}

fn decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&seg[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
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
        (_, ["repos", _, _, "issues"]) => (Route::Issues, &["GET", "POST"]),
        (_, ["repos", _, _, "issues", _]) => (Route::Issue, &["GET", "PATCH"]),
        (Flavor::Github, ["repos", _, _, "environments", _]) => (Route::Environment, &["GET", "PUT"]),
        (Flavor::Github, ["repos", _, _, "environments", _, "deployment-branch-policies"]) => {
            (Route::BranchPolicies, &["GET", "POST"])
        }
        (Flavor::Github, ["repos", _, _, "environments", _, "deployment-branch-policies", _]) => {
            (Route::BranchPolicy, &["GET"])
        }
        (Flavor::Github, ["users", _]) => (Route::User, &["GET"]),
        (_, ["user"]) => (Route::AuthUser, &["GET"]),
        (Flavor::Github, ["graphql"]) => (Route::Graphql, &["POST"]),
        (Flavor::Github, ["orgs", _, "teams", _, "memberships", _]) => (Route::TeamMembership, &["GET"]),
        (Flavor::Forgejo, ["orgs", _, "teams"]) => (Route::OrgTeams, &["GET"]),
        (Flavor::Forgejo, ["teams", _, "members", _]) => (Route::TeamMember, &["GET"]),
        (Flavor::Github, ["orgs", _, "teams", _]) => (Route::Team, &["GET"]),
        (_, ["repos", _, _, "issues", _, "comments"]) => (Route::IssueComments, &["GET", "POST"]),
        (_, ["repos", _, _, "statuses", _]) => (Route::Statuses, &["GET", "POST"]),
        (Flavor::Github, ["repos", _, _, "deployments"]) => (Route::Deployments, &["GET", "POST"]),
        (Flavor::Github, ["repos", _, _, "deployments", _, "statuses"]) => {
            (Route::DeploymentStatuses, &["GET", "POST"])
        }
        _ => return None,
    })
}

/// Answers one request against the state.
pub fn handle(flavor: Flavor, addr: SocketAddr, s: &mut State, req: &Recorded) -> Reply {
    if let Some(reply) = super::apps::handle(flavor, addr, s, req) {
        return reply;
    }
    let err = |status, msg: &str| error(flavor, addr, status, msg);
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let version = s.version;
    let prefix = format!("{}/", version.api_prefix());
    let prefix = prefix.as_str();
    let what = format!("{} {}", req.method, path);
    // GHES serves GraphQL beside the REST prefix: /api/graphql (github.com: /graphql, which
    // the root prefix already routes).
    let path =
        if version.api_prefix() == "/api/v3" && path == "/api/graphql" { "/api/v3/graphql" } else { path };
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
        return ok(200, json!({ "version": version.version_string().unwrap_or_default() }));
    }
    // The runs API (`GET …/actions/runs`, `…/actions/runs/{id}`) arrived in Forgejo v12
    // (DIFFERENCES.md version matrix; introducing commit fc35915a2823): before it the router
    // has no such route and answers its plain 404.
    if matches!(route, Route::RepoRuns | Route::RunGet) && version.forgejo_major().is_some_and(|m| m < 12) {
        return err(404, "The target couldn't be found.");
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
    // Anonymous: every repository here is private, so it does not exist for the caller.
    let Some(token) = token else {
        return match flavor {
            Flavor::Github => err(404, "Not Found"),
            Flavor::Forgejo => err(404, "The target couldn't be found."),
        };
    };
    let Some(tok) = s.tokens.get(&token).cloned() else {
        let message =
            if flavor == Flavor::Github { "Bad credentials" } else { "user does not exist [uid: 0, name: ]" };
        if s.echo_credentials {
            let sent = req.header("authorization").unwrap_or_default();
            return err(401, &format!("{message} (Authorization: {sent})"));
        }
        return err(401, message);
    };
    let forbidden = |needs: &str| match flavor {
        Flavor::Github => err(403, "Resource not accessible by personal access token"),
        Flavor::Forgejo => {
            let unit = if needs.starts_with("issues") { "issue" } else { "repository" };
            let scope =
                if needs.ends_with(":write") { format!("write:{unit}") } else { format!("read:{unit}") };
            err(403, &format!("token does not have at least one of required scope(s): [{scope}]"))
        }
    };
    // Accounts, not repositories: users are visible to any token, teams need members:read.
    match route {
        Route::User => return super::environments::user(s, &seg[1], &err),
        Route::Team if !tok.has("members:read") => return forbidden("members:read"),
        Route::Team => return super::environments::team(s, &seg[1], &seg[3], &err),
        Route::AuthUser => return super::accounts::authenticated_user(flavor, &tok, &err),
        Route::Graphql => return super::accounts::graphql(&tok, &req.body, &err),
        Route::TeamMembership => {
            return super::accounts::github_membership(s, &tok, &seg[1], &seg[3], &seg[5], &err);
        }
        Route::OrgTeams => return super::accounts::forgejo_teams(s, &tok, &seg[1], &err),
        Route::TeamMember => return super::accounts::forgejo_team_member(s, &tok, &seg[1], &seg[3], &err),
        _ => {}
    }
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
        (Route::Statuses, "POST") => "contents:write",
        (Route::Deployments | Route::DeploymentStatuses, "POST") => "deployments:write",
        (Route::Deployments | Route::DeploymentStatuses, _) => "deployments:read",
        (Route::Statuses, _) => "contents:read",
        (Route::Issues | Route::IssueComments, "POST") | (Route::Issue, "PATCH") => "issues:write",
        (Route::Issues | Route::Issue | Route::IssueComments, _) => "issues:read",
        (Route::Environment, "PUT") | (Route::BranchPolicies, "POST") => "administration:write",
        _ => "actions:read",
    };
    if !tok.has(needs) {
        return forbidden(needs);
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
    let ctx = Ctx { flavor, version, base, web, repo_name: repo_name.clone(), login: tok.login.clone() };
    let run_details = s.run_details && !s.ghes_legacy;
    if route == Route::Dispatch && s.ghes_legacy && body.get("return_run_details").is_some() {
        return err(422, "Invalid request.\n\n\"return_run_details\" is not a permitted key.");
    }
    if route == Route::Environment {
        return super::environments::environment(&ctx, s, &req.method, &seg[4], &body, &err);
    }
    let next_id = &mut s.next_run_id;
    let repo = s.repos.get_mut(&repo_name).unwrap();
    match route {
        Route::Contents => {
            super::contents::contents(&ctx, repo, &req.method, &seg[4..].join("/"), &q, &body, &err)
        }
        Route::Commits => super::contents::commits(&ctx, repo, &q, &err),
        Route::Dispatch => super::actions::dispatch(&ctx, repo, &seg[5], &body, run_details, next_id, &err),
        Route::WorkflowRuns => {
            let Some(wf) = repo.github_workflow(&seg[5]).cloned() else { return not_found() };
            let runs: Vec<Value> = repo
                .runs
                .iter()
                .rev()
                .filter(|r| r.workflow == wf.file)
                .filter(|r| q.get("event").is_none_or(|e| &r.event == e))
                .filter(|r| q.get("head_sha").is_none_or(|h| &r.head_sha == h))
                .map(|r| super::actions::run_json(&ctx, r))
                .collect();
            ok(200, json!({ "total_count": runs.len(), "workflow_runs": runs }))
        }
        Route::RepoRuns => {
            let limit = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(30usize).min(50);
            // `workflow_id` and `ref` filter from v15 on; v12–v14 ignore them (DIFFERENCES.md
            // version matrix, routers/api/v1/repo/action.go at v12.0.0 reads only event,
            // status, head_sha and run_number).
            let filters = version.forgejo_major().is_some_and(|m| m >= 15);
            let runs: Vec<Value> = repo
                .runs
                .iter()
                .rev()
                .filter(|r| !filters || q.get("workflow_id").is_none_or(|w| &r.workflow == w))
                .filter(|r| {
                    !filters || q.get("ref").is_none_or(|g| r.git_ref.trim_start_matches("refs/heads/") == g)
                })
                .filter(|r| q.get("event").is_none_or(|e| &r.event == e))
                .filter(|r| q.get("head_sha").is_none_or(|h| &r.head_sha == h))
                .map(|r| super::actions::run_json(&ctx, r))
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
            let out = super::actions::run_json(&ctx, run);
            // Each read moves the run on: queued → in progress → completed.
            run.step = (run.step + 1).min(2);
            ok(200, out)
        }
        Route::RepositoryDispatch => {
            let event = body.get("event_type").and_then(Value::as_str).unwrap_or_default();
            if event.is_empty() || event.len() > 100 {
                return err(422, "Invalid request.\n\nevent_type must be 1 to 100 characters");
            }
            // GitHub: "The maximum number of top-level properties is 10."
            if body.get("client_payload").and_then(Value::as_object).is_some_and(|o| o.len() > 10) {
                return err(422, "Invalid request.\n\nclient_payload has more than 10 top-level properties");
            }
            ok(204, Value::Null)
        }
        Route::Deployments if req.method == "GET" => super::environments::list_deployments(&ctx, repo, &q),
        Route::DeploymentStatuses if req.method == "GET" => {
            super::environments::list_statuses(&ctx, repo, &seg[4], &q, &err)
        }
        Route::Statuses if req.method == "GET" => {
            err(405, &format!("the fake forge does not list statuses: {what}"))
        }
        Route::Statuses => super::actions::commit_status(&ctx, repo, &seg[4], &body, &err),
        Route::Deployments => super::actions::deployment(&ctx, repo, &body, &err),
        Route::DeploymentStatuses => super::actions::deployment_status(repo, &seg[4], &body, &err),
        Route::Issues if req.method == "GET" => {
            err(405, &format!("the fake forge does not list issues: {what}"))
        }
        Route::Issues => super::issues::create(&ctx, repo, &body, &err),
        Route::IssueComments => super::issues::comments(&ctx, repo, &req.method, &seg[4], &q, &body, &err),
        Route::Issue => super::issues::issue(&ctx, repo, &req.method, &seg[4], &body, &err),
        Route::BranchPolicies => {
            super::environments::branch_policies(&ctx, repo, &req.method, &seg[4], &q, &body, &err)
        }
        Route::BranchPolicy => super::environments::branch_policy(repo, &seg[4], &seg[6], &err),
        Route::Version
        | Route::Environment
        | Route::User
        | Route::Team
        | Route::AuthUser
        | Route::Graphql
        | Route::TeamMembership
        | Route::OrgTeams
        | Route::TeamMember => unreachable!(),
    }
}

/// What a handler knows about the request beyond its body.
pub(super) struct Ctx {
    pub flavor: Flavor,
    pub version: super::ForgeVersion,
    pub base: String,
    pub web: String,
    pub repo_name: String,
    pub login: String,
}

/// Builds the flavour's error answer.
pub(super) type Err<'a> = &'a dyn Fn(u16, &str) -> Reply;
