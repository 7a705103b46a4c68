//! What went wrong talking to a forge, phrased so the user knows the fix. Server messages are
//! kept (truncated, secrets redacted); tokens never appear.

use crate::context::ForgeKind;
use std::time::Duration;

/// The operation that failed; it picks the fix a message suggests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Reading a file.
    GetFile,
    /// Creating or updating a file.
    WriteFile,
    /// Listing commits of a path.
    ListCommits,
    /// Dispatching a workflow.
    DispatchWorkflow,
    /// Sending a `repository_dispatch` event.
    RepositoryDispatch,
    /// Reading or listing runs.
    Runs,
    /// Commit statuses, deployments and their statuses.
    Statuses,
    /// Opening, commenting on or closing issues.
    Issues,
    /// Reading issues and comments.
    ReadIssues,
    /// Reading an environment or its branch policies (GitHub).
    ReadEnvironment,
    /// Creating or updating an environment or its branch policies (GitHub).
    ConfigureEnvironment,
    /// Listing deployments and their statuses (GitHub).
    ListDeployments,
    /// Looking up a reviewer: a user or an organisation team (GitHub).
    Reviewers,
    /// Asking who the token acts as.
    Identity,
    /// Asking whether a login is in an organisation's team (approver teams).
    Teams,
}

/// An error from a forge API call.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// 401: the token is missing, malformed, expired or revoked.
    #[error(
        "{forge} rejected the token (401) while {target}: {server}. Fix: set a valid token; the secret may be empty, expired or revoked"
    )]
    Unauthorized {
        /// Which forge.
        forge: ForgeKind,
        /// What was being done (`dispatching deploy.yml on org/ops`).
        target: String,
        /// The server's message.
        server: String,
    },
    /// 401/403/404 on a request sent without a token.
    #[error(
        "{forge} answered {status} while {target}, and no token was given: {server}. Fix: pass a token (the `token` input) that can access {repo}"
    )]
    NoToken {
        /// Which forge.
        forge: ForgeKind,
        /// HTTP status.
        status: u16,
        /// What was being done.
        target: String,
        /// The repository.
        repo: String,
        /// The server's message.
        server: String,
    },
    /// 403 (not a rate limit): the token lacks a permission.
    #[error("{forge} refused the token (403) while {target}: {server}. Fix: {fix}")]
    Forbidden {
        /// Which forge.
        forge: ForgeKind,
        /// What was being done.
        target: String,
        /// The server's message.
        server: String,
        /// The permission to grant.
        fix: String,
    },
    /// 404: the repository, file, branch or workflow does not exist or is not visible.
    #[error("{forge} answered {status} (not found or not visible) while {target}: {server}. Fix: {fix}")]
    NotFound {
        /// Which forge.
        forge: ForgeKind,
        /// HTTP status (404; Forgejo answers 500 for an unknown workflow file).
        status: u16,
        /// What was being done.
        target: String,
        /// The server's message.
        server: String,
        /// What to check.
        fix: String,
    },
    /// 400/422: the request was refused as invalid (undeclared input, unknown ref, …).
    #[error("{forge} refused the request as invalid ({status}) while {target}: {server}. Fix: {fix}")]
    Invalid {
        /// Which forge.
        forge: ForgeKind,
        /// HTTP status.
        status: u16,
        /// What was being done.
        target: String,
        /// The server's message (with GitHub's `errors[]`).
        server: String,
        /// What to check.
        fix: String,
    },
    /// 409 (or a create that found the file): the file changed since it was read.
    #[error("{forge}: {path} changed since it was read (stale blob sha): {server}")]
    Conflict {
        /// Which forge.
        forge: ForgeKind,
        /// The file.
        path: String,
        /// The server's message.
        server: String,
    },
    /// 409 for a ruleset or branch protection (GitHub): retrying cannot help.
    #[error(
        "{forge} refused the write of {path} on {branch}: a ruleset or branch protection forbids it ({rule}); nothing was written and retrying cannot help. Fix: let the bot bypass the rule: add the identity the token acts as (the GitHub App of an App token, or the role of the PAT's user) to the ruleset's bypass list (Settings → Rules → Rulesets → Bypass list), or under classic branch protection allow it to push / bypass; `GITHUB_TOKEN` cannot be put on a bypass list, so use an App token or PAT that can; or record to a branch no rule covers (the `branch` input)"
    )]
    RuleRefused {
        /// Which forge.
        forge: ForgeKind,
        /// The file.
        path: String,
        /// The protected branch.
        branch: String,
        /// The rule(s) the server named.
        rule: String,
    },
    /// 429, or 403 with rate-limit headers, still refused after waiting.
    #[error("{forge} rate-limited the token while {target} (status {status}{}): {server}. Fix: wait, or use a token with a higher limit", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Which forge.
        forge: ForgeKind,
        /// HTTP status.
        status: u16,
        /// What was being done.
        target: String,
        /// The wait the server asked for.
        retry_after: Option<Duration>,
        /// The server's message.
        server: String,
    },
    /// 5xx or another unexpected status.
    #[error("{forge} failed with HTTP {status} while {target}: {server}")]
    Server {
        /// Which forge.
        forge: ForgeKind,
        /// HTTP status.
        status: u16,
        /// What was being done.
        target: String,
        /// The server's message (Forgejo blanks 500 messages for non-admins).
        server: String,
    },
    /// The connection failed or was dropped.
    #[error("could not reach {forge} while {target}: {reason}")]
    Transport {
        /// Which forge.
        forge: ForgeKind,
        /// What was being done.
        target: String,
        /// What the HTTP client reported.
        reason: String,
    },
    /// The answer did not have the expected shape.
    #[error("unexpected answer from {forge} while {target}: {reason}")]
    Protocol {
        /// Which forge.
        forge: ForgeKind,
        /// What was being done.
        target: String,
        /// What was wrong.
        reason: String,
    },
    /// The forge answered but did not do it (GitHub deployments: 202 auto-merge, 409 checks).
    #[error("{forge} did not {target} (HTTP {status}): {server}. Fix: {fix}")]
    Refused {
        /// Which forge.
        forge: ForgeKind,
        /// HTTP status.
        status: u16,
        /// What was asked.
        target: String,
        /// The server's message.
        server: String,
        /// What to do.
        fix: String,
    },
    /// The forge has no such operation.
    #[error("{forge} does not support {what}. Fix: {fix}")]
    Unsupported {
        /// Which forge.
        forge: ForgeKind,
        /// The missing feature.
        what: String,
        /// What to use instead.
        fix: String,
    },
    /// An environment configuration with more required reviewers than GitHub takes; nothing
    /// was sent.
    #[error(
        "a GitHub environment takes at most {max} reviewers, {count} were given; nothing was sent. Fix: name fewer reviewers (a team counts as one)"
    )]
    TooManyReviewers {
        /// Reviewers given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A dispatch with more inputs than the forge accepts; nothing was sent.
    #[error(
        "a workflow dispatch takes at most {max} inputs, {count} were given; nothing was sent. Fix: pass fewer inputs (combine values, e.g. a `versions` map)"
    )]
    TooManyInputs {
        /// Inputs given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl ForgeError {
    /// True for errors after which a fresh read and another write may succeed: a stale sha,
    /// a 5xx (Forgejo answers 500 when a commit races its internal push), a dropped connection.
    pub fn is_retryable_write(&self) -> bool {
        match self {
            ForgeError::Conflict { .. } | ForgeError::Transport { .. } => true,
            ForgeError::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Turns a failed answer into an error with the fix for this forge and operation.
pub fn classify(forge: ForgeKind, op: Op, target: &str, repo: &str, status: u16, body: &str) -> ForgeError {
    let server = server_message(body, status);
    let target = target.to_owned();
    match status {
        401 => ForgeError::Unauthorized { forge, target, server },
        403 => ForgeError::Forbidden { forge, target, server, fix: forbidden_fix(forge, op, repo) },
        404 => ForgeError::NotFound { forge, status, target, server, fix: not_found_fix(forge, op, repo) },
        400 | 422 => ForgeError::Invalid { forge, status, target, server, fix: invalid_fix(op) },
        _ => ForgeError::Server { forge, status, target, server },
    }
}

fn forbidden_fix(forge: ForgeKind, op: Op, repo: &str) -> String {
    let write = matches!(op, Op::WriteFile | Op::DispatchWorkflow | Op::RepositoryDispatch);
    match forge {
        ForgeKind::Forgejo if op == Op::Issues => {
            format!("use a token with the write:issue scope that can see {repo}")
        }
        ForgeKind::Forgejo if op == Op::Teams => format!(
            "use a token with the read:organization scope from an owner of the organisation or a member of the team; \
             the automatic job token is no organisation member and cannot read teams (approvers of {repo})"
        ),
        ForgeKind::Forgejo if op == Op::ReadIssues => {
            format!("use a token with the read:issue scope that can see {repo}")
        }
        ForgeKind::Forgejo if write => format!(
            "use a personal access token with the write:repository scope, from a user with write access to {repo} \
             (and to its Actions unit for dispatch); the automatic job token can only write to its own repository"
        ),
        ForgeKind::Forgejo => format!("use a token with the read:repository scope that can see {repo}"),
        ForgeKind::Github => {
            let perm = match op {
                Op::DispatchWorkflow => "Actions: write (classic token: repo and workflow scopes)",
                Op::WriteFile | Op::RepositoryDispatch => "Contents: write (classic token: repo scope)",
                Op::Runs => "Actions: read",
                Op::Statuses => "Commit statuses: write and Deployments: write",
                Op::Issues => "Issues: write",
                Op::ReadIssues => "Issues: read",
                Op::ReadEnvironment => "Actions: read (classic token: repo scope)",
                Op::ConfigureEnvironment => {
                    "Administration: write (classic token: repo scope, from a repository admin)"
                }
                Op::ListDeployments => "Deployments: read",
                Op::Reviewers => "organization Members: read (to look up teams)",
                Op::Teams => {
                    "organization Members: read (a GitHub App token or a PAT with read:org; a workflow's GITHUB_TOKEN cannot read teams)"
                }
                Op::Identity => "any permission (GET /user or GraphQL viewer)",
                Op::GetFile | Op::ListCommits => "Contents: read",
            };
            format!(
                "give the token {perm} on {repo}; a workflow's GITHUB_TOKEN cannot write to another repository"
            )
        }
    }
}

/// What to check after a 404 for `op`.
pub(crate) fn not_found_fix(forge: ForgeKind, op: Op, repo: &str) -> String {
    let visible =
        format!("check that {repo} exists and that the token can see it (private repositories answer 404)");
    match (op, forge) {
        (Op::DispatchWorkflow, ForgeKind::Forgejo) => format!(
            "check the workflow file name and ref; Forgejo reads workflows only from the first existing directory of \
             .forgejo/workflows, .gitea/workflows and .github/workflows (a .forgejo/workflows folder hides \
             .github/workflows); and {visible}"
        ),
        (Op::DispatchWorkflow, ForgeKind::Github) => {
            format!(
                "check the workflow file name (under .github/workflows on the default branch) and {visible}"
            )
        }
        (Op::WriteFile | Op::GetFile | Op::ListCommits, _) => {
            format!("check the branch and path, and {visible}")
        }
        (Op::Issues | Op::ReadIssues, _) => format!("check the issue number, and {visible}"),
        (Op::ConfigureEnvironment, _) => format!(
            "branch and tag policies need the environment's deployment_branch_policy set to custom branch \
             policies first; configuring environments needs a repository admin's token; and {visible}"
        ),
        (Op::Teams, _) => format!(
            "check the organisation and team of the approvers of {repo}, and that the token can see the team"
        ),
        (Op::Reviewers, _) => {
            "check the reviewer: a user login, or team:org/slug for a team the token can see".to_owned()
        }
        (Op::Runs, ForgeKind::Forgejo) => format!(
            "check the run id; Forgejo before v12 has no runs API (see GET /api/v1/version), so dispatch without \
             waiting there; and {visible}"
        ),
        _ => visible,
    }
}

fn invalid_fix(op: Op) -> String {
    match op {
        Op::DispatchWorkflow => {
            "declare every input under on.workflow_dispatch.inputs in the workflow, send only \
                                 declared inputs, and use an existing branch or tag as ref"
                .to_owned()
        }
        Op::WriteFile => "check the branch exists and the content is valid".to_owned(),
        Op::ConfigureEnvironment => format!(
            "at most {} reviewers, a wait timer of 0 to 43200 minutes, and not both protected branches and \
             custom branch policies",
            super::model::MAX_REVIEWERS
        ),
        _ => "check the parameters".to_owned(),
    }
}

/// The server's message from a GitHub (`{message, errors[]}`) or Forgejo (`{message, url,
/// errors[]}`) body, or the body itself; redacted and truncated.
pub fn server_message(body: &str, status: u16) -> String {
    let mut msg = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => {
            let mut m = v.get("message").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
            if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
                let parts: Vec<String> = errors
                    .iter()
                    .map(|e| match e {
                        serde_json::Value::String(s) => s.clone(),
                        other => other
                            .get("message")
                            .and_then(|m| m.as_str())
                            .map(str::to_owned)
                            .unwrap_or_else(|| other.to_string()),
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                if !parts.is_empty() {
                    m = format!("{m} ({})", parts.join("; "));
                }
            }
            m
        }
        Err(_) => body.trim().to_owned(),
    };
    if msg.trim().is_empty() {
        msg = format!("HTTP {status} with no message");
    }
    if msg.len() > 400 {
        let cut = (0..=400).rev().find(|&i| msg.is_char_boundary(i)).unwrap_or(0);
        msg.truncate(cut);
        msg.push('…');
    }
    crate::secret::redact(&msg)
}
