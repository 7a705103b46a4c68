//! The approval gate for environments the forge cannot protect (Forgejo; GitHub plans without
//! required reviewers): an issue that names what goes where, `/approve` or `/deny` from an
//! allow-listed login, a timeout; then the issue is closed with the outcome.

use super::target::ServiceChange;
use crate::forge::{Comment, Forge, ForgeError, Issue, NewIssue, RepoId};
use base64::Engine as _;
use std::time::{Duration, Instant};

/// Marker of the machine-readable release plan in an approval issue's body.
const PLAN_MARKER: &str = "<!-- deploy-action:plan ";

/// Who may approve, and whether the actor who started the release may.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// Logins allowed to approve (compared case-insensitively).
    pub approvers: Vec<String>,
    /// The login that triggered the release.
    pub actor: String,
    /// Whether `actor` may approve their own release.
    pub allow_self: bool,
}

/// What the comments decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An approver said `/approve`.
    Approved {
        /// Who.
        by: String,
    },
    /// An approver said `/deny`.
    Denied {
        /// Who.
        by: String,
        /// The rest of the comment's first line (the reason), if any.
        reason: String,
    },
    /// No decision yet.
    Pending,
}

/// A comment that looked like a decision but did not count, and why (for the job log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// Who wrote it.
    pub login: String,
    /// Why it does not count.
    pub why: String,
}

impl ApprovalPolicy {
    /// Why `login` may not decide, or `None` when they may.
    pub fn refuses(&self, login: &str) -> Option<String> {
        if login.eq_ignore_ascii_case(&self.actor) && !self.allow_self {
            return Some(format!("{login} triggered this release and may not approve it"));
        }
        if !self.approvers.iter().any(|a| a.eq_ignore_ascii_case(login)) {
            return Some(format!("{login} is not an approver ({})", self.approvers.join(", ")));
        }
        None
    }

    /// The first decision among `comments` (oldest first), and the decisions that did not count.
    pub fn decide(&self, comments: &[Comment]) -> (Decision, Vec<Ignored>) {
        let mut ignored = Vec::new();
        for c in comments {
            let Some(command) = command_of(&c.body) else { continue };
            if let Some(why) = self.refuses(&c.login) {
                ignored.push(Ignored { login: c.login.clone(), why });
                continue;
            }
            let decision = match command {
                Command::Approve => Decision::Approved { by: c.login.clone() },
                Command::Deny(reason) => Decision::Denied { by: c.login.clone(), reason },
            };
            return (decision, ignored);
        }
        (Decision::Pending, ignored)
    }
}

enum Command {
    Approve,
    Deny(String),
}

/// `/approve` or `/deny [reason]` at the start of a comment's first line.
fn command_of(body: &str) -> Option<Command> {
    let first = body.trim_start().lines().next().unwrap_or_default().trim();
    let (word, rest) = first.split_once(char::is_whitespace).unwrap_or((first, ""));
    match word.to_ascii_lowercase().as_str() {
        "/approve" | "/approved" | "/lgtm" => Some(Command::Approve),
        "/deny" | "/denied" | "/reject" => Some(Command::Deny(rest.trim().to_owned())),
        _ => None,
    }
}

/// What an approval issue asks for: enough to continue the release from it (`approve`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingRelease {
    /// Environment to deploy to.
    pub environment: String,
    /// The services and their old → new tags.
    pub changes: Vec<PlannedChange>,
    /// Who triggered the release.
    pub actor: String,
    /// The run that asked.
    pub run_url: String,
    /// The command that asked (`release`, `rollback`, `promote`).
    pub command: String,
}

/// One service of a [`PendingRelease`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedChange {
    /// Service name.
    pub service: String,
    /// Tag before.
    pub old: Option<String>,
    /// Tag requested.
    pub new: String,
    /// Image repository, when known.
    pub image: Option<String>,
    /// Digest the requested tag had when the issue was opened.
    pub digest: Option<String>,
}

impl PlannedChange {
    /// From a service change and the digest its tag resolved to.
    pub fn new(c: &ServiceChange, digest: Option<String>) -> Self {
        PlannedChange {
            service: c.service.clone(),
            old: c.old.clone(),
            new: c.new.clone(),
            image: c.image.clone(),
            digest,
        }
    }
}

impl PendingRelease {
    /// The issue's title.
    pub fn title(&self) -> String {
        let parts: Vec<String> = self.changes.iter().map(|c| format!("{} {}", c.service, c.new)).collect();
        format!("Approve {} to {}: {}", self.command, self.environment, parts.join(", "))
    }

    /// The issue's body: a table of what goes where, how to decide, and the plan itself.
    pub fn body(&self, approvers: &[String]) -> String {
        let mut b = format!(
            "**{}** asks to {} to **{}** ([run]({})).\n\n| service | running | requested | digest |\n|---|---|---|---|\n",
            self.actor, self.command, self.environment, self.run_url
        );
        for c in &self.changes {
            let image = c.image.as_deref().map(|i| format!("{i}:")).unwrap_or_default();
            b.push_str(&format!(
                "| {} | `{}` | `{image}{}` | `{}` |\n",
                c.service,
                c.old.as_deref().unwrap_or("—"),
                c.new,
                c.digest.as_deref().unwrap_or("—")
            ));
        }
        let who = approvers.iter().map(|a| format!("@{a}")).collect::<Vec<_>>().join(", ");
        b.push_str(&format!(
            "\nComment `/approve` to deploy or `/deny <reason>` to refuse. Approvers: {who}.\n\n"
        ));
        let json = serde_json::to_vec(self).unwrap_or_default();
        b.push_str(&format!("{PLAN_MARKER}{} -->\n", base64::engine::general_purpose::STANDARD.encode(json)));
        b
    }

    /// The plan embedded in an approval issue's body, if any.
    pub fn from_body(body: &str) -> Option<Self> {
        let start = body.find(PLAN_MARKER)? + PLAN_MARKER.len();
        let end = start + body[start..].find(" -->")?;
        let json = base64::engine::general_purpose::STANDARD.decode(body[start..end].trim()).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// How long to wait and how often to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// Give up after this long.
    pub timeout: Duration,
    /// Time between reads of the comments.
    pub interval: Duration,
}

/// Why waiting failed.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// Nobody decided in time.
    #[error("no approver answered {url} within {secs} s")]
    TimedOut {
        /// The issue.
        url: String,
        /// Seconds waited.
        secs: u64,
    },
    /// The forge failed.
    #[error(transparent)]
    Forge(#[from] ForgeError),
}

/// Opens the approval issue for `pending`.
pub async fn open<F: Forge>(
    forge: &F,
    repo: &RepoId,
    pending: &PendingRelease,
    approvers: &[String],
) -> Result<Issue, ForgeError> {
    let issue = NewIssue {
        title: pending.title(),
        body: pending.body(approvers),
        labels: vec!["deploy-approval".into()],
    };
    forge.create_issue(repo, &issue).await
}

/// Polls the issue's comments until an approver decides or the timeout passes.
pub async fn wait<F: Forge>(
    forge: &F,
    repo: &RepoId,
    issue: &Issue,
    policy: &ApprovalPolicy,
    waiting: Waiting,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Decision, ApprovalError> {
    let start = Instant::now();
    let mut reported = 0;
    loop {
        let comments = forge.list_issue_comments(repo, issue.number, None).await?;
        let (decision, ignored) = policy.decide(&comments);
        for i in ignored.iter().skip(reported) {
            progress(&format!("ignored a decision by {}: {}", i.login, i.why));
        }
        reported = reported.max(ignored.len());
        if decision != Decision::Pending {
            return Ok(decision);
        }
        if start.elapsed() + waiting.interval > waiting.timeout {
            return Err(ApprovalError::TimedOut {
                url: issue.html_url.clone(),
                secs: start.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(waiting.interval).await;
    }
}

/// The outcome comment of an approval: `Approved by @login; deploying ([run](url)).`
pub fn approved_note(by: &str, run_url: &str) -> String {
    format!("{APPROVED}{by}; deploying ([run]({run_url})).")
}

/// The outcome comment of a denial; `why` (` (reason)` or empty) follows the login.
pub fn denied_note(by: &str, why: &str) -> String {
    format!("{DENIED}{by}{why}; nothing was deployed.")
}

const APPROVED: &str = "Approved by @";
const DENIED: &str = "Denied by @";

/// Comments the outcome on the approval issue and closes it; the comment posted.
pub async fn conclude<F: Forge>(
    forge: &F,
    repo: &RepoId,
    issue: &Issue,
    outcome: &str,
) -> Result<Comment, ForgeError> {
    let comment = forge.create_issue_comment(repo, issue.number, outcome).await?;
    forge.close_issue(repo, issue.number).await?;
    Ok(comment)
}

/// As [`conclude`], then whether this outcome is the issue's first decision: two `approve`
/// runs that both found the issue open both comment, and only the one whose decision comment
/// came first (lowest id among the action's own [`approved_note`]/[`denied_note`] comments)
/// goes on. A failed read of the comments counts as first (the issue was open when checked).
pub async fn conclude_first<F: Forge>(
    forge: &F,
    repo: &RepoId,
    issue: &Issue,
    outcome: &str,
) -> Result<bool, ForgeError> {
    let mine = conclude(forge, repo, issue, outcome).await?;
    let Ok(comments) = forge.list_issue_comments(repo, issue.number, None).await else { return Ok(true) };
    let is_decision = |body: &str| body.starts_with(APPROVED) || body.starts_with(DENIED);
    let first = comments.iter().filter(|c| c.login == mine.login && is_decision(&c.body)).map(|c| c.id).min();
    Ok(first.is_none_or(|id| id == mine.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(login: &str, body: &str) -> Comment {
        Comment { id: 1, login: login.into(), body: body.into(), created_at: String::new() }
    }

    fn policy() -> ApprovalPolicy {
        ApprovalPolicy {
            approvers: vec!["Carol".into(), "alice".into()],
            actor: "alice".into(),
            allow_self: false,
        }
    }

    #[test]
    fn only_approvers_other_than_the_actor_decide() {
        let comments = [
            comment("mallory", "/approve"),
            comment("alice", "/approve"),
            comment("carol", "looks fine"),
            comment("carol", "  /APPROVE please"),
        ];
        let (d, ignored) = policy().decide(&comments);
        assert_eq!(d, Decision::Approved { by: "carol".into() });
        assert_eq!(ignored.len(), 2);
        assert!(ignored[0].why.contains("not an approver"));
        assert!(ignored[1].why.contains("triggered"));
    }

    #[test]
    fn deny_carries_the_reason_and_pending_without_commands() {
        let (d, _) = policy().decide(&[comment("carol", "/deny health is red\nmore")]);
        assert_eq!(d, Decision::Denied { by: "carol".into(), reason: "health is red".into() });
        assert_eq!(policy().decide(&[comment("carol", "approve?")]).0, Decision::Pending);
        let mut p = policy();
        p.allow_self = true;
        assert_eq!(p.decide(&[comment("alice", "/approve")]).0, Decision::Approved { by: "alice".into() });
    }

    #[test]
    fn the_plan_round_trips_through_the_issue_body() {
        let pending = PendingRelease {
            environment: "production".into(),
            changes: vec![PlannedChange {
                service: "api".into(),
                old: Some("v1.0.0".into()),
                new: "v1.1.0".into(),
                image: Some("ghcr.io/org/api".into()),
                digest: Some("sha256:abc".into()),
            }],
            actor: "alice".into(),
            run_url: "https://github.com/org/deploy/actions/runs/1".into(),
            command: "release".into(),
        };
        let body = pending.body(&["carol".into()]);
        assert!(body.contains("| api | `v1.0.0` | `ghcr.io/org/api:v1.1.0` |"), "{body}");
        assert!(body.contains("@carol"));
        assert_eq!(PendingRelease::from_body(&body), Some(pending.clone()));
        assert!(pending.title().contains("production: api v1.1.0"));
        assert_eq!(PendingRelease::from_body("no plan"), None);
    }
}
