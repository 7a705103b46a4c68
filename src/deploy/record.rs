//! Where a release's state is reported: a GitHub deployment and its statuses, or a commit
//! status `deploy/<environment>` on Forgejo; transient failures retried, bounded.

use super::release::{Progress, Settings};
use crate::forge::{
    CommitStatus, DeployState, DeploymentRequest, DeploymentStatus, Forge, ForgeError, RetryPolicy,
};

/// Where the deployment's state is reported: a GitHub deployment, or a commit status.
pub(crate) enum Record {
    /// A GitHub deployment by id.
    Deployment(u64),
    /// A commit status on this sha (empty: nothing to report on).
    Status(String),
}

/// Opens the release's deployment. A 5xx or a dropped connection is retried, bounded; before
/// each retry the environment's recent deployments are read, and one the failed attempt made
/// anyway (same description and payload, no status yet) is used rather than made twice.
pub(crate) async fn open_deployment<F: Forge>(
    forge: &F,
    s: &Settings,
    request: &DeploymentRequest,
    progress: Progress<'_>,
) -> Result<u64, ForgeError> {
    let mut backoff = RetryPolicy::for_records().backoff();
    loop {
        let e = match forge.create_deployment(&s.repo, request).await {
            Ok(d) => return Ok(d.id),
            Err(e @ (ForgeError::Transport { .. } | ForgeError::Server { .. })) if e.is_retryable_write() => {
                e
            }
            Err(e) => return Err(e),
        };
        if let Some(id) = unreported(forge, s, request).await {
            progress(&format!("deployment {id} was created though its answer was lost ({e}); using it"));
            return Ok(id);
        }
        let Some(wait) = backoff.next_wait(None) else { return Err(e) };
        progress(&format!("warning: creating the deployment failed ({e}); retrying"));
        tokio::time::sleep(wait).await;
    }
}

/// The deployment GitHub made for this job's `environment:` (a job with an environment gets
/// one before its steps run, created by `github-actions[bot]`, its statuses linking the run):
/// the release reports on it instead of opening a second one. `None` outside such a job.
pub(crate) async fn job_deployment<F: Forge>(forge: &F, s: &Settings) -> Option<u64> {
    let run = run_path(&s.meta.run_url)?;
    let recent = forge.list_deployments(&s.repo, &s.environment, 10).await.ok()?;
    recent
        .iter()
        .find(|d| {
            // Not one a release made (with the same job token, e.g. an earlier attempt of this run).
            d.creator.as_deref() == Some("github-actions[bot]")
                && d.payload.get("command").is_none()
                && d.log_url.as_deref().is_some_and(|u| u.ends_with(&run) || u.contains(&format!("{run}/")))
        })
        .map(|d| d.id)
}

/// `/{owner}/{repo}/actions/runs/{id}` of a run's web URL.
fn run_path(run_url: &str) -> Option<String> {
    let url = url::Url::parse(run_url).ok()?;
    let path = url.path().trim_end_matches('/');
    let (_, id) = path.rsplit_once("/actions/runs/")?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| path.to_owned())
}

/// After a success, marks the environment's earlier successful deployments `inactive`
/// (GitHub's `auto_inactive` does it only for non-production environments, so production's
/// old deployments would all stay "active"), or this one when a newer one already succeeded:
/// one active deployment per environment, also after concurrent releases. Failures only warn.
pub(crate) async fn retire_previous<F: Forge>(forge: &F, s: &Settings, current: u64, progress: Progress<'_>) {
    let Ok(recent) = forge.list_deployments(&s.repo, &s.environment, 10).await else { return };
    let successful = |d: &&crate::forge::DeploymentInfo| d.state == Some(DeployState::Success);
    // Deployment ids grow: a newer successful deployment (a release that ran at the same
    // time and finished first) supersedes this one, so this one steps back instead.
    let newer = recent.iter().filter(successful).filter(|d| d.id > current).map(|d| d.id).max();
    let retire: Vec<(u64, u64)> = match newer {
        Some(newer) => vec![(current, newer)],
        None => {
            recent.iter().filter(successful).filter(|d| d.id < current).map(|d| (d.id, current)).collect()
        }
    };
    for (id, by) in retire {
        let status = DeploymentStatus {
            state: DeployState::Inactive,
            description: format!("superseded by deployment {by}"),
            environment_url: None,
            log_url: None,
        };
        if let Err(e) = forge.create_deployment_status(&s.repo, id, &status).await {
            progress(&format!("warning: could not mark deployment {id} inactive: {e}"));
        }
    }
}

/// A recent deployment of this request with no status: made by an attempt whose answer was lost.
async fn unreported<F: Forge>(forge: &F, s: &Settings, request: &DeploymentRequest) -> Option<u64> {
    let recent = forge.list_deployments(&s.repo, &s.environment, 5).await.ok()?;
    recent
        .iter()
        .find(|d| d.state.is_none() && d.description == request.description && d.payload == request.payload)
        .map(|d| d.id)
}

/// Reports a state on the deployment or the commit status; failures only warn (the
/// deployment itself is what matters).
pub(crate) async fn report<F: Forge>(
    forge: &F,
    s: &Settings,
    record: &Record,
    state: DeployState,
    description: &str,
    progress: Progress<'_>,
) {
    let description: String = description.chars().take(140).collect();
    // A status POST is safe to repeat (the same state twice changes nothing that matters),
    // and an unreported final state leaves the deployment looking in progress: retry the
    // transient failures a few times, bounded.
    let mut backoff = RetryPolicy::for_records().backoff();
    let result = loop {
        let result = send_report(forge, s, record, state, &description).await;
        match &result {
            Err(e) if e.is_retryable_write() => match backoff.next_wait(None) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => break result,
            },
            _ => break result,
        }
    };
    if let Err(e) = result {
        progress(&format!("warning: could not report {state:?} for {}: {e}", s.environment));
    }
}

async fn send_report<F: Forge>(
    forge: &F,
    s: &Settings,
    record: &Record,
    state: DeployState,
    description: &str,
) -> Result<(), ForgeError> {
    let description = description.to_owned();
    match record {
        Record::Deployment(id) => {
            let status = DeploymentStatus {
                state,
                description,
                environment_url: s.environment_url.clone(),
                log_url: Some(s.meta.run_url.clone()).filter(|u| !u.is_empty()),
            };
            forge.create_deployment_status(&s.repo, *id, &status).await
        }
        Record::Status(sha) if sha.is_empty() => Ok(()),
        Record::Status(sha) => {
            let status = CommitStatus {
                sha: sha.clone(),
                context: format!("deploy/{}", s.environment),
                state,
                description,
                target_url: s
                    .environment_url
                    .clone()
                    .or_else(|| Some(s.meta.run_url.clone()).filter(|u| !u.is_empty())),
            };
            forge.create_commit_status(&s.repo, &status).await
        }
    }
}
