//! Our own types for what the forges answer; each client maps its JSON onto these.

use std::collections::BTreeMap;

mod environment;
pub use environment::*;

/// An `owner/name` repository.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RepoId {
    /// Owner (user or organisation).
    pub owner: String,
    /// Repository name.
    pub name: String,
}

impl RepoId {
    /// Parses `owner/name`; `None` when either part is missing or holds a `/`.
    pub fn parse(s: &str) -> Option<Self> {
        let (owner, name) = s.trim().split_once('/')?;
        let ok = |p: &str| !p.is_empty() && !p.contains('/') && !p.contains(char::is_whitespace);
        (ok(owner) && ok(name)).then(|| RepoId { owner: owner.to_owned(), name: name.to_owned() })
    }
}

impl std::fmt::Display for RepoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A file read from a repository: decoded text and its git blob sha (the write precondition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// The file's bytes as text.
    pub text: String,
    /// Git blob sha of the content.
    pub sha: String,
}

/// A file write: new content, commit message, branch, and the blob sha it replaces
/// (`None`: the file must not exist yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileWrite {
    /// Path in the repository.
    pub path: String,
    /// Branch to commit to.
    pub branch: String,
    /// New content.
    pub text: String,
    /// Commit message.
    pub message: String,
    /// Blob sha of the version this write replaces; `None` to create.
    pub sha: Option<String>,
}

/// The commit a write made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCommit {
    /// Commit sha.
    pub commit_sha: String,
    /// Blob sha of the new content.
    pub blob_sha: String,
    /// Web URL of the commit, when the forge sends one.
    pub html_url: Option<String>,
}

/// One commit in a path's history (newest first in lists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// Commit sha.
    pub sha: String,
    /// Full commit message.
    pub message: String,
    /// Author date as sent (RFC 3339).
    pub date: String,
    /// Author login, when the forge links one.
    pub author: Option<String>,
}

/// A workflow dispatch: which workflow file, at which ref, with which string inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// Workflow file name (`deploy.yml`) or, on GitHub, its numeric id.
    pub workflow: String,
    /// Branch or tag to run on.
    pub git_ref: String,
    /// Inputs; values are always strings (at most [`MAX_DISPATCH_INPUTS`]).
    pub inputs: BTreeMap<String, String>,
}

/// GitHub refuses more than 25 inputs; Forgejo takes the same limit from us.
pub const MAX_DISPATCH_INPUTS: usize = 25;

/// What a dispatch answered: the run, when the forge returned its details.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dispatched {
    /// Run id, usable with `get_run`.
    pub run_id: Option<u64>,
    /// Web URL of the run.
    pub html_url: Option<String>,
}

/// One state for runs of both forges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Not started (GitHub queued/requested/pending/waiting; Forgejo waiting/blocked).
    Queued,
    /// Running.
    InProgress,
    /// Finished successfully.
    Success,
    /// Finished unsuccessfully (failure, timed out, startup failure, action required).
    Failure,
    /// Cancelled.
    Cancelled,
    /// Skipped (or GitHub neutral/stale).
    Skipped,
}

impl RunState {
    /// The state as the `state` output spells it (`in_progress`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::InProgress => "in_progress",
            RunState::Success => "success",
            RunState::Failure => "failure",
            RunState::Cancelled => "cancelled",
            RunState::Skipped => "skipped",
        }
    }

    /// True once the run will not change any more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunState::Queued | RunState::InProgress)
    }

    /// GitHub's `status` + `conclusion`.
    pub fn from_github(status: Option<&str>, conclusion: Option<&str>) -> Self {
        match status {
            Some("completed") => match conclusion {
                Some("success") => RunState::Success,
                Some("cancelled") => RunState::Cancelled,
                Some("skipped" | "neutral" | "stale") => RunState::Skipped,
                _ => RunState::Failure,
            },
            Some("in_progress") => RunState::InProgress,
            _ => RunState::Queued,
        }
    }

    /// Forgejo's single `status`.
    pub fn from_forgejo(status: &str) -> Self {
        match status {
            "running" => RunState::InProgress,
            "success" => RunState::Success,
            "failure" => RunState::Failure,
            "cancelled" => RunState::Cancelled,
            "skipped" => RunState::Skipped,
            _ => RunState::Queued,
        }
    }
}

/// A workflow run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Run id.
    pub id: u64,
    /// Run number (GitHub `run_number`, Forgejo `index_in_repo`).
    pub number: u64,
    /// Unified state.
    pub state: RunState,
    /// Event that started it.
    pub event: String,
    /// Commit sha (`head_sha` / `commit_sha`).
    pub head_sha: String,
    /// Web URL.
    pub html_url: String,
    /// Creation time (`created_at` / `created`).
    pub created: String,
    /// Title (`display_title` / `title`).
    pub title: String,
}

/// Filters for listing runs; each forge sends what it supports and filters the rest itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Workflow file name.
    pub workflow: String,
    /// Event (`workflow_dispatch`).
    pub event: Option<String>,
    /// Head commit sha.
    pub head_sha: Option<String>,
    /// Most runs to return.
    pub max: usize,
}

/// What a forge can do beyond the common operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `repository_dispatch` events (GitHub only).
    pub repository_dispatch: bool,
    /// Deployments and deployment statuses (GitHub only).
    pub deployments: bool,
    /// Environments with required reviewers (GitHub only).
    pub environments: bool,
}

/// Our deployment states; each forge gets the nearest of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployState {
    /// Waiting to start (or for approval).
    Pending,
    /// Queued.
    Queued,
    /// Deploying.
    InProgress,
    /// Deployed and healthy.
    Success,
    /// The deployment failed (health check, target refused).
    Failure,
    /// The action itself failed.
    Error,
    /// Superseded by a later deployment.
    Inactive,
}

impl DeployState {
    /// Parses a GitHub deployment-status `state`.
    pub fn from_github(state: &str) -> Option<Self> {
        Some(match state {
            "pending" => DeployState::Pending,
            "queued" => DeployState::Queued,
            "in_progress" => DeployState::InProgress,
            "success" => DeployState::Success,
            "failure" => DeployState::Failure,
            "error" => DeployState::Error,
            "inactive" => DeployState::Inactive,
            _ => return None,
        })
    }

    /// The GitHub deployment-status `state`.
    pub fn github_deployment(self) -> &'static str {
        match self {
            DeployState::Pending => "pending",
            DeployState::Queued => "queued",
            DeployState::InProgress => "in_progress",
            DeployState::Success => "success",
            DeployState::Failure => "failure",
            DeployState::Error => "error",
            DeployState::Inactive => "inactive",
        }
    }

    /// The commit-status `state` (GitHub: error/failure/pending/success; Forgejo adds
    /// warning/skipped). Commit statuses cannot say "inactive": GitHub gets `success` (it did
    /// deploy), Forgejo `warning`.
    pub fn commit_status(self, forge: crate::context::ForgeKind) -> &'static str {
        match self {
            DeployState::Pending | DeployState::Queued | DeployState::InProgress => "pending",
            DeployState::Success => "success",
            DeployState::Failure => "failure",
            DeployState::Error => "error",
            DeployState::Inactive if forge == crate::context::ForgeKind::Forgejo => "warning",
            DeployState::Inactive => "success",
        }
    }
}

/// A commit status: the portable deployment record (`deploy/<env>` on the deployed commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus {
    /// Commit sha.
    pub sha: String,
    /// Context, e.g. `deploy/production`.
    pub context: String,
    /// State.
    pub state: DeployState,
    /// One line shown next to the status.
    pub description: String,
    /// Link (the run, or the environment URL).
    pub target_url: Option<String>,
}

/// A deployment to open (GitHub only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentRequest {
    /// Ref or sha deployed.
    pub git_ref: String,
    /// Environment name.
    pub environment: String,
    /// Description.
    pub description: String,
    /// Free-form payload (the tags deployed).
    pub payload: serde_json::Value,
    /// Marks the environment as production.
    pub production: bool,
}

/// A created deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// Deployment id.
    pub id: u64,
    /// The sha GitHub resolved the ref to.
    pub sha: String,
}

/// A deployment status (GitHub only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentStatus {
    /// State.
    pub state: DeployState,
    /// Description.
    pub description: String,
    /// URL of the deployed application.
    pub environment_url: Option<String>,
    /// URL of the logs (the run).
    pub log_url: Option<String>,
}

/// An issue to open (the approval gate's request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIssue {
    /// Title.
    pub title: String,
    /// Markdown body.
    pub body: String,
    /// Label names: sent on GitHub; not sent on Forgejo, which wants label ids.
    pub labels: Vec<String>,
}

/// An issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Issue number (Forgejo: index).
    pub number: u64,
    /// Web URL.
    pub html_url: String,
}

/// An issue comment. There is no `author_association` on Forgejo: check `login` against an
/// allow-list on both forges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Comment id.
    pub id: u64,
    /// Author login.
    pub login: String,
    /// Body.
    pub body: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// Whether an issue is open or closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueState {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// An issue as read back (the approval gate checks it is still open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueDetails {
    /// Issue number (Forgejo: index).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Markdown body (empty when none).
    pub body: String,
    /// Open or closed.
    pub state: IssueState,
    /// Login of whoever opened it.
    pub author: String,
    /// Web URL.
    pub html_url: String,
}

/// A deployment as listed, with its latest status (GitHub).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeploymentInfo {
    /// Deployment id.
    pub id: u64,
    /// Deployed commit sha.
    pub sha: String,
    /// Ref it was created from.
    pub git_ref: String,
    /// Environment name.
    pub environment: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// The payload it was created with (the versions deployed).
    pub payload: serde_json::Value,
    /// Description.
    pub description: String,
    /// Login of whoever created it.
    pub creator: Option<String>,
    /// State of its latest status; `None` when no status was reported.
    pub state: Option<DeployState>,
    /// The run its latest status links (`log_url`), when it names one.
    pub log_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_deployment_states_round_trip() {
        for s in [
            DeployState::Pending,
            DeployState::Queued,
            DeployState::InProgress,
            DeployState::Success,
            DeployState::Failure,
            DeployState::Error,
            DeployState::Inactive,
        ] {
            assert_eq!(DeployState::from_github(s.github_deployment()), Some(s));
        }
        assert_eq!(DeployState::from_github("nonsense"), None);
    }
}
