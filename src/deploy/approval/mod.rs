//! The approval gate for environments the forge cannot protect (Forgejo; GitHub plans without
//! required reviewers): an issue that names what goes where, `/approve` or `/deny` from an
//! allow-listed login, a timeout; then the issue is closed with the outcome.

mod request;
mod review;

pub use request::{ApprovalKey, Expected, Forged, PendingRelease, PlannedChange};
pub use review::{Review, ReviewRequest, review};

use crate::forge::{Comment, Forge, ForgeError, Issue, NewIssue, RepoId};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Someone who may approve: a login, or every member of an organisation's team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approver {
    /// A login (compared case-insensitively).
    Login(String),
    /// Members of team `slug` of organisation `org` (`org/team` or `@org/team`), asked of the forge.
    Team {
        /// Organisation.
        org: String,
        /// Team slug (GitHub) or name (Forgejo).
        slug: String,
    },
}

impl Approver {
    /// `login`, `@login`, `org/team` or `@org/team`; `None` when malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().trim_start_matches('@');
        let ok = |p: &str| {
            !p.is_empty()
                && !p.starts_with('-')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        match s.split_once('/') {
            Some((org, slug)) => {
                (ok(org) && ok(slug)).then(|| Approver::Team { org: org.into(), slug: slug.into() })
            }
            None if s.ends_with("[bot]") => {
                ok(s.trim_end_matches("[bot]")).then(|| Approver::Login(s.into()))
            }
            None => ok(s).then(|| Approver::Login(s.into())),
        }
    }
}

impl std::fmt::Display for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Approver::Login(l) => f.write_str(l),
            Approver::Team { org, slug } => write!(f, "{org}/{slug}"),
        }
    }
}

/// Who may approve, how many must, and whether the actor who started the release may.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// Logins and teams allowed to approve.
    pub approvers: Vec<Approver>,
    /// The login that triggered the release.
    pub actor: String,
    /// Whether `actor` may approve their own release.
    pub allow_self: bool,
    /// Distinct approvers needed (at least 1).
    pub required: u32,
}

/// What the comments decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Enough distinct approvers said `/approve`.
    Approved {
        /// Who, in the order they approved.
        by: Vec<String>,
    },
    /// An approver said `/deny` before enough approved.
    Denied {
        /// Who.
        by: String,
        /// The rest of the comment's first line (the reason), if any.
        reason: String,
    },
    /// Not decided yet.
    Pending {
        /// The approvals so far.
        approved_by: Vec<String>,
    },
}

/// A comment that looked like a decision but did not count, and why (for the job log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// Which comment.
    pub comment: u64,
    /// Who wrote it.
    pub login: String,
    /// Why it does not count.
    pub why: String,
}

impl ApprovalPolicy {
    /// Distinct approvals needed.
    pub fn required(&self) -> u32 {
        self.required.max(1)
    }

    /// The listed approvers, for the issue text and messages.
    pub fn names(&self) -> Vec<String> {
        self.approvers.iter().map(Approver::to_string).collect()
    }

    /// The teams to ask about.
    pub fn teams(&self) -> impl Iterator<Item = (&str, &str)> {
        self.approvers.iter().filter_map(|a| match a {
            Approver::Team { org, slug } => Some((org.as_str(), slug.as_str())),
            Approver::Login(_) => None,
        })
    }

    fn self_refusal(&self, login: &str) -> Option<String> {
        (login.eq_ignore_ascii_case(&self.actor) && !self.allow_self)
            .then(|| format!("{login} triggered this release and may not approve it"))
    }

    fn listed(&self, login: &str) -> bool {
        self.approvers.iter().any(|a| matches!(a, Approver::Login(l) if l.eq_ignore_ascii_case(login)))
    }

    /// Why `login` may not decide, or `None` when they may; `members` holds the logins
    /// (lower case) found in one of the approver teams.
    pub fn refuses(&self, login: &str, members: &BTreeSet<String>) -> Option<String> {
        if let Some(why) = self.self_refusal(login) {
            return Some(why);
        }
        if self.listed(login) || members.contains(&login.to_ascii_lowercase()) {
            return None;
        }
        Some(format!("{login} is not an approver ({})", self.names().join(", ")))
    }

    /// Commenters with a decision whose team membership must be asked of the forge: not
    /// listed by login, not refused as the actor, and only when teams are approvers.
    pub fn to_ask(&self, comments: &[Comment]) -> Vec<String> {
        if self.teams().next().is_none() {
            return Vec::new();
        }
        let mut out: Vec<String> = comments
            .iter()
            .filter(|c| command_of(&c.body).is_some())
            .map(|c| c.login.to_ascii_lowercase())
            .filter(|l| !self.listed(l) && self.self_refusal(l).is_none())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The decision of `comments` (oldest first): approved once `required` distinct
    /// approvers said `/approve`, denied by the first `/deny` before that; and the decisions
    /// that did not count.
    pub fn decide(&self, comments: &[Comment], members: &BTreeSet<String>) -> (Decision, Vec<Ignored>) {
        let mut ignored = Vec::new();
        let mut approved_by: Vec<String> = Vec::new();
        for c in comments {
            let Some(command) = command_of(&c.body) else { continue };
            if let Some(why) = self.refuses(&c.login, members) {
                ignored.push(Ignored { comment: c.id, login: c.login.clone(), why });
                continue;
            }
            match command {
                Command::Approve => {
                    if !approved_by.iter().any(|a| a.eq_ignore_ascii_case(&c.login)) {
                        approved_by.push(c.login.clone());
                    }
                    if approved_by.len() >= self.required() as usize {
                        return (Decision::Approved { by: approved_by }, ignored);
                    }
                }
                Command::Deny(reason) => {
                    return (Decision::Denied { by: c.login.clone(), reason }, ignored);
                }
            }
        }
        (Decision::Pending { approved_by }, ignored)
    }
}

/// The logins among `logins` that are members of one of the policy's teams (asked of the forge).
pub async fn team_members<F: Forge>(
    forge: &F,
    policy: &ApprovalPolicy,
    logins: &[String],
    known: &mut BTreeSet<String>,
    asked: &mut BTreeSet<String>,
) -> Result<(), ForgeError> {
    for login in logins {
        if !asked.insert(login.clone()) {
            continue;
        }
        for (org, slug) in policy.teams() {
            if forge.is_team_member(org, slug, login).await? {
                known.insert(login.clone());
                break;
            }
        }
    }
    Ok(())
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

/// Opens the approval issue for `pending`, signed with `key` when given.
pub async fn open<F: Forge>(
    forge: &F,
    repo: &RepoId,
    pending: &PendingRelease,
    key: Option<&ApprovalKey>,
) -> Result<Issue, ForgeError> {
    let issue =
        NewIssue { title: pending.title(), body: pending.body(key), labels: vec!["deploy-approval".into()] };
    forge.create_issue(repo, &issue).await
}

/// Reads the issue's comments and decides, asking the forge about team members not seen
/// before (`members`/`asked` carry what is known between reads); the comments read too.
pub async fn read_decision<F: Forge>(
    forge: &F,
    repo: &RepoId,
    number: u64,
    policy: &ApprovalPolicy,
    members: &mut BTreeSet<String>,
    asked: &mut BTreeSet<String>,
) -> Result<(Decision, Vec<Ignored>, Vec<Comment>), ForgeError> {
    let comments = forge.list_issue_comments(repo, number, None).await?;
    team_members(forge, policy, &policy.to_ask(&comments), members, asked).await?;
    let (decision, ignored) = policy.decide(&comments, members);
    Ok((decision, ignored, comments))
}

/// Polls the issue's comments until the approvers decide or the timeout passes.
pub async fn wait<F: Forge>(
    forge: &F,
    repo: &RepoId,
    issue: &Issue,
    policy: &ApprovalPolicy,
    waiting: Waiting,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Decision, ApprovalError> {
    let start = Instant::now();
    let (mut members, mut asked) = (BTreeSet::new(), BTreeSet::new());
    let mut reported = BTreeSet::new();
    let mut so_far = 0;
    loop {
        let (decision, ignored, _) =
            read_decision(forge, repo, issue.number, policy, &mut members, &mut asked).await?;
        for i in ignored.iter().filter(|i| reported.insert(i.comment)) {
            progress(&format!("ignored a decision by {}: {}", i.login, i.why));
        }
        match decision {
            Decision::Pending { approved_by } => {
                if approved_by.len() > so_far {
                    so_far = approved_by.len();
                    progress(&format!(
                        "{so_far} of {} approvals ({}); waiting for more",
                        policy.required(),
                        approved_by.join(", ")
                    ));
                }
            }
            decided => return Ok(decided),
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

/// The outcome comment of an approval: `Approved by @a and @b; deploying ([run](url)).`
pub fn approved_note(by: &[String], run_url: &str) -> String {
    format!("{APPROVED}{}; deploying ([run]({run_url})).", by.join(" and @"))
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

    fn comment(id: u64, login: &str, body: &str) -> Comment {
        Comment { id, login: login.into(), body: body.into(), created_at: String::new() }
    }

    fn policy(required: u32) -> ApprovalPolicy {
        ApprovalPolicy {
            approvers: ["Carol", "alice", "dave", "@org/seniors"]
                .iter()
                .filter_map(|a| Approver::parse(a))
                .collect(),
            actor: "alice".into(),
            allow_self: false,
            required,
        }
    }

    #[test]
    fn only_approvers_other_than_the_actor_decide() {
        let comments = [
            comment(1, "mallory", "/approve"),
            comment(2, "alice", "/approve"),
            comment(3, "carol", "looks fine"),
            comment(4, "carol", "  /APPROVE please"),
        ];
        let (d, ignored) = policy(1).decide(&comments, &BTreeSet::new());
        assert_eq!(d, Decision::Approved { by: vec!["carol".into()] });
        assert_eq!(ignored.len(), 2);
        assert!(ignored[0].why.contains("not an approver (Carol, alice, dave, org/seniors)"), "{ignored:?}");
        assert!(ignored[1].why.contains("triggered"));
    }

    #[test]
    fn deny_carries_the_reason_and_pending_without_commands() {
        let none = BTreeSet::new();
        let (d, _) = policy(1).decide(&[comment(1, "carol", "/deny health is red\nmore")], &none);
        assert_eq!(d, Decision::Denied { by: "carol".into(), reason: "health is red".into() });
        let (d, _) = policy(1).decide(&[comment(1, "carol", "approve?")], &none);
        assert_eq!(d, Decision::Pending { approved_by: vec![] });
        let mut p = policy(1);
        p.allow_self = true;
        assert_eq!(
            p.decide(&[comment(1, "alice", "/approve")], &none).0,
            Decision::Approved { by: vec!["alice".into()] }
        );
    }

    #[test]
    fn n_distinct_approvers_are_needed_and_a_deny_before_that_wins() {
        let none = BTreeSet::new();
        let twice = [comment(1, "carol", "/approve"), comment(2, "CAROL", "/lgtm")];
        assert_eq!(
            policy(2).decide(&twice, &none).0,
            Decision::Pending { approved_by: vec!["carol".into()] }
        );
        let two = [comment(1, "carol", "/approve"), comment(2, "dave", "/approve")];
        assert_eq!(
            policy(2).decide(&two, &none).0,
            Decision::Approved { by: vec!["carol".into(), "dave".into()] }
        );
        let denied =
            [comment(1, "carol", "/approve"), comment(2, "dave", "/deny no"), comment(3, "eve", "/approve")];
        assert!(matches!(policy(2).decide(&denied, &none).0, Decision::Denied { .. }));
    }

    #[test]
    fn team_members_count_once_the_forge_said_so() {
        let comments = [
            comment(1, "erin", "/approve"),
            comment(2, "alice", "/approve"),
            comment(3, "carol", "/approve"),
        ];
        // Only erin needs asking: carol is listed, alice is the actor.
        assert_eq!(policy(2).to_ask(&comments), vec!["erin".to_owned()]);
        let (d, ignored) = policy(2).decide(&comments, &BTreeSet::new());
        assert_eq!(d, Decision::Pending { approved_by: vec!["carol".into()] });
        assert_eq!(ignored.len(), 2);
        let members = BTreeSet::from(["erin".to_owned()]);
        assert_eq!(
            policy(2).decide(&comments, &members).0,
            Decision::Approved { by: vec!["erin".into(), "carol".into()] }
        );
        let no_teams = ApprovalPolicy { approvers: vec![Approver::Login("carol".into())], ..policy(1) };
        assert!(no_teams.to_ask(&comments).is_empty());
    }

    #[test]
    fn approvers_parse_logins_bots_and_teams() {
        assert_eq!(Approver::parse("@carol"), Some(Approver::Login("carol".into())));
        assert_eq!(Approver::parse("renovate[bot]"), Some(Approver::Login("renovate[bot]".into())));
        assert_eq!(
            Approver::parse("@org/senior-devs"),
            Some(Approver::Team { org: "org".into(), slug: "senior-devs".into() })
        );
        assert_eq!(Approver::parse("a/b/c"), None);
        assert_eq!(Approver::parse("-x"), None);
        assert_eq!(Approver::parse(""), None);
    }

    #[test]
    fn the_approval_comment_names_every_approver() {
        assert_eq!(
            approved_note(&["carol".into(), "dave".into()], "u"),
            "Approved by @carol and @dave; deploying ([run](u))."
        );
    }
}
