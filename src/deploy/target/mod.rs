//! Deploy targets: where a rollout goes once `.env.versions` is recorded. One small trait,
//! one implementation per `target` input value (`compose-ssh`, `dokploy`, `command`, `none`).

/// One service whose image tag changes in a rollout.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ServiceChange {
    /// Service name as the inputs spell it (`api` from `api_image_tag`).
    pub service: String,
    /// Its key in the versions file (`API_IMAGE_TAG`).
    pub key: String,
    /// The tag deployed before (`None` when the key is new).
    pub old: Option<String>,
    /// The tag to deploy.
    pub new: String,
    /// The image reference without tag, when known (`ghcr.io/org/api`).
    pub image: Option<String>,
}

/// What a target is asked to roll out.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rollout {
    /// Environment name (`staging`, `production`).
    pub environment: String,
    /// Every `KEY=VALUE` of the versions file after the change, in file order.
    pub versions: Vec<(String, String)>,
    /// The services whose tag changes, in input order.
    pub changed: Vec<ServiceChange>,
    /// This rollout restores older versions (automatic or requested rollback).
    pub rollback: bool,
}

/// Why a target could not roll out.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The target refused or failed; the message names the host/API and what it said.
    #[error("{target}: {message}")]
    Failed {
        /// Target name (`compose-ssh`, `dokploy`, `command`).
        target: &'static str,
        /// What went wrong, secrets redacted.
        message: String,
    },
}

/// A place a rollout can be deployed to.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// The `target` input value of this implementation.
    fn name(&self) -> &'static str;

    /// Deploys `rollout`; `progress` receives one line per step for the job log.
    async fn deploy(
        &self,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError>;
}
