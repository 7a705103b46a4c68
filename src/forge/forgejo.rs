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
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// A Forgejo API client; the server version is asked once (`GET /version`) and kept.
#[derive(Clone, Debug)]
pub struct Forgejo {
    http: Http,
    version: Arc<OnceCell<Option<ForgejoVersion>>>,
}

/// A Forgejo release as `GET /version` names it (`11.0.3+gitea-1.22.0`), and the features
/// that depend on it (DIFFERENCES.md version matrix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgejoVersion {
    /// Major version (11 for the v11 LTS).
    pub major: u32,
    /// The server's own text.
    pub raw: String,
}

impl ForgejoVersion {
    /// Parses `11.0.3+gitea-1.22.0`, `v12.0.1`, `15.0.0-dev-123-abc+gitea-1.22.0`.
    pub fn parse(raw: &str) -> Option<Self> {
        let major = raw.trim().trim_start_matches('v').split(['.', '+', '-']).next()?.parse().ok()?;
        Some(ForgejoVersion { major, raw: raw.trim().to_owned() })
    }

    /// `GET …/actions/runs*` exists (v12 on).
    pub fn has_runs_api(&self) -> bool {
        self.major >= 12
    }

    /// A boolean dispatch input reads "true" as true (v14 on; v8–v13 take only the web
    /// form's checkbox value "on" as true).
    pub fn reads_true_booleans(&self) -> bool {
        self.major >= 14
    }
}

impl Forgejo {
    /// A client for `api_url` (`https://host/api/v1`).
    pub fn new(api_url: &str, token: Option<Secret>) -> Result<Self, ForgeError> {
        Ok(Forgejo { http: Http::new(ForgeKind::Forgejo, api_url, token)?, version: Arc::default() })
    }

    /// The server's version, asked once; `None` when it cannot be read (then every feature
    /// of the current release is assumed).
    pub async fn detected_version(&self) -> Option<ForgejoVersion> {
        self.version
            .get_or_init(|| async {
                self.server_version().await.ok().flatten().and_then(|v| ForgejoVersion::parse(&v))
            })
            .await
            .clone()
    }

    /// Rewrites boolean inputs the server would misread: on v8–v13 a `type: boolean` input is
    /// true only when its value is "on", so "true" is sent as "on" (only for inputs the
    /// workflow file declares boolean; other values stay as given).
    async fn booleans_as_read(&self, repo: &RepoId, d: &Dispatch) -> BTreeMap<String, String> {
        let mut inputs = d.inputs.clone();
        if !inputs.values().any(|v| v.eq_ignore_ascii_case("true")) {
            return inputs;
        }
        let Some(version) = self.detected_version().await else { return inputs };
        if version.reads_true_booleans() {
            return inputs;
        }
        // Forgejo reads only the first existing workflow directory.
        for dir in [".forgejo/workflows", ".gitea/workflows", ".github/workflows"] {
            let path = format!("{dir}/{}", d.workflow);
            match contents::get(&self.http, repo, &path, Some(&d.git_ref)).await {
                Ok(Some(f)) => {
                    for name in super::workflow::boolean_inputs(&f.text) {
                        if let Some(v) = inputs.get_mut(&name)
                            && v.eq_ignore_ascii_case("true")
                        {
                            *v = "on".to_owned();
                        }
                    }
                    break;
                }
                Ok(None) => continue,
                Err(_) => break,
            }
        }
        inputs
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
        let inputs = self.booleans_as_read(repo, d).await;
        let body = json!({ "ref": d.git_ref, "inputs": inputs, "return_run_info": true });
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

    async fn missing_runs_api(&self) -> Option<String> {
        self.detected_version().await.filter(|v| !v.has_runs_api()).map(|v| format!("Forgejo {}", v.raw))
    }

    fn runs_page(&self, repo: &RepoId, workflow: &str) -> String {
        format!("{}/{repo}/actions?workflow={workflow}", self.http.web_base())
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
