//! Forgejo (and Gitea for the shared parts) over `/api/v1` with reqwest: `token` auth, POST
//! creates and PUT updates files, workflow dispatch by file name, one run `status`.

use super::error::{ForgeError, Op};
use super::http::{Http, Retry, RetryPolicy};
use super::model::*;
use super::{Forge, accounts, contents, issues, runs_wanted, statuses};
use crate::context::ForgeKind;
use crate::secret::Secret;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

/// A Forgejo API client.
#[derive(Clone, Debug)]
pub struct Forgejo {
    http: Http,
}

impl Forgejo {
    /// A client for `api_url` (`https://host/api/v1`).
    pub fn new(api_url: &str, token: Option<Secret>) -> Result<Self, ForgeError> {
        Ok(Forgejo { http: Http::new(ForgeKind::Forgejo, api_url, token)? })
    }

    /// Replaces the retry policy for transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.http.retry = retry;
        self
    }
}

#[derive(Deserialize)]
struct DispatchAnswer {
    id: u64,
    run_number: Option<u64>,
}

#[derive(Deserialize)]
struct FjRun {
    id: u64,
    #[serde(default)]
    index_in_repo: u64,
    #[serde(default)]
    workflow_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    commit_sha: String,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    created: String,
}

impl From<FjRun> for Run {
    fn from(r: FjRun) -> Run {
        Run {
            id: r.id,
            number: r.index_in_repo,
            state: RunState::from_forgejo(&r.status),
            event: r.event,
            head_sha: r.commit_sha,
            html_url: r.html_url,
            created: r.created,
            title: r.title,
        }
    }
}

#[derive(Deserialize)]
struct FjRuns {
    workflow_runs: Vec<FjRun>,
}

impl Forge for Forgejo {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Forgejo
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { repository_dispatch: false, deployments: false, environments: false }
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
        // POST creates (422 when the file exists), PUT updates and requires the sha.
        let method = if write.sha.is_some() { Method::PUT } else { Method::POST };
        contents::write(&self.http, method, repo, write).await
    }

    async fn list_commits(
        &self,
        repo: &RepoId,
        path: &str,
        branch: &str,
        max: usize,
    ) -> Result<Vec<CommitInfo>, ForgeError> {
        let extra = [("limit", "50"), ("stat", "false"), ("verification", "false"), ("files", "false")];
        contents::commits(&self.http, repo, path, branch, max, &extra).await
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
        let body = json!({ "ref": d.git_ref, "inputs": d.inputs, "return_run_info": true });
        let a = self.http.send(&target, Method::POST, url, Some(&body), Retry::RateLimitOnly).await?;
        match a.status {
            200 | 201 => {
                let r: DispatchAnswer = a.json(ForgeKind::Forgejo, &target)?;
                let html_url =
                    r.run_number.map(|n| format!("{}/{repo}/actions/runs/{n}", self.http.web_base()));
                Ok(Dispatched { run_id: Some(r.id), html_url })
            }
            204 => Ok(Dispatched::default()),
            // An unknown workflow file reads as 500 on some versions: say what it likely means.
            500 => Err(ForgeError::NotFound {
                forge: ForgeKind::Forgejo,
                status: 500,
                target,
                server: super::error::server_message(&a.body, 500),
                fix: format!(
                    "Forgejo answers 500 for an unknown workflow file or ref: {}",
                    super::error::not_found_fix(ForgeKind::Forgejo, Op::DispatchWorkflow, &repo.to_string())
                ),
            }),
            _ => Err(self.http.error(Op::DispatchWorkflow, &target, &repo.to_string(), &a)),
        }
    }

    async fn repository_dispatch(
        &self,
        _: &RepoId,
        event_type: &str,
        _: &serde_json::Value,
    ) -> Result<(), ForgeError> {
        Err(ForgeError::Unsupported {
            forge: ForgeKind::Forgejo,
            what: format!("repository_dispatch (event {event_type:?}): Forgejo has neither the endpoint nor the event"),
            fix: "use a workflow dispatch: trigger the workflow with `on: workflow_dispatch` and pass the values as inputs"
                .to_owned(),
        })
    }

    async fn get_run(&self, repo: &RepoId, id: u64) -> Result<Run, ForgeError> {
        let target = format!("reading run {id} of {repo}");
        let url = self.http.url(&["repos", &repo.owner, &repo.name, "actions", "runs", &id.to_string()]);
        let a = self.http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
        match a.status {
            200 => Ok(a.json::<FjRun>(ForgeKind::Forgejo, &target)?.into()),
            _ => Err(self.http.error(Op::Runs, &target, &repo.to_string(), &a)),
        }
    }

    async fn list_runs(&self, repo: &RepoId, f: &RunFilter) -> Result<Vec<Run>, ForgeError> {
        let target = format!("listing runs of {} in {repo}", f.workflow);
        let mut url = self.http.url(&["repos", &repo.owner, &repo.name, "actions", "runs"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", "50");
            q.append_pair("workflow_id", &f.workflow);
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
                let runs: FjRuns = a.json(ForgeKind::Forgejo, &target)?;
                // v12–v14 ignore workflow_id: filter here too.
                let runs = runs
                    .workflow_runs
                    .into_iter()
                    .filter(|r| r.workflow_id.is_empty() || r.workflow_id == f.workflow);
                Ok(runs_wanted(runs.map(Run::from), f))
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

    async fn create_deployment(&self, _: &RepoId, r: &DeploymentRequest) -> Result<Deployment, ForgeError> {
        Err(no_deployments(&format!("deployments (to {})", r.environment)))
    }

    async fn create_deployment_status(
        &self,
        _: &RepoId,
        _: u64,
        _: &DeploymentStatus,
    ) -> Result<(), ForgeError> {
        Err(no_deployments("deployment statuses"))
    }

    async fn server_version(&self) -> Result<Option<String>, ForgeError> {
        let target = "reading the server version".to_owned();
        let a = self
            .http
            .send(&target, Method::GET, self.http.url(&["version"]), None, Retry::Idempotent)
            .await?;
        match a.status {
            200 => Ok(a.json::<serde_json::Value>(ForgeKind::Forgejo, &target)?["version"]
                .as_str()
                .map(str::to_owned)),
            _ => Err(self.http.error(Op::Runs, &target, "the server", &a)),
        }
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

    async fn get_environment(&self, _: &RepoId, name: &str) -> Result<Option<Environment>, ForgeError> {
        Err(no_environments(&format!("reading environment {name}")))
    }

    async fn put_environment(
        &self,
        _: &RepoId,
        name: &str,
        _: &EnvironmentConfig,
    ) -> Result<Environment, ForgeError> {
        Err(no_environments(&format!("configuring environment {name}")))
    }

    async fn list_branch_policies(
        &self,
        _: &RepoId,
        env_name: &str,
    ) -> Result<Vec<BranchPolicy>, ForgeError> {
        Err(no_environments(&format!("branch and tag policies of environment {env_name}")))
    }

    async fn ensure_branch_policies(
        &self,
        _: &RepoId,
        env_name: &str,
        _: &[BranchPolicy],
    ) -> Result<(), ForgeError> {
        Err(no_environments(&format!("branch and tag policies of environment {env_name}")))
    }

    async fn find_reviewer(&self, name: &ReviewerName) -> Result<Reviewer, ForgeError> {
        Err(no_environments(&format!("environment reviewers ({name})")))
    }

    async fn list_deployments(
        &self,
        _: &RepoId,
        environment: &str,
        _: usize,
    ) -> Result<Vec<DeploymentInfo>, ForgeError> {
        Err(ForgeError::Unsupported {
            forge: ForgeKind::Forgejo,
            what: format!("listing deployments (to {environment}): Forgejo has no deployments API"),
            fix: "what runs where comes from the env file's history (the commits that changed .env.versions)"
                .to_owned(),
        })
    }
}

fn no_environments(what: &str) -> ForgeError {
    ForgeError::Unsupported {
        forge: ForgeKind::Forgejo,
        what: format!("{what}: Forgejo has no environments (no environment API, no required reviewers)"),
        fix: "protect the environment with the action's own approval gate (`approval: issue`, with `approvers`)"
            .to_owned(),
    }
}

fn no_deployments(what: &str) -> ForgeError {
    ForgeError::Unsupported {
        forge: ForgeKind::Forgejo,
        what: format!("{what}: Forgejo has no deployments API"),
        fix: "record the deployment as a commit status (context deploy/<environment>) plus the .env.versions commit"
            .to_owned(),
    }
}
