//! `release`: verify the requested tags, gate production, record `.env.versions`, deploy,
//! check health and report; roll back automatically on failure. Also the arguments and the
//! wiring shared by `rollback`, `promote` and `approve`.

use super::forge_args::ForgeArgs;
use super::push::RegistryArgs;
use super::shared_args::{RunArgs, VersionsRepoArgs};
use crate::context::RunContext;
use crate::deploy::approval::{ApprovalKey, ApprovalPolicy, Approver, Waiting};
use crate::deploy::health::HealthCheck;
use crate::deploy::plan::{ImageMap, TagRules};
use crate::deploy::release::{self, Applied, Approval, ApprovalMode, Checked, Gate, Gated, Kind, Settings};
use crate::deploy::targets::args::TargetArgs;
use crate::deploy::targets::inputs::{http_status, http_url};
use crate::deploy::targets::{AnyTarget, Target};
use crate::env::EnvMap;
use crate::forge::{AnyForge, Issue};
use crate::registry::Registries;
use crate::runner::{Report, Runner};
use crate::secret::Secret;
use crate::settings::{InputError, split_list};
use crate::versions::{DeployMeta, TagEdit};
use std::time::Duration;

/// What `release`, `rollback`, `promote` and `approve` share: where the versions live, the
/// registry, the gate, the deploy target and the health checks.
#[derive(Debug, Clone, clap::Args)]
pub struct OrchestrationArgs {
    /// Where the versions file lives.
    #[command(flatten)]
    pub versions_repo: VersionsRepoArgs,
    /// Image of each service, `service=registry/repository` per line, or one
    /// `registry/org/{service}` template; every requested tag is verified there.
    #[arg(long, value_name = "SERVICE=IMAGE")]
    pub images: Vec<String>,
    /// URLs polled after the deploy until they answer `health-status` (one per line).
    #[arg(long, value_name = "URL")]
    pub health_url: Vec<String>,
    /// Seconds each health URL may take to become healthy.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub health_timeout: u64,
    /// The HTTP status that means healthy.
    #[arg(long, value_name = "CODE", default_value_t = 200)]
    pub health_status: u16,
    /// Text the health response body must contain (e.g. the version).
    #[arg(long, value_name = "TEXT")]
    pub health_body: Option<String>,
    /// Deploy an image built from an older commit than the running one.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Deploy a protected environment that has no protection (no reviewers, no approvers).
    #[arg(long)]
    pub allow_unprotected: bool,
    /// Restore the previous versions when the deploy or a health check fails (`true`/`false`).
    #[arg(long, value_name = "BOOL", default_value = "true", value_parser = crate::settings::bool_input(), action = clap::ArgAction::Set)]
    pub rollback_on_failure: bool,
    /// URL of the deployed application, shown on the deployment.
    #[arg(long, value_name = "URL")]
    pub environment_url: Option<String>,
    /// How protected environments are gated: `auto` (the forge's environment protection
    /// where it exists, else the approval issue), `environment`, `issue` or `none`.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = Approval::Auto)]
    pub approval: Approval,
    /// `wait`: the step polls the approval issue; `resume`: the step ends and
    /// `command: approve` (on `issue_comment`) continues the release.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ApprovalMode::Wait)]
    pub approval_mode: ApprovalMode,
    /// Logins and `org/team`s that may `/approve` or `/deny` (comma or newline separated).
    #[arg(long, value_name = "LOGIN")]
    pub approvers: Vec<String>,
    /// Distinct approvers needed before the release goes on.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub required_approvals: u32,
    /// Secret that signs approval issues (`approval-mode: resume`) and that `approve`
    /// checks; at least 16 characters (masked).
    #[arg(long, value_name = "KEY", hide_env_values = true)]
    pub approval_key: Option<String>,
    /// Seconds an approval may take: the wait (`approval-mode: wait`) or the life of the
    /// approval issue's request (`resume`).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub approval_timeout: u64,
    /// Seconds between polls while waiting.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub poll_interval: u64,
    /// Let the actor who triggered a release approve it.
    #[arg(long)]
    pub allow_self_approval: bool,
    /// Environments that must be protected (comma or newline separated).
    #[arg(long, value_name = "ENV", default_value = "production")]
    pub protected_environments: Vec<String>,
    /// Tags each environment accepts, `environment=glob` per line (`production=v*`).
    #[arg(long, value_name = "ENV=GLOB")]
    pub allowed_tags: Vec<String>,
    /// Who deploys, from which run.
    #[command(flatten)]
    pub run: RunArgs,
    /// Forge API and token.
    #[command(flatten)]
    pub forge: ForgeArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Where to deploy.
    #[command(flatten)]
    pub target: TargetArgs,
}

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

fn items(raw: &[String]) -> Vec<String> {
    raw.iter().flat_map(|r| split_list(r, false)).collect()
}

impl OrchestrationArgs {
    /// The versions file path for `environment`.
    pub fn env_file(&self, environment: &str) -> String {
        self.versions_repo.file_for(environment)
    }

    /// Validated settings; nothing is contacted.
    pub fn settings(
        &self,
        kind: Kind,
        environment: &str,
        tags: Vec<TagEdit>,
        ctx: &RunContext,
        env: &EnvMap,
    ) -> Result<Settings, InputError> {
        let environment = environment.trim();
        if environment.is_empty()
            || !environment.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(InputError::new(
                "environment",
                environment,
                "must be a name of letters, digits, -, _ or .",
            ));
        }
        let images = ImageMap::parse("images", &items(&self.images))?;
        if images.is_empty() {
            return Err(InputError::new(
                "images",
                "",
                "is empty: name each service's image (api=ghcr.io/org/api) so its tag can be verified",
            ));
        }
        let (approval, mode) = (self.approval, self.approval_mode);
        let health_status = http_status("health-status", self.health_status)?;
        let environment_url = self.environment_url.clone().filter(|u| !u.trim().is_empty());
        if let Some(u) = &environment_url {
            http_url("environment-url", u.trim())?;
        }
        // The target's inputs too: every deploy input is refused before anything is contacted.
        self.target.check()?;
        let health = items(&self.health_url)
            .into_iter()
            .map(|u| {
                http_url("health-url", &u)?;
                let mut check = HealthCheck::new(u, Duration::from_secs(self.health_timeout));
                check.expect_status = health_status;
                check.body_contains = self.health_body.clone().filter(|b| !b.is_empty());
                Ok(check)
            })
            .collect::<Result<Vec<_>, InputError>>()?;
        let actor = self.run.actor(ctx);
        let approvers = items(&self.approvers)
            .iter()
            .map(|a| {
                Approver::parse(a).ok_or_else(|| {
                    InputError::new(
                        "approvers",
                        a,
                        "must be logins or org/team names (letters, digits, -, _, .)",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.required_approvals == 0 {
            return Err(InputError::new("required-approvals", "0", "must be at least 1"));
        }
        let logins = approvers.iter().filter(|a| matches!(a, Approver::Login(_))).count();
        if approvers.len() == logins && logins > 0 && (self.required_approvals as usize) > logins {
            return Err(InputError::new(
                "required-approvals",
                self.required_approvals.to_string(),
                format!("is more than the {logins} approvers listed, so no release could ever be approved"),
            ));
        }
        let key = match self.approval_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) => Some(
                ApprovalKey::new(Secret::new(k))
                    .map_err(|rule| InputError::new("approval-key", "***", rule))?,
            ),
            None => None,
        };
        let settings = Settings {
            kind,
            environment: environment.to_owned(),
            tags,
            images,
            repo: self.versions_repo.repo(ctx)?,
            branch: self.versions_repo.branch().to_owned(),
            env_file: self.env_file(environment),
            meta: DeployMeta {
                actor: actor.clone(),
                run_url: self.run.run_url(ctx),
                now: super::tags::options(env)
                    .map_err(|e| InputError::new("SOURCE_DATE_EPOCH", "", e.to_string()))?
                    .now,
            },
            allow_downgrade: self.allow_downgrade,
            rollback_on_failure: self.rollback_on_failure,
            tag_rules: TagRules::parse("allowed-tags", &items(&self.allowed_tags))?,
            gate: Gate {
                approval,
                mode,
                protected: items(&self.protected_environments),
                policy: ApprovalPolicy {
                    approvers,
                    actor,
                    allow_self: self.allow_self_approval,
                    required: self.required_approvals,
                },
                key,
                waiting: Waiting {
                    timeout: Duration::from_secs(self.approval_timeout),
                    interval: Duration::from_secs(self.poll_interval.max(1)),
                },
                allow_unprotected: self.allow_unprotected,
            },
            health,
            environment_url,
        };
        // `auto` may find the forge's own protection: its key is checked by the gate, before
        // the issue would be opened (still before any write).
        let issue_gate =
            settings.gate.approval == Approval::Issue && !settings.gate.policy.approvers.is_empty();
        if settings.is_protected()
            && issue_gate
            && settings.gate.mode == ApprovalMode::Resume
            && settings.gate.key.is_none()
        {
            return Err(InputError::new(
                "approval-key",
                "",
                "is required with approval-mode: resume: `approve` accepts only approval issues signed with it. \
                 Create one (openssl rand -hex 32), store it as a secret (DEPLOY_APPROVAL_KEY) and pass it to this \
                 step and to the approve workflow",
            ));
        }
        Ok(settings)
    }

    /// The forge client, the registry clients and the deploy target.
    pub async fn connect(
        &self,
        s: &Settings,
        ctx: &RunContext,
        env: &EnvMap,
        runner: &Runner,
    ) -> anyhow::Result<(AnyForge, Registries, AnyTarget)> {
        let target = self.deploy_target(env, runner)?;
        let forge = self.forge.connect(ctx, env, runner, &s.repo, crate::forge::app::Access::Release).await?;
        Ok((forge, self.registries(s, env, runner)?, target))
    }

    /// The deploy target, with the health settings for the checks it runs itself (dokploy).
    pub fn deploy_target(&self, env: &EnvMap, runner: &Runner) -> Result<AnyTarget, InputError> {
        let mut target = self.target.target(env, runner)?;
        let mut template = HealthCheck::new("", Duration::from_secs(self.health_timeout));
        template.expect_status = self.health_status;
        template.body_contains = self.health_body.clone().filter(|b| !b.is_empty());
        target.set_health(template);
        Ok(target)
    }

    /// Clients for the registries of the services in `s.tags`.
    pub fn registries(&self, s: &Settings, env: &EnvMap, runner: &Runner) -> Result<Registries, InputError> {
        let hosts: Vec<String> = s
            .tags
            .iter()
            .filter_map(|t| s.images.image_for(&t.service))
            .filter_map(|i| crate::registry::Reference::parse(&format!("{i}:x")).ok().map(|r| r.registry))
            .collect();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        self.registry.registries(env, runner, &hosts)
    }
}

/// Runs `release`.
pub async fn run(args: &ReleaseArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = RunContext::from_env(env)?;
    let tags = super::record::tag_edits(&args.versions, env)?;
    let s = args.common.settings(Kind::Release, &args.environment, tags, &ctx, env)?;
    let (forge, registries, target) = args.common.connect(&s, &ctx, env, runner).await?;
    execute(&forge, &registries, &target, &s, runner, None).await
}

/// An approval already given (`approve`): who, where, and the digests that were approved.
#[derive(Clone, Debug)]
pub struct Approved {
    /// The approver.
    pub by: String,
    /// The approval issue.
    pub url: String,
    /// `(service, digest)` as shown in the issue.
    pub digests: Vec<(String, Option<String>)>,
}

/// Verify → gate → apply, reporting each step; shared by `release`, `rollback`, `promote`
/// and `approve` (which passes the approval it checked instead of gating again).
pub async fn execute<T: Target>(
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
    Ok(applied_report(s, &applied?))
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

fn applied_report(s: &Settings, a: &Applied) -> Report {
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
    if !a.commit_sha.is_empty() {
        summary.push_str(&format!("\n`{}` commit: `{}`\n", s.env_file, a.commit_sha));
    }
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
