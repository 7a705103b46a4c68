//! `release`: verify the requested tags, gate production, record `.env.versions`, deploy,
//! check health and report; roll back automatically on failure. [`execute`] is shared by
//! `rollback`, `promote` and `approve`.

use crate::context::{ForgeKind, RunContext};
use crate::deploy::release::{self, Applied, Checked, Gated, Kind, Settings};
use crate::deploy::targets::Target;
use crate::env::EnvMap;
use crate::forge::{AnyForge, Forge, Issue};
use crate::registry::Registries;
use crate::runner::{Report, Runner};

pub(crate) use super::orchestration_args::OrchestrationArgs;

/// Arguments of `release` (and the inputs of `command: release`).
#[derive(Debug, Clone, clap::Args)]
pub struct ReleaseArgs {
    /// Environment to deploy to (`staging`, `production`).
    #[arg(long, value_name = "ENV")]
    pub environment: String,
    /// `service=tag` items; in a runner, inputs named `<service>_image_tag` count too.
    #[arg(long, value_name = "SERVICE=TAG")]
    pub versions: Vec<String>,
    /// Shared orchestration arguments.
    #[command(flatten)]
    pub common: OrchestrationArgs,
}

/// Runs `release`.
pub(crate) async fn run(args: &ReleaseArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    let tags = super::record::tag_edits(&args.versions, env)?;
    let s = args.common.settings(Kind::Release, &args.environment, tags, &ctx, env)?;
    let (forge, registries, target) = args.common.connect(&s, &ctx, env, runner).await?;
    execute(&forge, &registries, &target, &s, runner, None).await
}

/// An approval already given (`approve`): who, where, and the digests that were approved.
#[derive(Clone, Debug)]
pub(crate) struct Approved {
    /// The approver.
    pub by: String,
    /// The approval issue.
    pub url: String,
    /// `(service, digest)` as shown in the issue.
    pub digests: Vec<(String, Option<String>)>,
}

/// Verify → gate → apply, reporting each step; shared by `release`, `rollback`, `promote`
/// and `approve` (which passes the approval it checked instead of gating again).
pub(crate) async fn execute<T: Target>(
    forge: &AnyForge,
    registries: &Registries,
    target: &T,
    s: &Settings,
    runner: &Runner,
    approved: Option<Approved>,
) -> anyhow::Result<Report> {
    let progress = |line: &str| runner.info(line);
    runner.group(&format!("Verify {} for {}", release::describe(s.kind, &[]).trim(), s.environment));
    let checked = release::check(forge, registries, s, &progress).await;
    runner.end_group();
    let checked = checked?;
    let protection = match approved {
        Some(a) => {
            for c in &checked.changes {
                let digest = c.digest.as_deref().unwrap_or_default();
                let shown =
                    a.digests.iter().find(|(svc, _)| *svc == c.service).and_then(|(_, d)| d.as_deref());
                match shown {
                    Some(d) if d == digest => {}
                    Some(d) => anyhow::bail!(
                        "{}: {} now points to {digest}, not to the {d} that was approved in {}; nothing was changed: release again",
                        c.service,
                        c.new,
                        a.url
                    ),
                    None => anyhow::bail!(
                        "{}: no digest was approved for {} in {}; nothing was changed: release again",
                        c.service,
                        c.new,
                        a.url
                    ),
                }
            }
            format!("approved by {} in {}", a.by, a.url)
        }
        None => match release::gate(forge, s, &checked, &progress).await? {
            Gated::Proceed(why) => why,
            Gated::Awaiting(issue) => return Ok(awaiting_report(s, &checked, &issue)),
        },
    };
    runner.info(&format!("{}: {protection}", s.environment));
    runner.group(&format!("Deploy to {} ({})", s.environment, target.name()));
    let applied = release::apply(forge, target, s, &checked, protection, &progress).await;
    runner.end_group();
    match applied {
        Ok(a) => Ok(applied_report(s, forge.kind(), &a)),
        Err(e) => {
            failure_summary(s, forge.kind(), &checked, &e, runner);
            Err(e.into())
        }
    }
}

/// The job summary and annotation of a release that failed after its checks: what was to
/// change, what failed, what was restored, and where to look.
fn failure_summary(
    s: &Settings,
    kind: ForgeKind,
    checked: &Checked,
    e: &release::ReleaseError,
    runner: &Runner,
) {
    let rolled_back = matches!(e, release::ReleaseError::RolledBack { .. });
    if rolled_back {
        runner.warning(&format!("{} to {} rolled back: {e}", s.kind.name(), s.environment));
    }
    let title = if rolled_back { "rolled back" } else { "failed" };
    let mut md = format!(
        "### {} to {} {title}\n\n{}\n",
        capitalized(s.kind.name()),
        s.environment,
        table(&checked.changes)
    );
    md.push_str(&format!("\n**{}**\n", e.to_string().replace('\n', " ")));
    md.push_str(&links(s, kind, None));
    if let Err(err) = runner.append_summary(&md) {
        runner.warning(&format!("could not write the job summary: {err}"));
    }
}

/// Links for a summary: the versions file's history (and the commit, when there is one) and
/// this run.
fn links(s: &Settings, kind: ForgeKind, commit: Option<&str>) -> String {
    let web = format!("{}/{}", s.server_url.trim_end_matches('/'), s.repo);
    let history = match kind {
        ForgeKind::Github => format!("{web}/commits/{}/{}", s.branch, s.env_file),
        ForgeKind::Forgejo => format!("{web}/commits/branch/{}/{}", s.branch, s.env_file),
    };
    let mut md = format!("\nVersions file: [{}]({history})", s.env_file);
    if let Some(sha) = commit.filter(|c| !c.is_empty()) {
        md.push_str(&format!(" · commit [`{}`]({web}/commit/{sha})", &sha[..sha.len().min(12)]));
    }
    if !s.meta.run_url.is_empty() {
        md.push_str(&format!(" · [this run]({})", s.meta.run_url));
    }
    md.push('\n');
    md
}

fn awaiting_report(s: &Settings, checked: &Checked, issue: &Issue) -> Report {
    let mut r = Report::default();
    r.output("state", "awaiting-approval");
    r.output("approval-issue", issue.number.to_string());
    r.output("approval-url", issue.html_url.clone());
    r.text = format!("awaiting approval: {}\n", issue.html_url);
    r.summary = format!(
        "### Waiting for approval to {}\n\n{}\n\nApprove or deny in {}\n",
        s.environment,
        table(&checked.changes),
        issue.html_url
    );
    r.json = serde_json::json!({"state": "awaiting-approval", "environment": s.environment,
        "approval_issue": issue.number, "approval_url": issue.html_url});
    r
}

/// Markdown table of services, old → new tags and digests.
fn table(changes: &[crate::deploy::targets::ServiceChange]) -> String {
    let mut t = String::from("| service | from | to | digest |\n|---|---|---|---|\n");
    for c in changes {
        let d = c.digest.as_deref().unwrap_or("—");
        let image = c.image.as_deref().map(|i| format!("{i}:")).unwrap_or_default();
        t.push_str(&format!(
            "| {} | `{}` | `{image}{}` | `{d}` |\n",
            c.service,
            c.old.as_deref().unwrap_or("—"),
            c.new
        ));
    }
    t
}

fn applied_report(s: &Settings, kind: ForgeKind, a: &Applied) -> Report {
    let mut r = Report::default();
    let previous: serde_json::Map<String, serde_json::Value> =
        a.changes.iter().map(|c| (c.service.clone(), c.old.clone().into())).collect();
    let versions: serde_json::Map<String, serde_json::Value> =
        a.changes.iter().map(|c| (c.service.clone(), c.new.clone().into())).collect();
    let images: Vec<String> = a
        .changes
        .iter()
        .filter_map(|c| Some(format!("{}@{}", c.image.as_ref()?, c.digest.as_ref()?)))
        .collect();
    r.output("state", "success");
    r.output("commit-sha", a.commit_sha.clone());
    r.output("previous", serde_json::Value::Object(previous.clone()).to_string());
    r.output("versions", serde_json::Value::Object(versions.clone()).to_string());
    r.output("images", images.join("\n"));
    if let Some(id) = a.deployment {
        r.output("deployment-id", id.to_string());
    }
    let line = release::describe(s.kind, &a.changes);
    r.text = format!("{line} to {}: healthy\n", s.environment);
    let mut summary =
        format!("### {} to {}\n\n{}\n", capitalized(s.kind.name()), s.environment, table(&a.changes));
    summary.push_str(&format!("\nProtection: {}\n", a.protection));
    summary.push_str(&links(s, kind, Some(&a.commit_sha)));
    if let Some(url) = &s.environment_url {
        summary.push_str(&format!("\nEnvironment: {url}\n"));
    }
    r.summary = summary;
    r.json = serde_json::json!({
        "state": "success", "environment": s.environment, "commit_sha": a.commit_sha,
        "deployment_id": a.deployment, "previous": previous, "versions": versions, "images": images,
    });
    r
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}
