//! GitHub environments and deployment listings in the fake: protection rules, branch/tag
//! policies (303 for a pattern that exists, 404 unless custom policies are on), users and
//! teams by name, deployments and statuses newest first with `per_page`/`page` and `Link`.

use super::Reply;
use super::routes::{Ctx, Err, ok};
use super::state::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A page of `all` (newest first already) with GitHub's `Link: rel="next"`.
fn paged(ctx: &Ctx, path: &str, q: &BTreeMap<String, String>, all: Vec<Value>) -> Reply {
    let size = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30usize).clamp(1, 100);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let mut r = ok(200, Value::Array(all.iter().skip((page - 1) * size).take(size).cloned().collect()));
    if page * size < all.len() {
        let mut qq = q.clone();
        qq.insert("page".into(), (page + 1).to_string());
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(qq.iter()).finish();
        r.headers.push((
            "link".into(),
            format!("<{}/repos/{}/{path}?{qs}>; rel=\"next\"", ctx.base, ctx.repo_name),
        ));
    }
    r
}

pub(super) fn deployment_json(ctx: &Ctx, d: &DeployRec) -> Value {
    json!({
        "id": d.id, "node_id": format!("DE_{}", d.id), "sha": d.sha, "ref": d.git_ref, "task": "deploy",
        "payload": d.payload, "original_environment": d.environment, "environment": d.environment,
        "description": if d.description.is_empty() { Value::Null } else { d.description.clone().into() },
        "creator": { "login": d.creator, "id": 1, "type": "User" },
        "created_at": d.created_at, "updated_at": d.created_at,
        "url": format!("{}/repos/{}/deployments/{}", ctx.base, ctx.repo_name, d.id),
        "statuses_url": format!("{}/repos/{}/deployments/{}/statuses", ctx.base, ctx.repo_name, d.id),
        "transient_environment": false, "production_environment": d.environment == "production",
    })
}

pub(super) fn status_json(d: &DeployRec, i: usize) -> Value {
    let s = &d.statuses[i];
    json!({
        "id": d.id * 100 + i as u64, "state": s.state, "description": s.description,
        "environment": d.environment, "environment_url": s.environment_url.clone().unwrap_or_default(),
        "log_url": s.log_url.clone().unwrap_or_default(), "creator": { "login": d.creator },
        "created_at": format!("2026-01-01T02:00:{:02}Z", i % 60),
    })
}

/// `GET …/deployments?environment&sha&ref&per_page&page`, newest first.
pub(super) fn list_deployments(ctx: &Ctx, repo: &Repo, q: &BTreeMap<String, String>) -> Reply {
    let all: Vec<Value> = repo
        .deployments
        .iter()
        .rev()
        .filter(|d| q.get("environment").is_none_or(|e| &d.environment == e))
        .filter(|d| q.get("sha").is_none_or(|s| &d.sha == s))
        .filter(|d| q.get("ref").is_none_or(|r| &d.git_ref == r))
        .map(|d| deployment_json(ctx, d))
        .collect();
    paged(ctx, "deployments", q, all)
}

/// `GET …/deployments/{id}/statuses`, newest first.
pub(super) fn list_statuses(
    ctx: &Ctx,
    repo: &Repo,
    id: &str,
    q: &BTreeMap<String, String>,
    err: Err,
) -> Reply {
    let Some(d) = repo.deployments.iter().find(|d| d.id.to_string() == id) else {
        return err(404, "Not Found");
    };
    let all = (0..d.statuses.len()).rev().map(|i| status_json(d, i)).collect();
    paged(ctx, &format!("deployments/{id}/statuses"), q, all)
}

fn env_json(ctx: &Ctx, s: &State, name: &str, e: &EnvRec) -> Value {
    let mut rules = Vec::new();
    if e.wait_timer > 0 {
        rules.push(json!({ "id": e.id * 10 + 1, "node_id": "GA_wait", "type": "wait_timer", "wait_timer": e.wait_timer }));
    }
    if !e.reviewers.is_empty() {
        let reviewers: Vec<Value> = e
            .reviewers
            .iter()
            .map(|(kind, id)| {
                let reviewer = if kind == "Team" {
                    let slug =
                        s.teams.iter().find(|(_, v)| *v == id).map(|(k, _)| k.clone()).unwrap_or_default();
                    let slug = slug.split_once('/').map(|(_, s)| s.to_owned()).unwrap_or_default();
                    json!({ "id": id, "slug": slug, "name": slug })
                } else {
                    let login =
                        s.users.iter().find(|(_, v)| *v == id).map(|(k, _)| k.clone()).unwrap_or_default();
                    json!({ "id": id, "login": login, "type": "User" })
                };
                json!({ "type": kind, "reviewer": reviewer })
            })
            .collect();
        rules.push(json!({ "id": e.id * 10 + 2, "node_id": "GA_rev", "type": "required_reviewers",
            "prevent_self_review": e.prevent_self_review, "reviewers": reviewers }));
    }
    if e.branch_policy.is_some() {
        rules.push(json!({ "id": e.id * 10 + 3, "node_id": "GA_branch", "type": "branch_policy" }));
    }
    json!({
        "id": e.id, "node_id": format!("EN_{}", e.id), "name": name,
        "url": format!("{}/repos/{}/environments/{name}", ctx.base, ctx.repo_name),
        "html_url": format!("{}/{}/deployments/activity_log?environments_filter={name}", ctx.web, ctx.repo_name),
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "protection_rules": rules,
        "deployment_branch_policy": e.branch_policy.map(|(p, c)| json!({ "protected_branches": p, "custom_branch_policies": c })),
    })
}

/// `GET` / `PUT …/environments/{name}`.
pub(super) fn environment(
    ctx: &Ctx,
    s: &mut State,
    method: &str,
    name: &str,
    body: &Value,
    err: Err,
) -> Reply {
    if method == "GET" {
        let Some(e) = s.repos[&ctx.repo_name].environments.get(name) else { return err(404, "Not Found") };
        return ok(200, env_json(ctx, s, name, e));
    }
    let wait = match body.get("wait_timer") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_u64().filter(|w| *w <= 43_200) {
            Some(w) => w,
            None => {
                return err(422, &format!("Validation Failed: wait_timer {v} must be between 0 and 43200"));
            }
        },
    };
    let mut reviewers = Vec::new();
    let empty = Vec::new();
    let given = body.get("reviewers").and_then(Value::as_array).unwrap_or(&empty);
    if given.len() > 6 {
        return err(422, "Validation Failed: reviewers can have at most 6 entries");
    }
    for r in given {
        let (kind, id) = (r.get("type").and_then(Value::as_str), r.get("id").and_then(Value::as_u64));
        let known = match (kind, id) {
            (Some("User"), Some(id)) => s.users.values().any(|v| *v == id),
            (Some("Team"), Some(id)) => s.teams.values().any(|v| *v == id),
            _ => {
                return err(
                    422,
                    &format!("Validation Failed: reviewer {r} needs type User or Team and an id"),
                );
            }
        };
        if !known {
            return err(
                422,
                &format!("Validation Failed: no {} with id {}", kind.unwrap_or(""), id.unwrap_or(0)),
            );
        }
        reviewers.push((kind.unwrap_or_default().to_owned(), id.unwrap_or_default()));
    }
    let policy = match body.get("deployment_branch_policy") {
        None | Some(Value::Null) => None,
        Some(p) => {
            let flag = |k: &str| p.get(k).and_then(Value::as_bool);
            match (flag("protected_branches"), flag("custom_branch_policies")) {
                (Some(a), Some(b)) if a != b => Some((a, b)),
                (Some(_), Some(_)) => {
                    return err(
                        422,
                        "Validation Failed: protected_branches and custom_branch_policies cannot have the same value",
                    );
                }
                _ => {
                    return err(
                        422,
                        "Validation Failed: deployment_branch_policy needs protected_branches and custom_branch_policies",
                    );
                }
            }
        }
    };
    let repo = s.repos.get_mut(&ctx.repo_name).unwrap();
    let next_id = 7_700 + repo.environments.len() as u64;
    let e = repo
        .environments
        .entry(name.to_owned())
        .or_insert_with(|| EnvRec { id: next_id, ..Default::default() });
    e.wait_timer = wait;
    e.prevent_self_review = body.get("prevent_self_review").and_then(Value::as_bool).unwrap_or(false);
    e.reviewers = reviewers;
    // Leaving custom branch policies deletes them.
    if policy.map(|p| p.1) != Some(true) {
        e.policies.clear();
    }
    e.branch_policy = policy;
    e.puts += 1;
    let e = e.clone();
    ok(200, env_json(ctx, s, name, &e))
}

/// `GET` / `POST …/environments/{name}/deployment-branch-policies`.
pub(super) fn branch_policies(
    ctx: &Ctx,
    repo: &mut Repo,
    method: &str,
    env: &str,
    q: &BTreeMap<String, String>,
    body: &Value,
    err: Err,
) -> Reply {
    let Some(e) = repo.environments.get_mut(env) else { return err(404, "Not Found") };
    let as_json = |(id, name, kind): &(u64, String, String)| json!({ "id": id, "node_id": format!("MDE2_{id}"), "name": name, "type": kind });
    if method == "GET" {
        let size = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30usize).clamp(1, 100);
        let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
        let items: Vec<Value> = e.policies.iter().skip((page - 1) * size).take(size).map(as_json).collect();
        return ok(200, json!({ "total_count": e.policies.len(), "branch_policies": items }));
    }
    // Only environments restricted to custom policies take them.
    if e.branch_policy.map(|p| p.1) != Some(true) {
        return err(404, "Not Found");
    }
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        return err(422, "Validation Failed: name is missing");
    }
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("branch");
    if kind != "branch" && kind != "tag" {
        return err(422, &format!("Validation Failed: type {kind:?} is not one of branch, tag"));
    }
    if let Some(p) = e.policies.iter().find(|p| p.1 == name && p.2 == kind) {
        let mut r = ok(303, Value::Null);
        r.body = String::new();
        let loc = format!(
            "{}/repos/{}/environments/{env}/deployment-branch-policies/{}",
            ctx.base, ctx.repo_name, p.0
        );
        r.headers.push(("location".into(), loc));
        return r;
    }
    let id = 361_000 + e.policies.len() as u64 + e.id * 100;
    e.policies.push((id, name.to_owned(), kind.to_owned()));
    ok(200, as_json(e.policies.last().unwrap()))
}

/// `GET …/environments/{name}/deployment-branch-policies/{id}`.
pub(super) fn branch_policy(repo: &Repo, env: &str, id: &str, err: Err) -> Reply {
    let found = repo.environments.get(env).and_then(|e| e.policies.iter().find(|p| p.0.to_string() == id));
    match found {
        Some((id, name, kind)) => ok(200, json!({ "id": id, "name": name, "type": kind })),
        None => err(404, "Not Found"),
    }
}

/// `GET /users/{login}`.
pub(super) fn user(s: &State, login: &str, err: Err) -> Reply {
    match s.users.get(login) {
        Some(id) => ok(200, json!({ "login": login, "id": id, "type": "User" })),
        None => err(404, "Not Found"),
    }
}

/// `GET /orgs/{org}/teams/{slug}`.
pub(super) fn team(s: &State, org: &str, slug: &str, err: Err) -> Reply {
    match s.teams.get(&format!("{org}/{slug}")) {
        Some(id) => {
            ok(200, json!({ "id": id, "slug": slug, "name": slug, "organization": { "login": org } }))
        }
        None => err(404, "Not Found"),
    }
}
