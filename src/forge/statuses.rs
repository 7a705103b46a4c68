//! Commit statuses: same path on both forges (`POST …/statuses/{sha}`); the request field is
//! `state` on both, Forgejo's answer calls it `status`.

use super::error::{ForgeError, Op};
use super::http::{Http, Retry};
use super::model::{CommitStatus, RepoId};
use reqwest::Method;

/// `POST …/statuses/{sha}` → 201.
pub(super) async fn create(http: &Http, repo: &RepoId, s: &CommitStatus) -> Result<(), ForgeError> {
    let target = format!("setting status {} on {} in {repo}", s.context, s.sha);
    let url = http.url(&["repos", &repo.owner, &repo.name, "statuses", &s.sha]);
    let mut body = serde_json::json!({
        "state": s.state.commit_status(http.forge),
        "context": s.context,
        "description": s.description,
    });
    if let Some(u) = &s.target_url {
        body["target_url"] = u.clone().into();
    }
    let a = http.send(&target, Method::POST, url, Some(&body), Retry::RateLimitOnly).await?;
    match a.status {
        200 | 201 => Ok(()),
        _ => Err(http.error(Op::Statuses, &target, &repo.to_string(), &a)),
    }
}
