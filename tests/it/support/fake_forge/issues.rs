//! Issues and comments in the fake: GitHub takes label names and pages comments
//! (`per_page`, `Link`); Forgejo takes label ids and returns every comment at once.

use super::routes::{Ctx, Err, ok};
use super::state::*;
use super::{Flavor, Reply};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn create(ctx: &Ctx, repo: &mut Repo, body: &Value, err: Err) -> Reply {
    let title = body.get("title").and_then(Value::as_str).unwrap_or_default();
    if title.is_empty() {
        return err(422, "Validation Failed: title is missing");
    }
    let labels = body.get("labels").cloned();
    // Forgejo's labels are ids: names do not decode.
    if ctx.flavor == Flavor::Forgejo
        && labels.as_ref().and_then(Value::as_array).is_some_and(|l| l.iter().any(|x| !x.is_i64()))
    {
        return err(
            422,
            "json: cannot unmarshal string into Go struct field CreateIssueOption.labels of type int64",
        );
    }
    repo.issues.push(IssueRec {
        state: "open".into(),
        author: ctx.login.clone(),
        title: title.to_owned(),
        body: body.get("body").and_then(Value::as_str).unwrap_or_default().to_owned(),
        labels,
        comments: Vec::new(),
    });
    let n = repo.issues.len();
    ok(
        201,
        json!({ "id": 500 + n, "number": n, "state": "open", "title": title,
        "html_url": format!("{}/{}/issues/{n}", ctx.web, ctx.repo_name) }),
    )
}

/// An issue in the flavour's shape (the same fields on both).
fn issue_json(ctx: &Ctx, n: usize, i: &IssueRec) -> Value {
    let mut v = json!({ "id": 500 + n, "number": n, "title": i.title, "body": i.body, "state": i.state,
        "user": { "login": i.author, "id": 1 }, "comments": i.comments.len(),
        "html_url": format!("{}/{}/issues/{n}", ctx.web, ctx.repo_name),
        "closed_at": if i.state == "closed" { Value::from("2026-01-01T00:00:00Z") } else { Value::Null } });
    if ctx.flavor == Flavor::Github {
        v["state_reason"] = if i.state == "closed" { "completed".into() } else { Value::Null };
    }
    v
}

/// `GET` / `PATCH …/issues/{n}`: a PATCH answers 200 on GitHub and 201 on Forgejo.
pub(super) fn issue(ctx: &Ctx, repo: &mut Repo, method: &str, number: &str, body: &Value, err: Err) -> Reply {
    let Some(n) = number.parse::<usize>().ok().filter(|n| *n >= 1 && *n <= repo.issues.len()) else {
        return err(404, "Not Found");
    };
    let issue = &mut repo.issues[n - 1];
    if method == "GET" {
        return ok(200, issue_json(ctx, n, issue));
    }
    if let Some(state) = body.get("state") {
        match state.as_str() {
            Some(s @ ("open" | "closed")) => issue.state = s.to_owned(),
            _ => return err(422, &format!("Validation Failed: state {state} is not one of open, closed")),
        }
    }
    if let Some(t) = body.get("title").and_then(Value::as_str) {
        issue.title = t.to_owned();
    }
    if let Some(b) = body.get("body").and_then(Value::as_str) {
        issue.body = b.to_owned();
    }
    ok(if ctx.flavor == Flavor::Github { 200 } else { 201 }, issue_json(ctx, n, issue))
}

pub(super) fn comments(
    ctx: &Ctx,
    repo: &mut Repo,
    method: &str,
    number: &str,
    q: &BTreeMap<String, String>,
    body: &Value,
    err: Err,
) -> Reply {
    let Some(issue) = number.parse::<usize>().ok().and_then(|n| repo.issues.get_mut(n.wrapping_sub(1)))
    else {
        return err(404, "Not Found");
    };
    let as_json = |i: usize, (login, text): &(String, String)| {
        let mut v = json!({ "id": i + 1, "body": text, "user": { "login": login, "id": 1, "type": "User" },
            "created_at": format!("2026-01-01T00:00:{:02}Z", i % 60), "updated_at": "2026-01-01T00:00:00Z",
            "html_url": format!("{}/{}/issues/{number}#issuecomment-{}", ctx.web, ctx.repo_name, i + 1) });
        if ctx.flavor == Flavor::Github {
            v["author_association"] = "MEMBER".into();
        }
        v
    };
    if method == "POST" {
        let text = body.get("body").and_then(Value::as_str).unwrap_or_default();
        if text.is_empty() {
            return err(422, "Validation Failed: body is missing");
        }
        issue.comments.push((ctx.login.clone(), text.to_owned()));
        let i = issue.comments.len() - 1;
        return ok(201, as_json(i, &issue.comments[i]));
    }
    let all: Vec<Value> = issue.comments.iter().enumerate().map(|(i, c)| as_json(i, c)).collect();
    if ctx.flavor == Flavor::Forgejo {
        let mut r = ok(200, Value::Array(all.clone()));
        r.headers.push(("x-total-count".into(), all.len().to_string()));
        return r;
    }
    let size = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30usize).clamp(1, 100);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let mut r = ok(200, Value::Array(all.iter().skip((page - 1) * size).take(size).cloned().collect()));
    if page * size < all.len() {
        let mut qq = q.clone();
        qq.insert("page".into(), (page + 1).to_string());
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(qq.iter()).finish();
        r.headers.push((
            "link".into(),
            format!("<{}/repos/{}/issues/{number}/comments?{qs}>; rel=\"next\"", ctx.base, ctx.repo_name),
        ));
    }
    r
}
