//! `approve` (on `issue_comment`): the second half of an approval in `resume` mode. It reads
//! the release plan from the approval issue, checks the commenter against `approvers`, and on
//! `/approve` closes the issue and continues the release; `/deny` closes it; anything else,
//! or anyone else, changes nothing.

use super::push::runtime;
use super::release::{Approved, OrchestrationArgs, execute};
use crate::context::RunContext;
use crate::deploy::approval::{self, ApprovalPolicy, Decision, PendingRelease};
use crate::deploy::release::Kind;
use crate::env::EnvMap;
use crate::forge::{Comment, Forge, Issue, IssueState};
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
    runner.info(why);
    let mut r = Report::default();
    r.output("state", "ignored");
    r.text = format!("{why}\n");
    r.json = serde_json::json!({"state": "ignored", "reason": why});
    r
}

/// Runs `approve` for the `issue_comment` event of this run.
pub fn run(args: &ApproveArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
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
    let comment = Comment {
        id: ev.pointer("/comment/id").and_then(|v| v.as_u64()).unwrap_or_default(),
        login: ev.pointer("/comment/user/login").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
        body: ev.pointer("/comment/body").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
        created_at: String::new(),
    };
    let Some(pending) =
        ev.pointer("/issue/body").and_then(|b| b.as_str()).and_then(PendingRelease::from_body)
    else {
        return Ok(ignored("this issue is not a deploy-action approval request; nothing to do", runner));
    };
    let issue = Issue {
        number: ev.pointer("/issue/number").and_then(|v| v.as_u64()).unwrap_or_default(),
        html_url: ev.pointer("/issue/html_url").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
    };
    if ev.pointer("/issue/state").and_then(|v| v.as_str()) == Some("closed") {
        return Ok(ignored("the approval issue is closed: it was already decided", runner));
    }
    let approvers: Vec<String> = args
        .common
        .approvers
        .iter()
        .flat_map(|a| crate::settings::split_list(a, false))
        .map(|a| a.trim_start_matches('@').to_owned())
        .collect();
    if approvers.is_empty() {
        return Err(InputError::new("approvers", "", "is empty: name the logins that may /approve").into());
    }
    let policy = ApprovalPolicy {
        approvers,
        actor: pending.actor.clone(),
        allow_self: args.common.allow_self_approval,
    };
    let kind = match pending.command.as_str() {
        "rollback" => Kind::Rollback,
        "promote" => Kind::Promote,
        _ => Kind::Release,
    };
    let tags = pending
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
    let mut s = args.common.settings(kind, &pending.environment, tags, &ctx, env)?;
    s.meta.actor = pending.actor.clone();
    let (forge, registries, target) = args.common.connect(&s, &ctx, env, runner)?;
    runtime()?.block_on(async {
        let (decision, refused) = policy.decide(std::slice::from_ref(&comment));
        if let Some(r) = refused.first() {
            let note = format!(
                "Ignored `{}` from @{}: {}.",
                comment.body.lines().next().unwrap_or_default().trim(),
                r.login,
                r.why
            );
            forge.create_issue_comment(&s.repo, issue.number, &note).await?;
            return Ok(ignored(&note, runner));
        }
        match decision {
            Decision::Pending => {
                Ok(ignored("the comment is neither /approve nor /deny; nothing to do", runner))
            }
            Decision::Denied { by, reason } => {
                let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
                approval::conclude(&forge, &s.repo, &issue, &approval::denied_note(&by, &why)).await?;
                let mut r = ignored(&format!("denied by {by}{why}"), runner);
                r.outputs.clear();
                r.output("state", "denied");
                Ok(r)
            }
            Decision::Approved { by } => {
                // Another /approve may have been handled since this event was sent.
                if forge.get_issue(&s.repo, issue.number).await?.state == IssueState::Closed {
                    return Ok(ignored(
                        "the approval issue was closed meanwhile: it was already decided",
                        runner,
                    ));
                }
                // The decision comment and the close claim the issue: a later /approve finds
                // it closed, and of two at once only the first comment goes on.
                let note = approval::approved_note(&by, &s.meta.run_url);
                let first = approval::conclude_first(&forge, &s.repo, &issue, &note).await?;
                if !first {
                    return Ok(ignored("another run decided this approval issue first", runner));
                }
                let approved = Approved {
                    by: by.clone(),
                    url: issue.html_url.clone(),
                    digests: pending.changes.iter().map(|c| (c.service.clone(), c.digest.clone())).collect(),
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
        }
    })
}
