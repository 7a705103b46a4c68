//! GitHub (github.com and GHES `/api/v3`) over its REST API with reqwest: `Bearer` auth,
//! `application/vnd.github+json`, API version 2022-11-28.

use super::error::{ForgeError, Op};
use super::http::{Http, Retry, RetryPolicy};
use super::model::*;
use super::{Forge, accounts, contents, deployments, environments, issues, runs_wanted, statuses};
use crate::context::ForgeKind;
use crate::secret::Secret;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

/// A GitHub API client.
#[derive(Clone, Debug)]
pub struct GitHub {
    http: Http,
}

impl GitHub {
    /// A client for `api_url` (`https://api.github.com` or `https://ghes/api/v3`).
    pub fn new(api_url: &str, token: Option<Secret>) -> Result<Self, ForgeError> {
        Ok(GitHub { http: Http::new(ForgeKind::Github, api_url, token)? })
    }

    /// Replaces the retry policy for transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.http.retry = retry;
        self
    }

    /// Replaces the first wait after a secondary rate limit (a tuning knob for tests).
    pub fn with_secondary_wait(mut self, wait: std::time::Duration) -> Self {
        self.http.secondary_wait = wait;
        self
    }
}

#[derive(Deserialize)]
struct DispatchAnswer {
    workflow_run_id: u64,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct DeploymentAnswer {
    id: u64,
    #[serde(default)]
    sha: String,
}

#[derive(Deserialize)]
struct GhRun {
    id: u64,
    run_number: u64,
    status: Option<String>,
    conclusion: Option<String>,
    #[serde(default)]
    event: String,
    #[serde(default)]
    head_sha: String,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    display_title: String,
}

impl From<GhRun> for Run {
    fn from(r: GhRun) -> Run {
        Run {
            id: r.id,
            number: r.run_number,
            state: RunState::from_github(r.status.as_deref(), r.conclusion.as_deref()),
            event: r.event,
            head_sha: r.head_sha,
            html_url: r.html_url,
            created: r.created_at,
            title: r.display_title,
        }
    }
}

#[derive(Deserialize)]
struct GhRuns {
    workflow_runs: Vec<GhRun>,
}

impl Forge for GitHub {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Github
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { repository_dispatch: true, deployments: true, environments: true }
    }

    async fn get_file(
        &self,
        repo: &RepoId,
        path: &str,
        git_ref: Option<&str>,
    ) -> Result<Option<RemoteFile>, ForgeError> {
        contents::get(&self.http, repo, path, git_ref).await
    }

    async fn write_file(&self, repo: &RepoId, write: &FileWrite) -> Result<FileCommit, ForgeError> {
        // One PUT creates (201) or updates (200); the sha is the precondition.
        contents::write(&self.http, Method::PUT, repo, write).await
    }

    async fn list_commits(
        &self,
        repo: &RepoId,
        path: &str,
        branch: &str,
        max: usize,
    ) -> Result<Vec<CommitInfo>, ForgeError> {
        contents::commits(&self.http, repo, path, branch, max, &[("per_page", "100")]).await
    }

    async fn dispatch_workflow(&self, repo: &RepoId, d: &Dispatch) -> Result<Dispatched, ForgeError> {
        super::check_inputs(d)?;
        let target = format!("dispatching {} on {repo} at {}", d.workflow, d.git_ref);
        let url = self.http.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "actions",
            "workflows",
            &d.workflow,
            "dispatches",
        ]);
        let mut body = json!({ "ref": d.git_ref, "inputs": d.inputs, "return_run_details": true });
        let mut answer =
            self.http.send(&target, Method::POST, url.clone(), Some(&body), Retry::RateLimitOnly).await?;
        // GHES 3.17–3.19 do not know the flag: send again without it (nothing ran).
        if matches!(answer.status, 400 | 422) && answer.body.contains("return_run_details") {
            body.as_object_mut().map(|o| o.remove("return_run_details"));
            answer = self.http.send(&target, Method::POST, url, Some(&body), Retry::RateLimitOnly).await?;
        }
        match answer.status {
            200 | 201 => {
                let a: DispatchAnswer = answer.json(ForgeKind::Github, &target)?;
                Ok(Dispatched { run_id: Some(a.workflow_run_id), html_url: a.html_url })
            }
            204 => Ok(Dispatched::default()),
            _ => Err(self.http.error(Op::DispatchWorkflow, &target, &repo.to_string(), &answer)),
        }
    }

    fn runs_page(&self, repo: &RepoId, workflow: &str) -> String {
        format!("{}/{repo}/actions/workflows/{workflow}", self.http.web_base())
    }

    async fn repository_dispatch(
        &self,
        repo: &RepoId,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> Result<(), ForgeError> {
        let target = format!("sending repository_dispatch {event_type} to {repo}");
        let url = self.http.url(&["repos", &repo.owner, &repo.name, "dispatches"]);
        let body = json!({ "event_type": event_type, "client_payload": payload });
        let a = self.http.send(&target, Method::POST, url, Some(&body), Retry::RateLimitOnly).await?;
        match a.status {
            200..=299 => Ok(()),
            _ => Err(self.http.error(Op::RepositoryDispatch, &target, &repo.to_string(), &a)),
        }
    }

    async fn get_run(&self, repo: &RepoId, id: u64) -> Result<Run, ForgeError> {
        let target = format!("reading run {id} of {repo}");
        let url = self.http.url(&["repos", &repo.owner, &repo.name, "actions", "runs", &id.to_string()]);
        let a = self.http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
        match a.status {
            200 => Ok(a.json::<GhRun>(ForgeKind::Github, &target)?.into()),
            _ => Err(self.http.error(Op::Runs, &target, &repo.to_string(), &a)),
        }
    }

    async fn list_runs(&self, repo: &RepoId, f: &RunFilter) -> Result<Vec<Run>, ForgeError> {
        let target = format!("listing runs of {} in {repo}", f.workflow);
        let mut url =
            self.http.url(&["repos", &repo.owner, &repo.name, "actions", "workflows", &f.workflow, "runs"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("per_page", &f.max.clamp(1, 100).to_string());
            if let Some(e) = &f.event {
                q.append_pair("event", e);
            }
            if let Some(s) = &f.head_sha {
                q.append_pair("head_sha", s);
            }
        }
        let a = self.http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
        match a.status {
            200 => {
                let runs: GhRuns = a.json(ForgeKind::Github, &target)?;
                Ok(runs_wanted(runs.workflow_runs.into_iter().map(Run::from), f))
            }
            _ => Err(self.http.error(Op::Runs, &target, &repo.to_string(), &a)),
        }
    }

    async fn create_issue(&self, repo: &RepoId, issue: &NewIssue) -> Result<Issue, ForgeError> {
        issues::create(&self.http, repo, issue).await
    }

    async fn list_issue_comments(
        &self,
        repo: &RepoId,
        number: u64,
        since: Option<&str>,
    ) -> Result<Vec<Comment>, ForgeError> {
        issues::comments(&self.http, repo, number, since).await
    }

    async fn create_issue_comment(
        &self,
        repo: &RepoId,
        number: u64,
        body: &str,
    ) -> Result<Comment, ForgeError> {
        issues::comment(&self.http, repo, number, body).await
    }

    async fn create_commit_status(&self, repo: &RepoId, status: &CommitStatus) -> Result<(), ForgeError> {
        statuses::create(&self.http, repo, status).await
    }

    async fn create_deployment(
        &self,
        repo: &RepoId,
        r: &DeploymentRequest,
    ) -> Result<Deployment, ForgeError> {
        let target = format!("create a deployment of {} to {} in {repo}", r.git_ref, r.environment);
        let url = self.http.url(&["repos", &repo.owner, &repo.name, "deployments"]);
        // The action is the gate: no auto-merge (202) and no status-context check (409).
        let body = json!({
            "ref": r.git_ref, "environment": r.environment, "description": r.description, "payload": r.payload,
            "auto_merge": false, "required_contexts": [], "production_environment": r.production,
            "transient_environment": false,
        });
        let a = self.http.send(&target, Method::POST, url, Some(&body), Retry::RateLimitOnly).await?;
        let refused = |fix: &str| ForgeError::Refused {
            forge: ForgeKind::Github,
            status: a.status,
            target: target.clone(),
            server: super::error::server_message(&a.body, a.status),
            fix: fix.to_owned(),
        };
        match a.status {
            201 => {
                let d: DeploymentAnswer = a.json(ForgeKind::Github, &target)?;
                Ok(Deployment { id: d.id, sha: d.sha })
            }
            202 => Err(refused(
                "GitHub merged the default branch into the ref instead of deploying; deploy a tag or sha",
            )),
            409 => Err(refused(
                "the ref has a merge conflict or failing status checks; fix them or deploy another ref",
            )),
            _ => Err(self.http.error(Op::Statuses, &target, &repo.to_string(), &a)),
        }
    }

    async fn create_deployment_status(
        &self,
        repo: &RepoId,
        id: u64,
        s: &DeploymentStatus,
    ) -> Result<(), ForgeError> {
        let target = format!("reporting deployment {id} of {repo} as {}", s.state.github_deployment());
        let url =
            self.http.url(&["repos", &repo.owner, &repo.name, "deployments", &id.to_string(), "statuses"]);
        let mut body = json!({ "state": s.state.github_deployment(), "description": s.description });
        if let Some(u) = &s.environment_url {
            body["environment_url"] = u.clone().into();
        }
        if let Some(u) = &s.log_url {
            body["log_url"] = u.clone().into();
        }
        let a = self.http.send(&target, Method::POST, url, Some(&body), Retry::RateLimitOnly).await?;
        match a.status {
            200 | 201 => Ok(()),
            _ => Err(self.http.error(Op::Statuses, &target, &repo.to_string(), &a)),
        }
    }

    async fn server_version(&self) -> Result<Option<String>, ForgeError> {
        Ok(None)
    }

    async fn get_issue(&self, repo: &RepoId, number: u64) -> Result<IssueDetails, ForgeError> {
        issues::get(&self.http, repo, number).await
    }

    async fn close_issue(&self, repo: &RepoId, number: u64) -> Result<(), ForgeError> {
        issues::close(&self.http, repo, number).await
    }

    async fn identity(&self) -> Result<String, ForgeError> {
        accounts::identity(&self.http).await
    }

    async fn is_team_member(&self, org: &str, team: &str, login: &str) -> Result<bool, ForgeError> {
        accounts::is_team_member(&self.http, org, team, login).await
    }

    async fn get_environment(&self, repo: &RepoId, name: &str) -> Result<Option<Environment>, ForgeError> {
        environments::get(&self.http, repo, name).await
    }

    async fn put_environment(
        &self,
        repo: &RepoId,
        name: &str,
        config: &EnvironmentConfig,
    ) -> Result<Environment, ForgeError> {
        environments::put(&self.http, repo, name, config).await
    }

    async fn list_branch_policies(
        &self,
        repo: &RepoId,
        env_name: &str,
    ) -> Result<Vec<BranchPolicy>, ForgeError> {
        environments::policies(&self.http, repo, env_name).await
    }

    async fn ensure_branch_policies(
        &self,
        repo: &RepoId,
        env_name: &str,
        policies: &[BranchPolicy],
    ) -> Result<(), ForgeError> {
        environments::ensure_policies(&self.http, repo, env_name, policies).await
    }

    async fn find_reviewer(&self, name: &ReviewerName) -> Result<Reviewer, ForgeError> {
        environments::reviewer(&self.http, name).await
    }

    async fn list_deployments(
        &self,
        repo: &RepoId,
        environment: &str,
        max: usize,
    ) -> Result<Vec<DeploymentInfo>, ForgeError> {
        deployments::list(&self.http, repo, environment, max).await
    }
}
