//! `approve` (on `issue_comment`): the second half of an approval in `resume` mode. It reads
//! the approval issue afresh, accepts its request only when the action opened it and signed
//! it with `approval-key` ([`approval::review`]), counts the approvers' comments, and once
//! enough approved closes the issue and continues the release; `/deny` closes it; anything
//! else, or anyone else, changes nothing.

use super::release::{Approved, OrchestrationArgs, execute};
use crate::context::RunContext;
use crate::deploy::approval::{self, Review, ReviewRequest};
use crate::deploy::release::Kind;
use crate::env::EnvMap;
use crate::forge::Forge;
use crate::forge::app::Access;
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

/// Runs `approve` for the `issue_comment` event of this run.
pub async fn run(args: &ApproveArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    if ctx.event_name != "issue_comment" {
        return Err(InputError::new(
            "command",
            "approve",
            format!("runs on issue_comment events, not {:?}: see workflows/approve.yml", ctx.event_name),
        )
        .into());
    }
    let ev = &ctx.event;
    if ev["action"].as_str().is_some_and(|a| a != "created") {
        return Ok(ignored("the comment was edited or deleted, not created; nothing to do", runner));
    }
    let number = ev.pointer("/issue/number").and_then(|v| v.as_u64()).unwrap_or_default();
    let comment = ev.pointer("/comment/id").and_then(|v| v.as_u64()).unwrap_or_default();
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
    if probe.gate.policy.approvers.is_empty() {
        return Err(InputError::new(
            "approvers",
            "",
            "is empty: name the logins or org/teams that may /approve",
        )
        .into());
    }
    args.common.deploy_target(env, runner)?;
    let teams = probe.gate.policy.teams().next().is_some();
    let forge = args.common.forge.connect(&ctx, env, runner, &probe.repo, Access::Approve { teams }).await?;
    async {
        let request = ReviewRequest {
            repo: &probe.repo,
            number,
            comment,
            key: &key,
            approvers: &probe.gate.policy.approvers,
            allow_self: probe.gate.policy.allow_self,
            required: probe.gate.policy.required(),
            now: probe.meta.now.timestamp(),
            run_url: &probe.meta.run_url,
        };
        let (plan, by, issue) = match approval::review(&forge, &request).await? {
            Review::NotARequest => {
                return Ok(ignored(
                    "this issue is not a deploy-action approval request; nothing to do",
                    runner,
                ));
            }
            Review::Closed => {
                return Ok(ignored("the approval issue is closed: it was already decided", runner));
            }
            Review::Forged(why) => {
                runner.warning(&format!("approval issue #{number} refused: {why}"));
                return Ok(outcome("refused", &format!("refused: {why}"), runner));
            }
            Review::Ignored(why) => return Ok(ignored(&format!("the comment did not count: {why}"), runner)),
            Review::NoDecision => {
                return Ok(ignored(
                    "the comment is neither /approve nor /deny from an approver; nothing to do",
                    runner,
                ));
            }
            Review::Pending { approved_by, required } => {
                let line = format!(
                    "{} of {required} approvals ({}); waiting for more",
                    approved_by.len(),
                    approved_by.join(", ")
                );
                return Ok(outcome("pending", &line, runner));
            }
            Review::Denied { by, reason } => {
                let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
                return Ok(outcome("denied", &format!("denied by {by}{why}"), runner));
            }
            Review::DecidedElsewhere => {
                return Ok(ignored("another run decided this approval issue first", runner));
            }
            Review::Approved { plan, by, issue } => (plan, by, issue),
        };
        let kind = match plan.command.as_str() {
            "rollback" => Kind::Rollback,
            "promote" => Kind::Promote,
            _ => Kind::Release,
        };
        let tags = plan
            .changes
            .iter()
            .map(|c| {
                Ok(TagEdit {
                    service: c.service.clone(),
                    key: tag_key("approval plan", &c.service)?,
                    tag: c.new.clone(),
                    input: "approval plan".into(),
                })
            })
            .collect::<Result<Vec<_>, InputError>>()?;
        let mut s = args.common.settings(kind, &plan.environment, tags, &ctx, env)?;
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
    .await
}
