//! What a release is asked to do: its kind, the gate, and the validated settings.

use crate::deploy::approval::{ApprovalKey, ApprovalPolicy, Waiting};
use crate::deploy::health::HealthCheck;
use crate::deploy::plan::{ImageMap, TagRules};
use crate::forge::RepoId;
use crate::versions::{DeployMeta, TagEdit};

/// Which command runs the release (it changes the guard and the messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// New versions.
    Release,
    /// Older versions on purpose: no downgrade guard.
    Rollback,
    /// Versions live on another environment.
    Promote,
}

impl Kind {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Release => "release",
            Kind::Rollback => "rollback",
            Kind::Promote => "promote",
        }
    }

    /// The kind [`Kind::name`] spells `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        [Kind::Release, Kind::Rollback, Kind::Promote].into_iter().find(|k| k.name() == name)
    }
}

/// How production is protected (the `approval` input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Approval {
    /// The forge's environment protection where it has one, else the approval issue.
    Auto,
    /// The forge's environment protection (GitHub required reviewers or wait timer).
    Environment,
    /// The approval issue.
    Issue,
    /// No gate (a protected environment then needs `allow-unprotected`).
    None,
}

/// Whether the approval issue is waited for in the step or answered by `approve` (the
/// `approval-mode` input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ApprovalMode {
    /// The step polls the issue until decided.
    Wait,
    /// The step ends after opening the issue; `command: approve` continues.
    Resume,
}

/// The production gate's settings.
#[derive(Clone, Debug)]
pub struct Gate {
    /// How.
    pub approval: Approval,
    /// Wait or resume.
    pub mode: ApprovalMode,
    /// Environments that need protection.
    pub protected: Vec<String>,
    /// Who may approve the issue.
    pub policy: ApprovalPolicy,
    /// Signs the approval issue's request (required for `resume`).
    pub key: Option<ApprovalKey>,
    /// How long and how often to poll.
    pub waiting: Waiting,
    /// Deploy a protected environment without protection.
    pub allow_unprotected: bool,
}

/// Validated settings of one release.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The command.
    pub kind: Kind,
    /// Target environment.
    pub environment: String,
    /// The requested tags.
    pub tags: Vec<TagEdit>,
    /// Where each service's image lives.
    pub images: ImageMap,
    /// The orchestration repository.
    pub repo: RepoId,
    /// Its branch.
    pub branch: String,
    /// The versions file in it.
    pub env_file: String,
    /// Who and which run.
    pub meta: DeployMeta,
    /// Deploy an image built from an older commit than the running one.
    pub allow_downgrade: bool,
    /// Restore the previous versions when the deploy or health check fails.
    pub rollback_on_failure: bool,
    /// Tags each environment accepts.
    pub tag_rules: TagRules,
    /// The production gate.
    pub gate: Gate,
    /// Health checks after the deploy.
    pub health: Vec<HealthCheck>,
    /// URL of the deployed application (deployment status).
    pub environment_url: Option<String>,
    /// The forge's web address (`https://github.com`), for links in the summary.
    pub server_url: String,
}

impl Settings {
    /// Whether this environment needs protection.
    pub fn is_protected(&self) -> bool {
        self.gate.protected.iter().any(|p| p == &self.environment)
    }
}
