//! The forge API: one [`Forge`] trait for what the action asks of GitHub and Forgejo, with
//! the differences explicit ([`Capabilities`], `Unsupported` errors), not silent no-ops.
//! [`update_env_file`] is the safe, optimistic-concurrency `.env.versions` update.

mod accounts;
pub mod app;
mod contents;
mod deployments;
pub mod dispatch;
mod environments;
pub mod error;
pub mod forgejo;
pub mod github;
pub mod http;
mod issues;
pub mod model;
mod statuses;
mod update;
mod workflow;

pub use error::{ForgeError, Op};
pub use forgejo::Forgejo;
pub use github::GitHub;
pub use http::RetryPolicy;
pub use model::*;
pub use update::{EnvUpdate, UpdateError, update_env_file, update_env_file_if};

use crate::context::{ForgeKind, forge_of_api_url};
use crate::secret::Secret;
use std::future::Future;

/// The operations the action needs from a forge.
pub trait Forge: Sync {
    /// Which forge this is.
    fn kind(&self) -> ForgeKind;

    /// What it supports beyond the common operations.
    fn capabilities(&self) -> Capabilities;

    /// A file's text and blob sha at `git_ref` (branch, tag or commit; default branch when
    /// `None`); `None` when the file does not exist.
    fn get_file(
        &self,
        repo: &RepoId,
        path: &str,
        git_ref: Option<&str>,
    ) -> impl Future<Output = Result<Option<RemoteFile>, ForgeError>> + Send;

    /// Writes a file with its blob sha as precondition; a stale sha is [`ForgeError::Conflict`].
    fn write_file(
        &self,
        repo: &RepoId,
        write: &FileWrite,
    ) -> impl Future<Output = Result<FileCommit, ForgeError>> + Send;

    /// Commits touching `path` on `branch`, newest first, at most `max`.
    fn list_commits(
        &self,
        repo: &RepoId,
        path: &str,
        branch: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<CommitInfo>, ForgeError>> + Send;

    /// Dispatches a workflow (`on: workflow_dispatch`), asking for the run's details.
    fn dispatch_workflow(
        &self,
        repo: &RepoId,
        dispatch: &Dispatch,
    ) -> impl Future<Output = Result<Dispatched, ForgeError>> + Send;

    /// The forge and version when it has no runs API (Forgejo before v12), so runs can be
    /// neither found nor followed; `None` when runs can be read.
    fn missing_runs_api(&self) -> impl Future<Output = Option<String>> + Send {
        async { None }
    }

    /// The web page listing the runs of `workflow` in `repo`.
    fn runs_page(&self, repo: &RepoId, workflow: &str) -> String;

    /// Sends a `repository_dispatch` event (GitHub only; Forgejo answers `Unsupported`).
    fn repository_dispatch(
        &self,
        repo: &RepoId,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// One run.
    fn get_run(&self, repo: &RepoId, id: u64) -> impl Future<Output = Result<Run, ForgeError>> + Send;

    /// Runs of a workflow, newest first.
    fn list_runs(
        &self,
        repo: &RepoId,
        filter: &RunFilter,
    ) -> impl Future<Output = Result<Vec<Run>, ForgeError>> + Send;

    /// Sets a commit status (both forges: the portable deployment record).
    fn create_commit_status(
        &self,
        repo: &RepoId,
        status: &CommitStatus,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Opens a deployment (GitHub; Forgejo answers `Unsupported`: use a commit status).
    fn create_deployment(
        &self,
        repo: &RepoId,
        request: &DeploymentRequest,
    ) -> impl Future<Output = Result<Deployment, ForgeError>> + Send;

    /// Reports a deployment's state (GitHub; Forgejo answers `Unsupported`).
    fn create_deployment_status(
        &self,
        repo: &RepoId,
        id: u64,
        status: &DeploymentStatus,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// The server version when the forge has one to detect features by (Forgejo `/version`).
    fn server_version(&self) -> impl Future<Output = Result<Option<String>, ForgeError>> + Send;

    /// Opens an issue (labels by name on GitHub; not sent on Forgejo, which wants ids).
    fn create_issue(
        &self,
        repo: &RepoId,
        issue: &NewIssue,
    ) -> impl Future<Output = Result<Issue, ForgeError>> + Send;

    /// An issue's comments, oldest first (`since`: RFC 3339); every page.
    fn list_issue_comments(
        &self,
        repo: &RepoId,
        number: u64,
        since: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Comment>, ForgeError>> + Send;

    /// Comments on an issue.
    fn create_issue_comment(
        &self,
        repo: &RepoId,
        number: u64,
        body: &str,
    ) -> impl Future<Output = Result<Comment, ForgeError>> + Send;

    /// One issue (number, title, body, open/closed, author, web URL).
    fn get_issue(
        &self,
        repo: &RepoId,
        number: u64,
    ) -> impl Future<Output = Result<IssueDetails, ForgeError>> + Send;

    /// Closes an issue (`PATCH …/issues/{n}`; closing a closed issue is not an error).
    fn close_issue(&self, repo: &RepoId, number: u64) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// The login the token acts as (`github-actions[bot]`, `forgejo-actions`, a user).
    fn identity(&self) -> impl Future<Output = Result<String, ForgeError>> + Send;

    /// Whether `login` is an active member of team `team` of organisation `org`.
    fn is_team_member(
        &self,
        org: &str,
        team: &str,
        login: &str,
    ) -> impl Future<Output = Result<bool, ForgeError>> + Send;

    /// An environment's protection (GitHub); `None` when it does not exist (GitHub answers the
    /// same 404 for a repository the token cannot see: treat `None` as unprotected). Forgejo
    /// answers `Unsupported`: it has no environments, the action's approval gate stands in.
    fn get_environment(
        &self,
        repo: &RepoId,
        name: &str,
    ) -> impl Future<Output = Result<Option<Environment>, ForgeError>> + Send;

    /// Creates or updates an environment with exactly `config` (GitHub; needs a repository
    /// admin's token); the same call twice changes nothing. Forgejo answers `Unsupported`.
    fn put_environment(
        &self,
        repo: &RepoId,
        name: &str,
        config: &EnvironmentConfig,
    ) -> impl Future<Output = Result<Environment, ForgeError>> + Send;

    /// The branch and tag patterns allowed to deploy to an environment (GitHub).
    fn list_branch_policies(
        &self,
        repo: &RepoId,
        env_name: &str,
    ) -> impl Future<Output = Result<Vec<BranchPolicy>, ForgeError>> + Send;

    /// Adds the policies the environment lacks, keeping the others (GitHub; idempotent). The
    /// environment must use custom branch policies.
    fn ensure_branch_policies(
        &self,
        repo: &RepoId,
        env_name: &str,
        policies: &[BranchPolicy],
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// A reviewer's id from a login or `team:org/slug` (GitHub).
    fn find_reviewer(&self, name: &ReviewerName)
    -> impl Future<Output = Result<Reviewer, ForgeError>> + Send;

    /// Deployments to `environment`, newest first, at most `max`, each with its latest state
    /// (GitHub). Forgejo answers `Unsupported`: what runs where is the env file's history.
    fn list_deployments(
        &self,
        repo: &RepoId,
        environment: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<DeploymentInfo>, ForgeError>> + Send;
}

/// Either client, chosen at run time from the API URL or the runner.
#[derive(Clone, Debug)]
pub enum AnyForge {
    /// GitHub.
    Github(GitHub),
    /// Forgejo.
    Forgejo(Forgejo),
}

impl AnyForge {
    /// A client for `api_url`; the kind is given or told from the URL (`/api/v1` is Forgejo).
    pub fn connect(
        kind: Option<ForgeKind>,
        api_url: &str,
        token: Option<Secret>,
    ) -> Result<Self, ForgeError> {
        Ok(match kind.unwrap_or_else(|| forge_of_api_url(api_url)) {
            ForgeKind::Github => AnyForge::Github(GitHub::new(api_url, token)?),
            ForgeKind::Forgejo => AnyForge::Forgejo(Forgejo::new(api_url, token)?),
        })
    }

    /// Replaces the retry policy for transient failures.
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        match self {
            AnyForge::Github(f) => AnyForge::Github(f.with_retry(retry)),
            AnyForge::Forgejo(f) => AnyForge::Forgejo(f.with_retry(retry)),
        }
    }

    /// Replaces the first wait after a GitHub secondary rate limit (default 60 s).
    pub fn with_secondary_wait(self, wait: std::time::Duration) -> Self {
        match self {
            AnyForge::Github(f) => AnyForge::Github(f.with_secondary_wait(wait)),
            AnyForge::Forgejo(f) => AnyForge::Forgejo(f.with_secondary_wait(wait)),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $f:ident => $e:expr) => {
        match $self {
            AnyForge::Github($f) => $e,
            AnyForge::Forgejo($f) => $e,
        }
    };
}

impl Forge for AnyForge {
    fn kind(&self) -> ForgeKind {
        delegate!(self, f => f.kind())
    }
    fn capabilities(&self) -> Capabilities {
        delegate!(self, f => f.capabilities())
    }
    async fn get_file(
        &self,
        repo: &RepoId,
        path: &str,
        git_ref: Option<&str>,
    ) -> Result<Option<RemoteFile>, ForgeError> {
        delegate!(self, f => f.get_file(repo, path, git_ref).await)
    }
    async fn write_file(&self, repo: &RepoId, write: &FileWrite) -> Result<FileCommit, ForgeError> {
        delegate!(self, f => f.write_file(repo, write).await)
    }
    async fn list_commits(
        &self,
        repo: &RepoId,
        path: &str,
        branch: &str,
        max: usize,
    ) -> Result<Vec<CommitInfo>, ForgeError> {
        delegate!(self, f => f.list_commits(repo, path, branch, max).await)
    }
    async fn dispatch_workflow(&self, repo: &RepoId, dispatch: &Dispatch) -> Result<Dispatched, ForgeError> {
        delegate!(self, f => f.dispatch_workflow(repo, dispatch).await)
    }
    async fn missing_runs_api(&self) -> Option<String> {
        delegate!(self, f => f.missing_runs_api().await)
    }
    fn runs_page(&self, repo: &RepoId, workflow: &str) -> String {
        delegate!(self, f => f.runs_page(repo, workflow))
    }
    async fn repository_dispatch(
        &self,
        repo: &RepoId,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> Result<(), ForgeError> {
        delegate!(self, f => f.repository_dispatch(repo, event_type, payload).await)
    }
    async fn get_run(&self, repo: &RepoId, id: u64) -> Result<Run, ForgeError> {
        delegate!(self, f => f.get_run(repo, id).await)
    }
    async fn list_runs(&self, repo: &RepoId, filter: &RunFilter) -> Result<Vec<Run>, ForgeError> {
        delegate!(self, f => f.list_runs(repo, filter).await)
    }
    async fn create_commit_status(&self, repo: &RepoId, status: &CommitStatus) -> Result<(), ForgeError> {
        delegate!(self, f => f.create_commit_status(repo, status).await)
    }
    async fn create_deployment(
        &self,
        repo: &RepoId,
        request: &DeploymentRequest,
    ) -> Result<Deployment, ForgeError> {
        delegate!(self, f => f.create_deployment(repo, request).await)
    }
    async fn create_deployment_status(
        &self,
        repo: &RepoId,
        id: u64,
        status: &DeploymentStatus,
    ) -> Result<(), ForgeError> {
        delegate!(self, f => f.create_deployment_status(repo, id, status).await)
    }
    async fn server_version(&self) -> Result<Option<String>, ForgeError> {
        delegate!(self, f => f.server_version().await)
    }
    async fn create_issue(&self, repo: &RepoId, issue: &NewIssue) -> Result<Issue, ForgeError> {
        delegate!(self, f => f.create_issue(repo, issue).await)
    }
    async fn list_issue_comments(
        &self,
        repo: &RepoId,
        number: u64,
        since: Option<&str>,
    ) -> Result<Vec<Comment>, ForgeError> {
        delegate!(self, f => f.list_issue_comments(repo, number, since).await)
    }
    async fn create_issue_comment(
        &self,
        repo: &RepoId,
        number: u64,
        body: &str,
    ) -> Result<Comment, ForgeError> {
        delegate!(self, f => f.create_issue_comment(repo, number, body).await)
    }
    async fn get_issue(&self, repo: &RepoId, number: u64) -> Result<IssueDetails, ForgeError> {
        delegate!(self, f => f.get_issue(repo, number).await)
    }
    async fn close_issue(&self, repo: &RepoId, number: u64) -> Result<(), ForgeError> {
        delegate!(self, f => f.close_issue(repo, number).await)
    }
    async fn identity(&self) -> Result<String, ForgeError> {
        delegate!(self, f => f.identity().await)
    }
    async fn is_team_member(&self, org: &str, team: &str, login: &str) -> Result<bool, ForgeError> {
        delegate!(self, f => f.is_team_member(org, team, login).await)
    }
    async fn get_environment(&self, repo: &RepoId, name: &str) -> Result<Option<Environment>, ForgeError> {
        delegate!(self, f => f.get_environment(repo, name).await)
    }
    async fn put_environment(
        &self,
        repo: &RepoId,
        name: &str,
        config: &EnvironmentConfig,
    ) -> Result<Environment, ForgeError> {
        delegate!(self, f => f.put_environment(repo, name, config).await)
    }
    async fn list_branch_policies(
        &self,
        repo: &RepoId,
        env_name: &str,
    ) -> Result<Vec<BranchPolicy>, ForgeError> {
        delegate!(self, f => f.list_branch_policies(repo, env_name).await)
    }
    async fn ensure_branch_policies(
        &self,
        repo: &RepoId,
        env_name: &str,
        policies: &[BranchPolicy],
    ) -> Result<(), ForgeError> {
        delegate!(self, f => f.ensure_branch_policies(repo, env_name, policies).await)
    }
    async fn find_reviewer(&self, name: &ReviewerName) -> Result<Reviewer, ForgeError> {
        delegate!(self, f => f.find_reviewer(name).await)
    }
    async fn list_deployments(
        &self,
        repo: &RepoId,
        environment: &str,
        max: usize,
    ) -> Result<Vec<DeploymentInfo>, ForgeError> {
        delegate!(self, f => f.list_deployments(repo, environment, max).await)
    }
}

/// Refuses a dispatch with too many inputs before anything is sent.
fn check_inputs(d: &Dispatch) -> Result<(), ForgeError> {
    if d.inputs.len() > MAX_DISPATCH_INPUTS {
        return Err(ForgeError::TooManyInputs { count: d.inputs.len(), max: MAX_DISPATCH_INPUTS });
    }
    Ok(())
}

/// Applies the client-side part of a run filter (event, sha, count).
fn runs_wanted(runs: impl Iterator<Item = Run>, f: &RunFilter) -> Vec<Run> {
    let max = if f.max == 0 { usize::MAX } else { f.max };
    runs.filter(|r| f.event.as_ref().is_none_or(|e| &r.event == e))
        .filter(|r| f.head_sha.as_ref().is_none_or(|s| &r.head_sha == s))
        .take(max)
        .collect()
}
