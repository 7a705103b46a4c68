//! Contents and commits handlers of the fake forge (same paths on both flavours; Forgejo
//! splits create (POST) from update (PUT) and pages with `limit` ≤ 50).

use super::Flavor;
use super::Reply;
use super::routes::{Ctx, Err, ok};
use super::state::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::collections::BTreeMap;

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

pub(super) fn contents(
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
    // A ruleset on the branch refuses the write with GitHub's repository-rule-violation-error
    // (github-subset.json contents_put 409: `object<repository-rule-violation-error>`): the
    // message lists the violated rules after "Repository rule violations found".
    if gh && let Some((_, rule)) = repo.rules.iter().find(|(b, _)| *b == branch) {
        return err(409, &format!("Repository rule violations found\n\n{rule}\n\n"));
    }
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
            // Forgejo up to v11 maps ErrSHADoesNotMatch to 422 "Invalid"
            // (routers/api/v1/repo/file.go @ v11.0.3 handleCreateOrUpdateFileError), from v12
            // on to 409 "Conflict" (same file @ v12.0.0); the text is models/error.go's.
            let major = ctx.version.forgejo_major().unwrap_or(0);
            return if gh {
                err(409, &format!("{path} does not match {g}"))
            } else if major <= 11 {
                err(422, &format!("sha does not match [given: {g}, expected: {cur}]"))
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

pub(super) fn commits(ctx: &Ctx, repo: &Repo, q: &BTreeMap<String, String>, err: Err) -> Reply {
    let branch = q.get("sha").cloned().unwrap_or_else(|| repo.default_branch.clone());
    if !repo.branches.contains_key(&branch) {
        return err(404, &format!("No commit found for SHA: {branch}"));
    }
    // GitHub: per_page ≤ 100; Forgejo: limit, silently capped at 50 (per_page ignored).
    // With `path`, Forgejo ignores `limit`: CommitsByFileAndRange pages by
    // setting.Git.CommitsRangeSize (50) (routers/api/v1/repo/commits.go @ v11.0.3 … v15).
    let size = match ctx.flavor {
        Flavor::Github => q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30usize).clamp(1, 100),
        Flavor::Forgejo if q.contains_key("path") => 50,
        Flavor::Forgejo => q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(30usize).clamp(1, 50),
    };
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let all: Vec<&Commit> = match q.get("path") {
        Some(p) => repo.history(&branch, p),
        None => repo.branches[&branch].iter().rev().map(|s| &repo.commits[s]).collect(),
    };
    // Forgejo: a path without commits is `ctx.NotFound("FileCommitsCount", nil)` (same file),
    // where GitHub answers `[]`.
    if ctx.flavor == Flavor::Forgejo && q.contains_key("path") && all.is_empty() {
        return err(404, "The target couldn't be found.");
    }
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
