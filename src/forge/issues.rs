//! Issues and comments: the same paths on both forges. GitHub takes label names and pages
//! comments (`per_page`, `Link`); Forgejo wants label ids and returns all comments at once.

use super::error::{ForgeError, Op};
use super::http::{Http, Retry};
use super::model::{Comment, Issue, IssueDetails, IssueState, NewIssue, RepoId};
use crate::context::ForgeKind;
use reqwest::Method;
use serde::Deserialize;

#[derive(Deserialize)]
struct IssueAnswer {
    number: u64,
    #[serde(default)]
    html_url: String,
}

#[derive(Deserialize)]
struct IssueFull {
    number: u64,
    #[serde(default)]
    title: String,
    body: Option<String>,
    #[serde(default)]
    state: String,
    user: Option<User>,
    #[serde(default)]
    html_url: String,
}

#[derive(Deserialize)]
struct CommentAnswer {
    id: u64,
    #[serde(default)]
    body: String,
    user: Option<User>,
    #[serde(default)]
    created_at: String,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

impl From<CommentAnswer> for Comment {
    fn from(c: CommentAnswer) -> Comment {
        Comment {
            id: c.id,
            login: c.user.map(|u| u.login).unwrap_or_default(),
            body: c.body,
            created_at: c.created_at,
        }
    }
}

/// `POST …/issues`.
pub(super) async fn create(http: &Http, repo: &RepoId, issue: &NewIssue) -> Result<Issue, ForgeError> {
    let target = format!("opening issue {:?} in {repo}", issue.title);
    let url = http.url(&["repos", &repo.owner, &repo.name, "issues"]);
    let mut body = serde_json::json!({ "title": issue.title, "body": issue.body });
    if http.forge == ForgeKind::Github && !issue.labels.is_empty() {
        body["labels"] = issue.labels.clone().into();
    }
    let a = http.send(&target, Method::POST, url, Some(&body), Retry::RateLimitOnly).await?;
    match a.status {
        200 | 201 => {
            let i: IssueAnswer = a.json(http.forge, &target)?;
            Ok(Issue { number: i.number, html_url: i.html_url })
        }
        _ => Err(http.error(Op::Issues, &target, &repo.to_string(), &a)),
    }
}

/// `GET …/issues/{n}/comments`, oldest first; all pages on GitHub (bounded).
pub(super) async fn comments(
    http: &Http,
    repo: &RepoId,
    number: u64,
    since: Option<&str>,
) -> Result<Vec<Comment>, ForgeError> {
    let target = format!("reading comments of issue #{number} in {repo}");
    let mut url = http.url(&["repos", &repo.owner, &repo.name, "issues", &number.to_string(), "comments"]);
    {
        let mut q = url.query_pairs_mut();
        if http.forge == ForgeKind::Github {
            q.append_pair("per_page", "100");
        }
        if let Some(s) = since {
            q.append_pair("since", s);
        }
    }
    let mut out = Vec::new();
    let mut next = Some(url);
    for _ in 0..50 {
        let Some(url) = next.take() else { break };
        let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
        if a.status != 200 {
            return Err(http.error(Op::Issues, &target, &repo.to_string(), &a));
        }
        let page: Vec<CommentAnswer> = a.json(http.forge, &target)?;
        out.extend(page.into_iter().map(Comment::from));
        next = a.next_link().and_then(|l| url::Url::parse(&l).ok());
    }
    Ok(out)
}

/// `POST …/issues/{n}/comments`.
pub(super) async fn comment(
    http: &Http,
    repo: &RepoId,
    number: u64,
    body: &str,
) -> Result<Comment, ForgeError> {
    let target = format!("commenting on issue #{number} in {repo}");
    let url = http.url(&["repos", &repo.owner, &repo.name, "issues", &number.to_string(), "comments"]);
    let a = http
        .send(&target, Method::POST, url, Some(&serde_json::json!({ "body": body })), Retry::RateLimitOnly)
        .await?;
    match a.status {
        200 | 201 => Ok(a.json::<CommentAnswer>(http.forge, &target)?.into()),
        _ => Err(http.error(Op::Issues, &target, &repo.to_string(), &a)),
    }
}

/// `GET …/issues/{n}` (same path and shape on both forges).
pub(super) async fn get(http: &Http, repo: &RepoId, number: u64) -> Result<IssueDetails, ForgeError> {
    let target = format!("reading issue #{number} in {repo}");
    let url = http.url(&["repos", &repo.owner, &repo.name, "issues", &number.to_string()]);
    let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
    if a.status != 200 {
        return Err(http.error(Op::ReadIssues, &target, &repo.to_string(), &a));
    }
    let i: IssueFull = a.json(http.forge, &target)?;
    let state = match i.state.as_str() {
        "open" => IssueState::Open,
        "closed" => IssueState::Closed,
        other => {
            return Err(ForgeError::Protocol {
                forge: http.forge,
                target,
                reason: format!("issue state {other:?} is neither open nor closed"),
            });
        }
    };
    Ok(IssueDetails {
        number: i.number,
        title: i.title,
        body: i.body.unwrap_or_default(),
        state,
        author: i.user.map(|u| u.login).unwrap_or_default(),
        html_url: i.html_url,
    })
}

/// `PATCH …/issues/{n}` with `{"state":"closed"}`: GitHub answers 200, Forgejo 201.
pub(super) async fn close(http: &Http, repo: &RepoId, number: u64) -> Result<(), ForgeError> {
    let target = format!("closing issue #{number} in {repo}");
    let url = http.url(&["repos", &repo.owner, &repo.name, "issues", &number.to_string()]);
    let body = serde_json::json!({ "state": "closed" });
    // Closing twice is harmless, so transient failures may be retried.
    let a = http.send(&target, Method::PATCH, url, Some(&body), Retry::Idempotent).await?;
    match a.status {
        200 | 201 => Ok(()),
        _ => Err(http.error(Op::Issues, &target, &repo.to_string(), &a)),
    }
}
