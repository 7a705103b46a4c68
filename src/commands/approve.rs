//! `approve` (on `issue_comment`): the second half of an approval in `resume` mode. It reads
//! the approval issue afresh, accepts its request only when the action opened it and signed
//! it with `approval-key` ([`approval::review`]), counts the approvers' comments, and once
//! enough approved closes the issue and continues the release; `/deny` closes it; anything
//! else, or anyone else, changes nothing.

use super::release::{Approved, OrchestrationArgs, execute};
use crate::context::RunContext;
use crate::deploy::approval::{self, PendingRelease, Review, ReviewRequest};
use crate::deploy::release::Kind;
use crate::env::EnvMap;
use crate::forge::app::Access;
use crate::forge::{Forge, Issue};
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use crate::versions::{TagEdit, tag_key};

/// Arguments of `approve` (and the inputs of `command: approve`).
#[derive(Debug, Clone, clap::Args)]
pub struct ApproveArgs {
    /// Shared orchestration arguments (`approvers` is required here).
    #[command(flatten)]
    pub common: OrchestrationArgs,
}

fn ignored(why: &str, runner: &Runner) -> Report {
    outcome("ignored", why, runner)
}

/// The report of a run that deployed nothing: its state and why.
fn outcome(state: &str, why: &str, runner: &Runner) -> Report {
    runner.info(why);
    let mut r = Report::default();
    r.output("state", state);
    r.text = format!("{why}\n");
    r.json = serde_json::json!({"state": state, "reason": why});
    r
}

/// The fields of the `issue_comment` event that `approve` reads.
#[derive(serde::Deserialize)]
struct CommentEvent {
    /// `created`, `edited` or `deleted` (absent on some Forgejo versions: created).
    #[serde(default)]
    action: Option<String>,
    issue: EventIssue,
    comment: EventComment,
}

#[derive(serde::Deserialize)]
struct EventIssue {
    number: u64,
}

#[derive(serde::Deserialize)]
struct EventComment {
    id: u64,
}

/// An approval's plan, approvers and issue; for any other decision, the report to end with.
fn approved(
    review: Review,
    number: u64,
    runner: &Runner,
) -> Result<(PendingRelease, Vec<String>, Issue), Box<Report>> {
    Err(Box::new(match review {
        Review::Approved { plan, by, issue } => return Ok((plan, by, issue)),
        Review::NotARequest => {
            ignored("this issue is not a deploy-action approval request; nothing to do", runner)
        }
        Review::Closed => ignored("the approval issue is closed: it was already decided", runner),
        Review::Forged(why) => {
            runner.warning(&format!("approval issue #{number} refused: {why}"));
            outcome("refused", &format!("refused: {why}"), runner)
        }
        Review::Ignored(why) => ignored(&format!("the comment did not count: {why}"), runner),
        Review::NoDecision => {
            ignored("the comment is neither /approve nor /deny from an approver; nothing to do", runner)
        }
        Review::Pending { approved_by, required } => {
            let line = format!(
                "{} of {required} approvals ({}); waiting for more",
                approved_by.len(),
                approved_by.join(", ")
            );
            outcome("pending", &line, runner)
        }
        Review::Denied { by, reason } => {
            let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
            outcome("denied", &format!("denied by {by}{why}"), runner)
        }
        Review::DecidedElsewhere => ignored("another run decided this approval issue first", runner),
    }))
}

/// The tag edits an approved plan asks for.
fn plan_tags(plan: &PendingRelease) -> Result<Vec<TagEdit>, InputError> {
    plan.changes
        .iter()
        .map(|c| {
            Ok(TagEdit {
                service: c.service.clone(),
                key: tag_key("approval plan", &c.service)?,
                tag: c.new.clone(),
                input: "approval plan".into(),
            })
        })
        .collect()
}

/// Runs `approve` for the `issue_comment` event of this run.
pub(crate) async fn run(args: &ApproveArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    if ctx.event_name != "issue_comment" {
        return Err(InputError::new(
            "command",
            "approve",
            format!("runs on issue_comment events, not {:?}: see workflows/approve.yml", ctx.event_name),
        )
        .into());
    }
    let event: CommentEvent = serde_json::from_value(ctx.event.clone())
        .map_err(|e| anyhow::anyhow!("the issue_comment event payload lacks what approve reads: {e}"))?;
    if event.action.as_deref().is_some_and(|a| a != "created") {
        return Ok(ignored("the comment was edited or deleted, not created; nothing to do", runner));
    }
    // Placeholder settings validate every input before the forge is asked anything.
    let probe = args.common.settings(Kind::Release, "approval", Vec::new(), &ctx, env)?;
    let Some(key) = probe.gate.key.clone() else {
        return Err(InputError::new(
            "approval-key",
            "",
            "is required: approve acts only on approval issues signed with the key the release used",
        )
        .into());
    };
    let policy = &probe.gate.policy;
    if policy.approvers.is_empty() {
        return Err(InputError::new(
            "approvers",
            "",
            "is empty: name the logins or org/teams that may /approve",
        )
        .into());
    }
    args.common.deploy_target(env, runner)?;
    let teams = policy.teams().next().is_some();
    let forge = args.common.forge.connect(&ctx, env, runner, &probe.repo, Access::Approve { teams }).await?;
    let request = ReviewRequest {
        repo: &probe.repo,
        number: event.issue.number,
        comment: event.comment.id,
        key: &key,
        approvers: &policy.approvers,
        allow_self: policy.allow_self,
        required: policy.required(),
        now: probe.meta.now.timestamp(),
        run_url: &probe.meta.run_url,
    };
    let (plan, by, issue) =
        match approved(approval::review(&forge, &request).await?, event.issue.number, runner) {
            Ok(approval) => approval,
            Err(report) => return Ok(*report),
        };
    let kind = Kind::from_name(&plan.command).unwrap_or(Kind::Release);
    let mut s = args.common.settings(kind, &plan.environment, plan_tags(&plan)?, &ctx, env)?;
    s.meta.actor = plan.actor.clone();
    let (forge, registries, target) = args.common.connect(&s, &ctx, env, runner).await?;
    let approved = Approved {
        by: by.join(", "),
        url: issue.html_url.clone(),
        digests: plan.changes.iter().map(|c| (c.service.clone(), c.digest.clone())).collect(),
    };
    let result = execute(&forge, &registries, &target, &s, runner, Some(approved)).await;
    let note = match &result {
        Ok(r) => format!("Deployed to {}: {}", s.environment, r.text.trim()),
        Err(e) => format!("The deployment to {} failed: {e:#}", s.environment),
    };
    if let Err(e) = forge.create_issue_comment(&s.repo, issue.number, &note).await {
        runner.warning(&format!("could not comment the outcome on {}: {e}", issue.html_url));
    }
    result
}
