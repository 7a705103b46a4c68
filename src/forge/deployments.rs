//! Listing GitHub deployments of an environment with each one's latest status: what runs
//! where. (Forgejo has no deployments; there the env file's history says it.)

use super::error::{ForgeError, Op};
use super::http::{Http, Retry};
use super::model::{DeployState, DeploymentInfo, RepoId};
use crate::context::ForgeKind;
use futures::StreamExt;
use reqwest::Method;
use serde::Deserialize;

#[derive(Deserialize)]
struct GhDeployment {
    id: u64,
    #[serde(default)]
    sha: String,
    #[serde(rename = "ref", default)]
    git_ref: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    payload: serde_json::Value,
    description: Option<String>,
    creator: Option<Login>,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct GhStatus {
    state: String,
    #[serde(default)]
    log_url: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
}

/// Status reads in flight at once.
const CONCURRENT_STATUS_READS: usize = 4;

/// `GET …/deployments?environment=` newest first (following `Link`, at most `max`), then
/// each one's latest status (`GET …/deployments/{id}/statuses?per_page=1`).
pub(super) async fn list(
    http: &Http,
    repo: &RepoId,
    environment: &str,
    max: usize,
) -> Result<Vec<DeploymentInfo>, ForgeError> {
    let target = format!("listing deployments to {environment} in {repo}");
    let mut url = http.url(&["repos", &repo.owner, &repo.name, "deployments"]);
    url.query_pairs_mut()
        .append_pair("environment", environment)
        .append_pair("per_page", &max.clamp(1, 100).to_string());
    let mut found: Vec<GhDeployment> = Vec::new();
    let mut next = Some(url);
    for _ in 0..50 {
        let Some(url) = next.take() else { break };
        if found.len() >= max {
            break;
        }
        let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
        if a.status != 200 {
            return Err(http.error(Op::ListDeployments, &target, &repo.to_string(), &a));
        }
        found.extend(a.json::<Vec<GhDeployment>>(ForgeKind::Github, &target)?);
        next = a.next_link().and_then(|l| url::Url::parse(&l).ok());
    }
    found.truncate(max);
    // By id, not by reference: a closure over `&GhDeployment` would make the future not `Send`.
    let ids: Vec<u64> = found.iter().map(|d| d.id).collect();
    let states: Vec<Result<Latest, ForgeError>> = futures::stream::iter(ids)
        .map(|id| latest_state(http, repo, id))
        .buffered(CONCURRENT_STATUS_READS)
        .collect()
        .await;
    found
        .into_iter()
        .zip(states)
        .map(|(d, latest)| {
            let (state, log_url) = latest?;
            Ok(DeploymentInfo {
                id: d.id,
                sha: d.sha,
                git_ref: d.git_ref,
                environment: d.environment,
                created_at: d.created_at,
                payload: d.payload,
                description: d.description.unwrap_or_default(),
                creator: d.creator.map(|c| c.login),
                state,
                log_url,
            })
        })
        .collect()
}

/// The latest status's state and the run it links (`log_url`, else `target_url`).
type Latest = (Option<DeployState>, Option<String>);

async fn latest_state(http: &Http, repo: &RepoId, id: u64) -> Result<Latest, ForgeError> {
    let target = format!("reading the latest status of deployment {id} in {repo}");
    let mut url = http.url(&["repos", &repo.owner, &repo.name, "deployments", &id.to_string(), "statuses"]);
    url.query_pairs_mut().append_pair("per_page", "1");
    let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
    if a.status != 200 {
        return Err(http.error(Op::ListDeployments, &target, &repo.to_string(), &a));
    }
    // Newest first: the first entry is the latest.
    let statuses: Vec<GhStatus> = a.json(ForgeKind::Github, &target)?;
    let Some(latest) = statuses.into_iter().next() else { return Ok((None, None)) };
    let link = latest.log_url.or(latest.target_url).filter(|u| !u.is_empty());
    Ok((DeployState::from_github(&latest.state), link))
}
