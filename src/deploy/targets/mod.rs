//! Deploy targets: where a rollout goes once `.env.versions` is recorded. One small trait,
//! one implementation per `target` input value (`compose-ssh`, `swarm`, `dokploy`, `command`, `none`),
//! and [`AnyTarget`], the one the inputs chose ([`args::TargetArgs::target`]).

pub(crate) mod args;
pub(crate) mod command;
pub(crate) mod compose_ssh;
pub(crate) mod compose_ssh_script;
pub(crate) mod dokploy;
pub(crate) mod inputs;
pub(crate) mod none;
pub(crate) mod process;
pub(crate) mod swarm;
pub(crate) mod swarm_spec;
pub(crate) mod swarm_tunnel;

use crate::deploy::health::{self, HealthCheck};
use crate::envfile::EnvFile;
use crate::settings::InputError;
use crate::versions::TagEdit;
use std::future::Future;

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
    /// The digest `new` was verified to resolve to in the registry (release, rollback,
    /// promote), when known.
    pub digest: Option<String>,
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
pub(crate) enum TargetError {
    /// The target refused or failed; the message names the host/API and what it said.
    #[error("{target}: {message}")]
    Failed {
        /// Target name (`compose-ssh`, `swarm`, `dokploy`, `command`).
        target: &'static str,
        /// What went wrong, secrets redacted.
        message: String,
    },
}

impl TargetError {
    /// A [`TargetError::Failed`] of `target`; `message` is redacted here.
    pub(crate) fn failed(target: &'static str, message: impl Into<String>) -> Self {
        TargetError::Failed { target, message: crate::secret::redact(&message.into()) }
    }
}

impl Rollout {
    /// The rollout of `tags` onto the versions file `current` (read, not written): `versions`
    /// is the file after the edits, `changed` the tags that differ from the file's.
    pub fn from_tags(
        environment: &str,
        current: &EnvFile,
        tags: &[TagEdit],
        rollback: bool,
    ) -> Result<Rollout, InputError> {
        let mut after = current.clone();
        let edits: Vec<(&str, &str)> = tags.iter().map(|t| (t.key.as_str(), t.tag.as_str())).collect();
        after.apply(&edits)?;
        let changed = tags
            .iter()
            .filter(|t| current.get(&t.key) != Some(t.tag.as_str()))
            .map(|t| ServiceChange {
                service: t.service.clone(),
                key: t.key.clone(),
                old: current.get(&t.key).map(str::to_owned),
                new: t.tag.clone(),
                image: None,
                digest: None,
            })
            .collect();
        let mut versions: Vec<(String, String)> = Vec::new();
        for (k, v) in after.entries() {
            // Last occurrence wins, as in the file's own reading; keep the first position.
            match versions.iter_mut().find(|(key, _)| key == k) {
                Some(entry) => entry.1 = v.to_owned(),
                None => versions.push((k.to_owned(), v.to_owned())),
            }
        }
        Ok(Rollout { environment: environment.to_owned(), versions, changed, rollback })
    }
}

/// A place a rollout can be deployed to.
pub(crate) trait Target: Sync {
    /// The `target` input value of this implementation.
    fn name(&self) -> &'static str;

    /// Deploys `rollout`; `progress` receives one line per step for the job log.
    fn deploy(
        &self,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Deploys `rollout`, then runs `checks`; the error says `deploy failed: …` or
    /// `health check failed: …`. A multi-host target (`compose-ssh`) checks each host after
    /// its deploy (the checks naming [`health::HOST_PLACEHOLDER`]) before the next host.
    fn deploy_checked(
        &self,
        rollout: &Rollout,
        checks: &[HealthCheck],
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> impl Future<Output = Result<(), String>> + Send {
        async move {
            self.deploy(rollout, progress).await.map_err(|e| format!("deploy failed: {e}"))?;
            health::check_all(checks, progress).await
        }
    }
}

/// Which target the `target` input names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// `docker compose` on a host over SSH.
    ComposeSsh,
    /// Docker Swarm services through a manager's Engine API.
    Swarm,
    /// Dokploy compose apps through its API.
    Dokploy,
    /// A command of the user's.
    Command,
    /// Nothing is deployed (record only).
    None,
}

impl TargetKind {
    /// The name as the input spells it.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::ComposeSsh => "compose-ssh",
            TargetKind::Swarm => "swarm",
            TargetKind::Dokploy => "dokploy",
            TargetKind::Command => "command",
            TargetKind::None => "none",
        }
    }
}

/// The target the inputs chose.
#[derive(Clone, Debug)]
pub enum AnyTarget {
    /// `compose-ssh`.
    ComposeSsh(compose_ssh::ComposeSsh),
    /// `swarm`.
    Swarm(swarm::Swarm),
    /// `dokploy`.
    Dokploy(dokploy::Dokploy),
    /// `command`.
    Command(command::CommandTarget),
    /// `none`.
    None(none::NoTarget),
}

impl AnyTarget {
    /// Sets the expected status, body, timeout and interval of the per-app health checks a
    /// target runs itself (dokploy's `id=URL` lines); other targets ignore it.
    pub fn set_health(&mut self, template: crate::deploy::health::HealthCheck) {
        if let AnyTarget::Dokploy(d) = self {
            d.health = template;
        }
    }
}

impl Target for AnyTarget {
    fn name(&self) -> &'static str {
        match self {
            AnyTarget::ComposeSsh(t) => t.name(),
            AnyTarget::Swarm(t) => t.name(),
            AnyTarget::Dokploy(t) => t.name(),
            AnyTarget::Command(t) => t.name(),
            AnyTarget::None(t) => t.name(),
        }
    }

    async fn deploy(
        &self,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        match self {
            AnyTarget::ComposeSsh(t) => t.deploy(rollout, progress).await,
            AnyTarget::Swarm(t) => t.deploy(rollout, progress).await,
            AnyTarget::Dokploy(t) => t.deploy(rollout, progress).await,
            AnyTarget::Command(t) => t.deploy(rollout, progress).await,
            AnyTarget::None(t) => t.deploy(rollout, progress).await,
        }
    }

    async fn deploy_checked(
        &self,
        rollout: &Rollout,
        checks: &[HealthCheck],
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), String> {
        match self {
            AnyTarget::ComposeSsh(t) => t.deploy_checked(rollout, checks, progress).await,
            AnyTarget::Swarm(t) => t.deploy_checked(rollout, checks, progress).await,
            AnyTarget::Dokploy(t) => t.deploy_checked(rollout, checks, progress).await,
            AnyTarget::Command(t) => t.deploy_checked(rollout, checks, progress).await,
            AnyTarget::None(t) => t.deploy_checked(rollout, checks, progress).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_lists_all_versions_and_only_changed_services() {
        let file = EnvFile::parse("# tags\nAPI_IMAGE_TAG=1.0\nWEB_IMAGE_TAG=2.0\n");
        let tags = crate::versions::edits_from_map("versions", "api=1.1, web=2.0, worker=0.1").unwrap();
        let r = Rollout::from_tags("staging", &file, &tags, false).unwrap();
        let keys: Vec<&str> = r.versions.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["API_IMAGE_TAG", "WEB_IMAGE_TAG", "WORKER_IMAGE_TAG"]);
        assert_eq!(r.versions[0].1, "1.1");
        let changed: Vec<(&str, Option<&str>)> =
            r.changed.iter().map(|c| (c.service.as_str(), c.old.as_deref())).collect();
        assert_eq!(changed, [("api", Some("1.0")), ("worker", None)]);
    }
}
