//! The arguments and wiring `release`, `rollback`, `promote` and `approve` share: where the
//! versions live, the registry, the gate, the deploy target and the health checks, validated
//! into [`Settings`] before anything is contacted.

use super::forge_args::ForgeArgs;
use super::push::RegistryArgs;
use super::shared_args::{RunArgs, VersionsRepoArgs};
use crate::context::RunContext;
use crate::deploy::approval::{ApprovalKey, ApprovalPolicy, Approver, Waiting};
use crate::deploy::health::HealthCheck;
use crate::deploy::plan::{ImageMap, TagRules};
use crate::deploy::release::{Approval, ApprovalMode, Gate, Kind, Settings};
use crate::deploy::targets::args::TargetArgs;
use crate::deploy::targets::inputs::{http_status, http_url};
use crate::deploy::targets::{AnyTarget, TargetKind};
use crate::env::EnvMap;
use crate::forge::AnyForge;
use crate::registry::Registries;
use crate::runner::Runner;
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
                let per_host = u.contains(crate::deploy::health::HOST_PLACEHOLDER);
                if per_host && self.target.target != Some(TargetKind::ComposeSsh) {
                    return Err(InputError::new(
                        "health-url",
                        &u,
                        "names `{host}`, which only target compose-ssh fills in (with each host it deployed)",
                    ));
                }
                http_url("health-url", &u.replace(crate::deploy::health::HOST_PLACEHOLDER, "host.example"))?;
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
                now: crate::tags::TagsOptions::from_env(env)?.now,
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
            server_url: ctx.server_url.clone(),
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
        // The `username`/`password` pair: for the first service's image registry.
        let first = s
            .tags
            .iter()
            .filter_map(|t| s.images.image_for(&t.service))
            .find_map(|i| crate::registry::Reference::parse(&format!("{i}:x")).ok().map(|r| r.registry));
        self.registry.registries(env, runner, first.as_deref())
    }
}
