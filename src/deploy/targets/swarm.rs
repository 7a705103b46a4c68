//! `swarm`: update Docker Swarm services through the Engine API of a manager node
//! (`unix://` socket or `tcp://`), one changed service after the other: the image is set to
//! `repo:tag@digest` in the service's own spec (`POST /services/{id}/update?version=N`), the
//! update is followed through `UpdateStatus` until swarm says `completed` (or rolled back or
//! paused: a failure), then the running tasks are listed and must run the released digest.
//! Routes and answers as Docker Engine 20.10.24 (API 1.41) serves them.

use super::swarm_spec::{self as spec, Task, Update};
use super::swarm_tunnel::SshTunnel;
use super::{Rollout, ServiceChange, Target, TargetError};
use crate::builder::docker::{Engine, EngineError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NAME: &str = "swarm";
/// Longest wait for one Engine API answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Re-reads of the spec after `update out of sequence` (another writer bumped the version).
const SEQUENCE_RETRIES: usize = 5;

/// A swarm manager and how our services are named in it.
#[derive(Clone, Debug)]
pub struct Swarm {
    /// The manager's Engine API (unused with `tunnel`).
    pub engine: Engine,
    /// Reach the manager's socket through SSH instead.
    pub tunnel: Option<SshTunnel>,
    /// Service → swarm service name, where given.
    pub services: BTreeMap<String, String>,
    /// Stack name: services are `<stack>_<service>` unless named in `services`.
    pub stack: Option<String>,
    /// How long one service may take to update and run its new tasks.
    pub timeout: Duration,
    /// Pause between two reads of a service or its tasks.
    pub poll: Duration,
}

fn failed(message: impl Into<String>) -> TargetError {
    TargetError::failed(NAME, message)
}

fn engine_failed(e: EngineError) -> TargetError {
    failed(e.to_string())
}

impl Swarm {
    /// One Engine API call off the async runtime; the answer's JSON (`null` when empty).
    async fn call(
        &self,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, EngineError> {
        let engine = self.engine.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let bytes = body.map(|b| b.to_string().into_bytes());
            let mut reader = bytes.as_deref().unwrap_or_default();
            let len = reader.len() as u64;
            let body: crate::builder::engine_http::Body = match bytes {
                Some(_) => Some((&mut reader, len, "application/json")),
                None => None,
            };
            let text = engine.request(method, &path, body, CALL_TIMEOUT)?.text();
            Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(EngineError::Io { request: format!("{method} (task)"), source: std::io::Error::other(e) })
        })
    }

    async fn service(&self, name: &str) -> Result<Value, TargetError> {
        match self.call("GET", format!("/services/{name}"), None).await {
            Err(EngineError::Refused { status: 404, message, .. }) => Err(failed(format!(
                "{}: no service {name} ({message}); create it first (`docker stack deploy`, `docker service \
                 create`) or name it in `swarm-services`",
                self.engine.host()
            ))),
            r => r.map_err(engine_failed),
        }
    }

    async fn running_tasks(&self, name: &str) -> Result<Vec<Task>, TargetError> {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("filters", &spec::task_filter(name))
            .finish();
        Ok(spec::tasks(&self.call("GET", format!("/tasks?{q}"), None).await.map_err(engine_failed)?))
    }

    /// The digest `repo:tag` resolves to, as the manager sees it (`GET /distribution/{name}/json`).
    async fn resolve(&self, repo: &str, tag: &str) -> Result<String, TargetError> {
        let answer = self
            .call("GET", format!("/distribution/{repo}:{tag}/json"), None)
            .await
            .map_err(engine_failed)?;
        answer
            .pointer("/Descriptor/digest")
            .and_then(|d| d.as_str())
            .map(str::to_owned)
            .ok_or_else(|| failed(format!("the manager could not resolve {repo}:{tag} to a digest")))
    }

    /// Posts the service's spec with `image`; on `update out of sequence` re-reads and retries.
    /// Returns the engine's `Warnings`.
    async fn update(&self, name: &str, mut service: Value, image: &str) -> Result<Vec<String>, TargetError> {
        for attempt in 1..=SEQUENCE_RETRIES {
            let version = service.pointer("/Version/Index").and_then(|v| v.as_u64()).unwrap_or(0);
            let mut body = service["Spec"].clone();
            body["TaskTemplate"]["ContainerSpec"]["Image"] = Value::String(image.to_owned());
            let path = format!("/services/{name}/update?version={version}");
            match self.call("POST", path, Some(body)).await {
                Ok(answer) => {
                    let warnings = answer["Warnings"].as_array().into_iter().flatten();
                    return Ok(warnings.filter_map(|w| w.as_str().map(str::to_owned)).collect());
                }
                Err(EngineError::Refused { message, .. })
                    if message.contains("out of sequence") && attempt < SEQUENCE_RETRIES =>
                {
                    service = self.service(name).await?;
                }
                Err(e) => return Err(engine_failed(e)),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Follows `UpdateStatus` until swarm is done with the update, or `deadline`.
    async fn follow(
        &self,
        name: &str,
        before: Option<&str>,
        deadline: Instant,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Value, TargetError> {
        let mut said = String::new();
        loop {
            let service = self.service(name).await?;
            let state = spec::update_state(&service, before);
            match &state {
                Update::Completed | Update::Failed { .. } => return Ok(service),
                Update::Running(s) if *s != said => {
                    progress(&format!("swarm: {name}: {s}"));
                    said.clone_from(s);
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(failed(format!(
                    "{name}: the update did not finish in {:?} (last state: {state:?})",
                    self.timeout
                )));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Waits (until `deadline`) for the wanted tasks to run, and, with `want`, each to run it.
    async fn settle(
        &self,
        name: &str,
        wanted: u64,
        want: Option<&str>,
        deadline: Instant,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Vec<Task>, TargetError> {
        let mut said = String::new();
        loop {
            let tasks = self.running_tasks(name).await?;
            let done =
                spec::settled(&tasks, wanted) && want.is_none_or(|d| spec::wrong_digest(&tasks, d).is_none());
            if done || Instant::now() >= deadline {
                return Ok(tasks);
            }
            let states: Vec<&str> = tasks.iter().map(|t| t.state.as_str()).collect();
            let now = format!("waiting for {wanted} running task(s), now: [{}]", states.join(", "));
            if now != said {
                progress(&format!("swarm: {name}: {now}"));
                said = now;
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn deploy_one(
        &self,
        change: &ServiceChange,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        let deadline = Instant::now() + self.timeout;
        let name = spec::service_name(&change.service, &self.services, self.stack.as_deref());
        let service = self.service(&name).await?;
        let current = service
            .pointer("/Spec/TaskTemplate/ContainerSpec/Image")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let repo =
            change.image.as_deref().map(spec::repository).unwrap_or_else(|| spec::repository(&current));
        if repo.is_empty() {
            return Err(failed(format!(
                "{name}: its spec names no image and `images` names none for {}",
                change.service
            )));
        }
        let digest = match &change.digest {
            Some(d) => d.clone(),
            None => self.resolve(repo, &change.new).await?,
        };
        let image = spec::pinned(repo, &change.new, &digest);
        let mut failure = None;
        let mut wait_until = deadline;
        if current == image {
            progress(&format!("swarm: {name} already has {image} in its spec; checking its tasks"));
        } else {
            progress(&format!("swarm: {name}: {current} → {image}"));
            let before = spec::update_started(&service);
            for warning in self.update(&name, service, &image).await? {
                progress(&format!("swarm: {name}: the engine warns: {warning}"));
            }
            let done = self.follow(&name, before.as_deref(), deadline, progress).await?;
            if let Update::Failed { state, message } = spec::update_state(&done, None) {
                // A paused update restores nothing: no use waiting for its tasks.
                if state != "rollback_completed" {
                    wait_until = Instant::now();
                }
                failure = Some(format!("{name}: swarm reports {state}: {message}"));
            }
        }
        let service = self.service(&name).await?;
        let wanted = spec::wanted_tasks(&service);
        // After a rollback the restored task may still be starting: wait for it too.
        let expect = failure.is_none().then_some(digest.as_str());
        let tasks = self.settle(&name, wanted, expect, wait_until, progress).await?;
        for t in &tasks {
            progress(&format!("swarm: {name}: task {} {} {}", t.id, t.state, t.image));
        }
        if let Some(f) = failure {
            let running: Vec<&str> = tasks.iter().map(|t| t.image.as_str()).collect();
            return Err(failed(format!("{f}; its tasks run {}", running.join(", "))));
        }
        if !spec::settled(&tasks, wanted) {
            return Err(failed(format!(
                "{name}: {} of {wanted} task(s) running after {:?}",
                tasks.iter().filter(|t| t.state == "running").count(),
                self.timeout
            )));
        }
        if let Some(wrong) = spec::wrong_digest(&tasks, &digest) {
            return Err(failed(format!("{name}: {wrong}")));
        }
        progress(&format!("swarm: {name} runs {} {digest} in {} task(s)", change.new, tasks.len()));
        Ok(())
    }
}

impl Target for Swarm {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn deploy(
        &self,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        if rollout.changed.is_empty() {
            progress("swarm: no service changed: nothing updated");
            return Ok(());
        }
        let Some(tunnel) = &self.tunnel else {
            for change in &rollout.changed {
                self.deploy_one(change, progress).await?;
            }
            return Ok(());
        };
        progress(&format!("swarm: ssh tunnel to {} on {}", tunnel.socket, tunnel.destination()));
        let open = tunnel.open().await?;
        let through = Swarm { engine: open.engine.clone(), tunnel: None, ..self.clone() };
        let ping = through.call("GET", "/_ping".into(), None).await;
        if let Err(e) = ping {
            return Err(failed(format!(
                "the ssh tunnel to {} is up, but {} there does not answer as an Engine API ({e}); is it the \
                 socket of a running dockerd, and may {} use it?",
                tunnel.destination(),
                tunnel.socket,
                tunnel.user
            )));
        }
        for change in &rollout.changed {
            through.deploy_one(change, progress).await?;
        }
        drop(open);
        Ok(())
    }
}

#[cfg(test)]
#[path = "swarm_tests.rs"]
mod tests;
