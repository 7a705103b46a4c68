//! `approve`'s review of an approval issue after a comment: every fact is read fresh from
//! the forge (the issue, its author, the comments), never taken from the event, and the
//! request must verify ([`PendingRelease::verify`]) before any comment counts.

use super::{
    ApprovalKey, ApprovalPolicy, Approver, Decision, Expected, Forged, PendingRelease, approved_note,
    conclude_first, denied_note, read_decision,
};
use crate::forge::{Forge, ForgeError, Issue, IssueState, RepoId};
use std::collections::BTreeSet;

/// What `approve` asks of one review.
#[derive(Clone, Debug)]
pub struct ReviewRequest<'a> {
    /// The orchestration repository.
    pub repo: &'a RepoId,
    /// The issue commented on.
    pub number: u64,
    /// The comment that started this run.
    pub comment: u64,
    /// Verifies the request.
    pub key: &'a ApprovalKey,
    /// Who may approve (the approve workflow's inputs).
    pub approvers: &'a [Approver],
    /// Whether the release's actor may approve it.
    pub allow_self: bool,
    /// Distinct approvals the approve workflow asks for (the request may ask for more).
    pub required: u32,
    /// Now, unix seconds.
    pub now: i64,
    /// This run's URL, for the approval comment.
    pub run_url: &'a str,
}

/// What the review found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Review {
    /// The issue carries no approval request: not ours, nothing to say.
    NotARequest,
    /// The issue is closed: it was decided before.
    Closed,
    /// The request did not verify; a comment on the issue says why.
    Forged(Forged),
    /// The comment that started this run did not count (said on the issue), and nothing is decided.
    Ignored(String),
    /// The comment was no decision, and nothing is decided.
    NoDecision,
    /// Some approvals are in, more are needed (said on the issue).
    Pending {
        /// Approvers so far.
        approved_by: Vec<String>,
        /// Approvals needed.
        required: u32,
    },
    /// An approver denied it; the issue is closed.
    Denied {
        /// Who.
        by: String,
        /// Why, as they wrote it.
        reason: String,
    },
    /// Another run decided the issue first.
    DecidedElsewhere,
    /// Approved: the issue is closed with this run's approval comment; deploy `plan`.
    Approved {
        /// The verified request.
        plan: PendingRelease,
        /// Who approved.
        by: Vec<String>,
        /// The issue.
        issue: Issue,
    },
}

/// Reviews the approval issue `r.number` after comment `r.comment`.
pub async fn review<F: Forge>(forge: &F, r: &ReviewRequest<'_>) -> Result<Review, ForgeError> {
    let details = forge.get_issue(r.repo, r.number).await?;
    if !PendingRelease::is_request(&details.body) {
        return Ok(Review::NotARequest);
    }
    if details.state == IssueState::Closed {
        return Ok(Review::Closed);
    }
    let issue = Issue { number: details.number, html_url: details.html_url.clone() };
    let identity = forge.identity().await?;
    let expected = Expected {
        repository: &r.repo.to_string(),
        author: &details.author,
        identity: &identity,
        now: r.now,
    };
    let plan = match PendingRelease::verify(&details.body, r.key, &expected) {
        Ok(plan) => plan,
        Err(forged) => {
            let note = format!(
                "Ignored: this is not an approval request deploy-action can act on: {forged}. Nothing was deployed."
            );
            forge.create_issue_comment(r.repo, r.number, &note).await?;
            return Ok(Review::Forged(forged));
        }
    };
    let policy = ApprovalPolicy {
        approvers: r.approvers.to_vec(),
        actor: plan.actor.clone(),
        allow_self: r.allow_self,
        required: r.required.max(plan.required_approvals),
    };
    let (mut members, mut asked) = (BTreeSet::new(), BTreeSet::new());
    let (decision, ignored, comments) =
        read_decision(forge, r.repo, r.number, &policy, &mut members, &mut asked).await?;
    let refused = ignored.iter().find(|i| i.comment == r.comment);
    if let Some(i) = refused {
        let note = format!("Ignored the decision of @{}: {}.", i.login, i.why);
        forge.create_issue_comment(r.repo, r.number, &note).await?;
    }
    match decision {
        Decision::Pending { approved_by } => {
            if let Some(i) = refused {
                return Ok(Review::Ignored(i.why.clone()));
            }
            let counted = comments
                .iter()
                .find(|c| c.id == r.comment)
                .is_some_and(|c| approved_by.iter().any(|a| a.eq_ignore_ascii_case(&c.login)));
            if !counted || approved_by.is_empty() {
                return Ok(Review::NoDecision);
            }
            let required = policy.required();
            let note = format!(
                "Approval {} of {required} ({}); waiting for {} more.",
                approved_by.len(),
                approved_by.iter().map(|a| format!("@{a}")).collect::<Vec<_>>().join(", "),
                required as usize - approved_by.len()
            );
            forge.create_issue_comment(r.repo, r.number, &note).await?;
            Ok(Review::Pending { approved_by, required })
        }
        Decision::Denied { by, reason } => {
            let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
            if !conclude_first(forge, r.repo, &issue, &denied_note(&by, &why)).await? {
                return Ok(Review::DecidedElsewhere);
            }
            Ok(Review::Denied { by, reason })
        }
        Decision::Approved { by } => {
            // Another /approve may have been handled since this run read the issue.
            if forge.get_issue(r.repo, r.number).await?.state == IssueState::Closed {
                return Ok(Review::DecidedElsewhere);
            }
            // The decision comment and the close claim the issue: a later /approve finds
            // it closed, and of two at once only the first comment goes on.
            if !conclude_first(forge, r.repo, &issue, &approved_note(&by, r.run_url)).await? {
                return Ok(Review::DecidedElsewhere);
            }
            Ok(Review::Approved { plan, by, issue })
        }
    }
}
