//! Step 3 of a release: a protected environment is protected by the forge (GitHub
//! environment protection) or by an approver's answer on the approval issue.

use super::approval::{self, Decision, PendingRelease};
use super::release::{Approval, ApprovalMode, Checked, Progress, ReleaseError, Settings};
use crate::forge::{Forge, ForgeError, Issue, RepoId};

/// What the gate decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gated {
    /// Go on; the text says what protects (or did not need to protect) the environment.
    Proceed(String),
    /// An approval issue is open; `command: approve` continues the release.
    Awaiting(Issue),
}

/// Step 3: a protected environment is protected by the forge, or by an approver's answer.
pub(crate) async fn gate<F: Forge>(
    forge: &F,
    s: &Settings,
    checked: &Checked,
    progress: Progress<'_>,
) -> Result<Gated, ReleaseError> {
    if !s.is_protected() {
        return Ok(Gated::Proceed(format!("{} is not a protected environment", s.environment)));
    }
    let unprotected = |why: String, fix: &str| {
        if s.gate.allow_unprotected {
            progress(&format!(
                "warning: {} is protected but {why}; deploying anyway (allow-unprotected)",
                s.environment
            ));
            Ok(Gated::Proceed(format!("unprotected ({why}), allowed by allow-unprotected")))
        } else {
            Err(ReleaseError::Unprotected { environment: s.environment.clone(), why, fix: fix.to_owned() })
        }
    };
    let use_environment = match s.gate.approval {
        Approval::None => {
            return unprotected("`approval` is none".into(), "Set `approval: auto` or `issue`.");
        }
        Approval::Environment => true,
        Approval::Issue => false,
        Approval::Auto => forge.capabilities().environments,
    };
    if use_environment {
        match environment_protection(forge, &s.repo, &s.environment).await? {
            Some((true, summary)) => {
                return Ok(Gated::Proceed(format!(
                    "environment protection: {summary} (enforced when the job sets `environment: {}`)",
                    s.environment
                )));
            }
            found => {
                let why = if found.is_some() {
                    "its environment has neither required reviewers nor a wait timer".to_owned()
                } else {
                    "the repository has no such environment".to_owned()
                };
                if s.gate.approval == Approval::Environment || s.gate.policy.approvers.is_empty() {
                    return unprotected(
                        why,
                        "Add required reviewers to the environment (Settings → Environments) and set the job's `environment:`, or give `approvers` to use the approval issue.",
                    );
                }
                progress(&format!("{}: {why}; using the approval issue", s.environment));
            }
        }
    }
    if s.gate.policy.approvers.is_empty() {
        return unprotected(
            "no `approvers` are set for the approval issue".into(),
            "Set `approvers` to the logins that may `/approve`.",
        );
    }
    if s.gate.mode == ApprovalMode::Resume && s.gate.key.is_none() {
        return Err(ReleaseError::NoApprovalKey { environment: s.environment.clone() });
    }
    let pending = PendingRelease {
        environment: s.environment.clone(),
        changes: checked.planned(),
        actor: s.meta.actor.clone(),
        run_url: s.meta.run_url.clone(),
        command: s.kind.name().into(),
        repository: s.repo.to_string(),
        approvers: s.gate.policy.names(),
        required_approvals: s.gate.policy.required(),
        expires_at: s.meta.now.timestamp()
            + i64::try_from(s.gate.waiting.timeout.as_secs()).unwrap_or(i64::MAX / 2),
    };
    let issue = approval::open(forge, &s.repo, &pending, s.gate.key.as_ref()).await?;
    progress(&format!("approval requested: {}", issue.html_url));
    if s.gate.mode == ApprovalMode::Resume {
        return Ok(Gated::Awaiting(issue));
    }
    let decision = approval::wait(forge, &s.repo, &issue, &s.gate.policy, s.gate.waiting, progress).await;
    match decision {
        Ok(Decision::Approved { by }) => {
            approval::conclude(forge, &s.repo, &issue, &approval::approved_note(&by, &s.meta.run_url))
                .await?;
            Ok(Gated::Proceed(format!("approved by {} in {}", by.join(", "), issue.html_url)))
        }
        Ok(Decision::Denied { by, reason }) => {
            approval::conclude(forge, &s.repo, &issue, &approval::denied_note(&by, "")).await?;
            Err(ReleaseError::Denied { by, reason, url: issue.html_url })
        }
        Ok(Decision::Pending { .. }) => unreachable!("wait returns only decisions"),
        Err(e) => {
            let _ = approval::conclude(forge, &s.repo, &issue, &format!("{e}; nothing was deployed.")).await;
            Err(e.into())
        }
    }
}

/// Whether the forge protects `environment` (and how); `None` when it does not exist or the
/// token cannot see it (GitHub answers both with 404: fail closed).
async fn environment_protection<F: Forge>(
    forge: &F,
    repo: &RepoId,
    environment: &str,
) -> Result<Option<(bool, String)>, ForgeError> {
    Ok(forge.get_environment(repo, environment).await?.map(|e| {
        let mut rules = Vec::new();
        if !e.reviewers.is_empty() {
            let names: Vec<&str> = e.reviewers.iter().map(|r| r.name.as_str()).collect();
            rules.push(format!("required reviewers {}", names.join(", ")));
        }
        if e.wait_timer > 0 {
            rules.push(format!("wait timer {} min", e.wait_timer));
        }
        (e.is_protected(), rules.join(", "))
    }))
}
