//! Contents and commits: the same paths and shapes on both forges (only the write verb and
//! the page-size parameter differ, and the callers choose those).

use super::error::{ForgeError, Op};
use super::http::{Http, Retry};
use super::model::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde::Deserialize;

#[derive(Deserialize)]
struct ContentAnswer {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    content: Option<String>,
    sha: String,
}

#[derive(Deserialize)]
struct FileAnswer {
    content: Option<ShaOnly>,
    commit: CommitRef,
}

#[derive(Deserialize)]
struct ShaOnly {
    sha: String,
}

#[derive(Deserialize)]
struct CommitRef {
    sha: String,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct CommitItem {
    sha: String,
    commit: CommitBody,
    author: Option<Login>,
}

#[derive(Deserialize)]
struct CommitBody {
    message: String,
    author: Option<Signature>,
}

#[derive(Deserialize)]
struct Signature {
    #[serde(default)]
    date: String,
}

#[derive(Deserialize)]
struct Login {
    login: Option<String>,
}

/// `GET …/contents/{path}?ref=`: the decoded file and its blob sha; 404 → `None`.
pub(super) async fn get(
    http: &Http,
    repo: &RepoId,
    path: &str,
    git_ref: Option<&str>,
) -> Result<Option<RemoteFile>, ForgeError> {
    let target =
        format!("reading {path} in {repo}{}", git_ref.map(|r| format!(" at {r}")).unwrap_or_default());
    let mut url = http.url(&["repos", &repo.owner, &repo.name, "contents", path]);
    if let Some(r) = git_ref {
        url.query_pairs_mut().append_pair("ref", r);
    }
    let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
    match a.status {
        200 => {
            if a.body.trim_start().starts_with('[') {
                return Err(protocol(http, &target, "the path is a directory"));
            }
            let c: ContentAnswer = a.json(http.forge, &target)?;
            if !c.kind.is_empty() && c.kind != "file" {
                return Err(protocol(http, &target, &format!("the path is a {}, not a file", c.kind)));
            }
            // The base64 comes wrapped in lines.
            let b64: String =
                c.content.unwrap_or_default().chars().filter(|ch| !ch.is_whitespace()).collect();
            let bytes = STANDARD
                .decode(b64)
                .map_err(|e| protocol(http, &target, &format!("bad base64 content: {e}")))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| protocol(http, &target, "the file is not UTF-8 text"))?;
            Ok(Some(RemoteFile { text, sha: c.sha }))
        }
        404 if http.has_token() => Ok(None),
        _ => Err(http.error(Op::GetFile, &target, &repo.to_string(), &a)),
    }
}

/// Creates or updates a file with `method`; a stale sha (409), or a create that finds the
/// file (GitHub 422 "sha wasn't supplied", Forgejo 422 "already exists"), is a `Conflict`.
pub(super) async fn write(
    http: &Http,
    method: Method,
    repo: &RepoId,
    w: &FileWrite,
) -> Result<FileCommit, ForgeError> {
    let target = format!("writing {} on {} in {repo}", w.path, w.branch);
    let url = http.url(&["repos", &repo.owner, &repo.name, "contents", &w.path]);
    let mut body = serde_json::json!({
        "message": w.message,
        "content": STANDARD.encode(w.text.as_bytes()),
        "branch": w.branch,
    });
    if let Some(sha) = &w.sha {
        body["sha"] = sha.clone().into();
    }
    let a = http.send(&target, method, url, Some(&body), Retry::RateLimitOnly).await?;
    match a.status {
        200 | 201 => {
            let f: FileAnswer = a.json(http.forge, &target)?;
            Ok(FileCommit {
                commit_sha: f.commit.sha,
                blob_sha: f.content.map(|c| c.sha).unwrap_or_default(),
                html_url: f.commit.html_url,
            })
        }
        409 if rule_refusal(&a.body) => Err(ForgeError::RuleRefused {
            forge: http.forge,
            path: w.path.clone(),
            branch: w.branch.clone(),
            rule: super::error::server_message(&a.body, 409).split_whitespace().collect::<Vec<_>>().join(" "),
        }),
        409 => Err(conflict(http, w, &a.body)),
        // Forgejo up to v11 answers a stale sha with 422 "sha does not match [given: …,
        // expected: …]" (v12 on: 409): the same conflict.
        422 if a.body.contains("sha does not match") => Err(conflict(http, w, &a.body)),
        422 if w.sha.is_none() && {
            let m = a.body.to_ascii_lowercase();
            m.contains("sha") || m.contains("already exist")
        } =>
        {
            Err(conflict(http, w, &a.body))
        }
        _ => Err(http.error(Op::WriteFile, &target, &repo.to_string(), &a)),
    }
}

/// `GET …/commits?path=&sha=` following `Link: rel="next"`, at most `max` commits.
pub(super) async fn commits(
    http: &Http,
    repo: &RepoId,
    path: &str,
    branch: &str,
    max: usize,
    page_params: &[(&str, &str)],
) -> Result<Vec<CommitInfo>, ForgeError> {
    let target = format!("listing commits of {path} on {branch} in {repo}");
    let mut url = http.url(&["repos", &repo.owner, &repo.name, "commits"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("path", path).append_pair("sha", branch);
        for (k, v) in page_params {
            q.append_pair(k, v);
        }
    }
    let mut out = Vec::new();
    let mut next = Some(url);
    // Bounded: at most 100 pages, and never past `max`.
    for _ in 0..100 {
        let Some(url) = next.take() else { break };
        let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
        match a.status {
            200 => {}
            409 => break, // empty repository
            // Forgejo answers 404 for a path without commits (GitHub `[]`): no history.
            404 if http.forge == crate::context::ForgeKind::Forgejo && http.has_token() => break,
            _ => return Err(http.error(Op::ListCommits, &target, &repo.to_string(), &a)),
        }
        let items: Vec<CommitItem> = a.json(http.forge, &target)?;
        if items.is_empty() {
            break;
        }
        for c in items {
            out.push(CommitInfo {
                sha: c.sha,
                message: c.commit.message,
                date: c.commit.author.map(|s| s.date).unwrap_or_default(),
                author: c.author.and_then(|l| l.login),
            });
        }
        if out.len() >= max {
            out.truncate(max);
            break;
        }
        next = a.next_link().and_then(|l| url::Url::parse(&l).ok());
    }
    Ok(out)
}

/// Whether a 409 is GitHub refusing the write for a ruleset or branch protection (its
/// repository-rule-violation-error says "Repository rule violations found"; classic
/// protection "Protected branch update failed"), not a stale sha.
fn rule_refusal(body: &str) -> bool {
    let m = body.to_ascii_lowercase();
    m.contains("repository rule violation") || m.contains("protected branch")
}

fn conflict(http: &Http, w: &FileWrite, body: &str) -> ForgeError {
    ForgeError::Conflict {
        forge: http.forge,
        path: w.path.clone(),
        server: super::error::server_message(body, 409),
    }
}

fn protocol(http: &Http, target: &str, reason: &str) -> ForgeError {
    ForgeError::Protocol { forge: http.forge, target: target.to_owned(), reason: reason.to_owned() }
}
