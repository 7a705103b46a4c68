//! `dokploy`: for each compose app, in order and each only after the one before succeeded:
//! read its environment (`compose.one`), set the changed `<SERVICE>_IMAGE_TAG` keys in it
//! (every other byte kept), write it back (`compose.update`), queue a deploy
//! (`compose.deploy`), follow that deployment in `deployment.allByCompose` until `done` or
//! `error` (up to `dokploy-timeout`), report what its containers run, then its health check.
//! Routes, fields and versions: [`api`] and [`model`].

mod api;
mod model;

use super::{Rollout, Target, TargetError};
use crate::deploy::health::{HealthCheck, wait_healthy};
use crate::secret::Secret;
use api::{Api, CallError, Input};
use model::{Compose, ContainerRow, Deployment, Inspect, Phase, Running};
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NAME: &str = "dokploy";
/// First pause between two looks at the deployment list; it grows to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(2);

/// One compose app of Dokploy, and the URL that says it runs the new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DokployCompose {
    /// Dokploy's `composeId`.
    pub id: String,
    /// Health URL polled after the deployment is `done`; none: no check.
    pub health_url: Option<String>,
}

/// A Dokploy instance and the apps to deploy.
#[derive(Clone, Debug)]
pub struct Dokploy {
    api: Api,
    /// Apps in deploy order.
    pub composes: Vec<DokployCompose>,
    /// Status, body match, timeout and interval of the per-app health checks (its URL is unused).
    pub health: HealthCheck,
    /// Longest wait for one deployment to end (`dokploy-timeout`).
    pub timeout: Duration,
    /// Composes whose environment this process wrote, so the automatic rollback of its
    /// release restores those only (a requested rollback, in a new process, writes all).
    written: Arc<Mutex<Vec<String>>>,
}

impl Dokploy {
    /// A client for `url`; deployments may take 10 minutes, health checks 5.
    pub fn new(url: &str, api_key: Secret, composes: Vec<DokployCompose>) -> Result<Self, reqwest::Error> {
        Ok(Dokploy {
            api: Api::new(url, api_key)?,
            composes,
            health: HealthCheck::new("", Duration::from_secs(300)),
            timeout: Duration::from_secs(600),
            written: Arc::default(),
        })
    }

    fn fail(&self, message: String) -> TargetError {
        TargetError::failed(NAME, message)
    }

    /// The error of a failed call of `route` for compose `id`, saying what to fix.
    fn explain(&self, route: &str, id: &str, e: CallError) -> TargetError {
        let url = crate::secret::redact_url(&self.api.route_url(route));
        let base = crate::secret::redact_url(&self.api.base);
        self.fail(match e {
            CallError::Status { status: 401, message, .. } if message.starts_with("Unauthorized") => format!(
                "{url} answered 401 {message}: Dokploy refused the `api-key` input (wrong, revoked or expired \
                 key). Create one in Dokploy under Settings → Profile → API/CLI keys and pass it as a secret"
            ),
            CallError::Status { status: status @ (401 | 403), message, .. } => format!(
                "{url} answered {status} for compose {id}: {message}. The user of the `api-key` input lacks a \
                 permission or access to this compose (Dokploy: Settings → Users)"
            ),
            CallError::Status { status: 404, message, .. } if message.starts_with("Compose not found") => {
                format!(
                    "compose {id} of `dokploy-compose-ids` does not exist on {base} ({url} answered 404 \
                     {message}); the id is the last part of the compose's URL in Dokploy"
                )
            }
            CallError::Status { status: 404, message, .. } => format!(
                "{url} answered 404 {message}: `dokploy-url` is not the base URL of a Dokploy (v0.19.0 or \
                 later) serving /api/{route}"
            ),
            CallError::Status { status, message, .. } => {
                format!("{url} answered {status} for compose {id}: {message}")
            }
            CallError::Tls(detail) => format!(
                "TLS failure talking to {base}: {detail}. Check that `dokploy-url` serves HTTPS on that \
                 port and that its certificate is valid for the host and trusted by this system"
            ),
            CallError::Unreachable(detail) => format!("cannot reach {base} ({url}): {detail}"),
            CallError::Other(detail) => format!("{detail} (compose {id})"),
        })
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        route: &str,
        id: &str,
        input: Input<'_>,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<T, TargetError> {
        self.api.call(route, input, progress).await.map_err(|e| self.explain(route, id, e))
    }

    /// Rolls `rollout` out to compose `c`: environment, deploy, deployment, health.
    async fn deploy_compose(
        &self,
        c: &DokployCompose,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        let id = c.id.as_str();
        let by_id = [("composeId", id)];
        let compose: Option<Compose> = self.call("compose.one", id, Input::Query(&by_id), progress).await?;
        let compose =
            compose.ok_or_else(|| self.fail(format!("compose.one answered nothing for compose {id}")))?;
        let shown = format!("compose {id} ({})", compose.name);
        let written = self.written.lock().expect("not poisoned").clone();
        let undo = rollout.rollback && !written.is_empty();
        if undo && !written.contains(&c.id) {
            progress(&format!("dokploy: {shown}: the release did not change it; not redeployed"));
            return Ok(());
        }
        let edit = model::edit_env(id, compose.env.as_deref().unwrap_or(""), &rollout.changed, undo)
            .map_err(|e| self.fail(e))?;
        if edit.changes.is_empty() {
            if undo {
                progress(&format!("dokploy: {shown} no longer holds the tags being undone; not redeployed"));
                return Ok(());
            }
            progress(&format!("dokploy: {shown} already holds these tags; deploying it again"));
        } else {
            if !rollout.rollback {
                self.written.lock().expect("not poisoned").push(c.id.clone());
            }
            let body = json!({ "composeId": id, "env": edit.text });
            let updated: Option<Compose> =
                self.call("compose.update", id, Input::Mutation(&body), progress).await?;
            match updated {
                Some(u) if u.env.as_deref().is_none_or(|e| e == edit.text) => {}
                Some(_) => {
                    return Err(self.fail(format!(
                        "compose.update of {shown} kept another environment than the one sent"
                    )));
                }
                None => {
                    return Err(
                        self.fail(format!("compose.update answered nothing for {shown}: not updated"))
                    );
                }
            }
            let what: Vec<String> = edit
                .changes
                .iter()
                .map(|ch| format!("{}={} (was {})", ch.key, ch.new, ch.old.as_deref().unwrap_or("unset")))
                .collect();
            progress(&format!("dokploy: {shown}: environment set {}", what.join(", ")));
        }
        let before: Vec<Deployment> =
            self.call("deployment.allByCompose", id, Input::Query(&by_id), progress).await?;
        let before: HashSet<String> = before.into_iter().map(|d| d.deployment_id).collect();
        let marker = format!("deploy-action {:016x}", rand::random::<u64>());
        let body = json!({
            "composeId": id,
            "title": model::title(&rollout.changed, rollout.rollback),
            "description": format!("{}; {marker}", rollout.environment),
        });
        let _: serde_json::Value = self.call("compose.deploy", id, Input::Mutation(&body), progress).await?;
        progress(&format!("dokploy: {shown}: deploy queued"));
        let started = Instant::now();
        let d = self.follow(id, &before, &marker, progress).await?;
        let log = d.log_path.as_deref().filter(|p| !p.is_empty()).unwrap_or("(none)");
        let tab = model::dashboard_url(&self.api.base, id, &compose);
        let tab = tab.map(|u| format!("; {u}")).unwrap_or_default();
        match d.phase() {
            Phase::Done => progress(&format!(
                "dokploy: {shown}: deployment {} done after {:.1?} (log on the Dokploy host: {log}{tab})",
                d.deployment_id,
                started.elapsed()
            )),
            Phase::Failed(status) => {
                let why = d.error_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
                return Err(self.fail(format!(
                    "{shown}: deployment {} ended `{status}`{why} (its log on the Dokploy host: {log}{tab})",
                    d.deployment_id
                )));
            }
            Phase::Running => unreachable!("follow returns ended deployments"),
        }
        self.report_running(id, &shown, &compose, rollout, progress).await?;
        let Some(health) = &c.health_url else { return Ok(()) };
        let check = HealthCheck { url: health.clone(), ..self.health.clone() };
        let client = reqwest::Client::new();
        let healthy = wait_healthy(&client, &check, |l| progress(&format!("dokploy: {l}")))
            .await
            .map_err(|e| self.fail(format!("{shown}: {e}")))?;
        progress(&format!(
            "dokploy: {shown} healthy after {:.1?} ({} checks)",
            healthy.elapsed, healthy.attempts
        ));
        Ok(())
    }

    /// Polls the compose's deployments until ours has ended, up to [`Dokploy::timeout`].
    async fn follow(
        &self,
        id: &str,
        before: &HashSet<String>,
        marker: &str,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Deployment, TargetError> {
        let start = Instant::now();
        let mut wait = POLL_FIRST;
        let mut said_running = false;
        loop {
            let by_id = [("composeId", id)];
            let list: Vec<Deployment> =
                self.call("deployment.allByCompose", id, Input::Query(&by_id), progress).await?;
            let ours = model::find_ours(&list, before, marker);
            match ours {
                Some(d) if d.phase() != Phase::Running => return Ok(d.clone()),
                Some(d) if !said_running => {
                    said_running = true;
                    let log = d.log_path.as_deref().unwrap_or("(none)");
                    progress(&format!(
                        "dokploy: compose {id}: deployment {} running (log: {log})",
                        d.deployment_id
                    ));
                }
                _ => {}
            }
            if start.elapsed() + wait > self.timeout {
                let state = match ours {
                    Some(d) => format!("deployment {} is still running", d.deployment_id),
                    None => "Dokploy has not started the deployment (still queued)".to_owned(),
                };
                return Err(self.fail(format!(
                    "compose {id}: {state} after {}s (`dokploy-timeout`); it goes on in Dokploy",
                    self.timeout.as_secs()
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 3 / 2).min(POLL_MAX);
        }
    }

    /// Logs what the compose's running containers run, as far as Dokploy's API tells; fails
    /// only when a container of a changed image runs another tag.
    async fn report_running(
        &self,
        id: &str,
        shown: &str,
        compose: &Compose,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        const NO_DIGESTS: &str = "Dokploy does not report running digests";
        if compose.compose_type.as_deref() == Some("stack") {
            progress(&format!("dokploy: {shown} is a stack; {NO_DIGESTS} nor the images of its tasks"));
            return Ok(());
        }
        let running = match self.running(id, shown, compose, progress).await {
            Ok(r) if r.is_empty() => {
                progress(&format!("dokploy: {shown}: Dokploy lists no running container; {NO_DIGESTS}"));
                return Ok(());
            }
            Ok(r) => r,
            Err(e) => {
                progress(&format!("dokploy: {shown}: what runs is unknown ({e}); {NO_DIGESTS}"));
                return Ok(());
            }
        };
        let list: Vec<String> =
            running.iter().map(|r| format!("{} {} (image id {})", r.service, r.image, r.image_id)).collect();
        progress(&format!(
            "dokploy: {shown} runs {}; {NO_DIGESTS}: the references are checked (an image id is the host's own)",
            list.join(", ")
        ));
        let wrong = model::contradictions(&running, &rollout.changed);
        if wrong.is_empty() {
            return Ok(());
        }
        Err(self.fail(format!("{shown}: after the deployment, {}", wrong.join("; "))))
    }

    /// The compose's running containers (`docker.getContainersByAppNameMatch`, then
    /// `docker.getConfig`, i.e. `docker inspect`, for each).
    async fn running(
        &self,
        id: &str,
        shown: &str,
        compose: &Compose,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Vec<Running>, TargetError> {
        let server = compose.server_id.clone().unwrap_or_default();
        let on_server = |mut params: Vec<(&'static str, String)>| {
            if !server.is_empty() {
                params.push(("serverId", server.clone()));
            }
            params
        };
        let params =
            on_server(vec![("appName", compose.app_name.clone()), ("appType", "docker-compose".into())]);
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let rows: Option<Vec<ContainerRow>> =
            self.call("docker.getContainersByAppNameMatch", id, Input::Query(&params), progress).await?;
        let mut running = Vec::new();
        for row in rows.unwrap_or_default().iter().filter(|r| r.state == "running") {
            let params = on_server(vec![("containerId", row.container_id.clone())]);
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let inspect: Option<Inspect> =
                self.call("docker.getConfig", id, Input::Query(&params), progress).await?;
            let Some(i) = inspect else {
                progress(&format!("dokploy: {shown}: no config for container {}", row.name));
                continue;
            };
            let service = i.config.labels.get("com.docker.compose.service").cloned();
            running.push(Running {
                service: service.unwrap_or_else(|| row.name.clone()),
                image: i.config.image,
                image_id: i.image_id,
            });
        }
        Ok(running)
    }
}

impl Target for Dokploy {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn deploy(
        &self,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        for c in &self.composes {
            self.deploy_compose(c, rollout, progress).await?;
        }
        Ok(())
    }
}
