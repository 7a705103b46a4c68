//! Pure parts of the `swarm` target: the `swarm-host` and `swarm-stack` syntax, image
//! references, which swarm service a service is, and what the Engine API's service and task
//! objects say (`GET /services/{id}`, `GET /tasks`, API 1.41, as Docker 20.10.24 answers them).

use super::inputs;
use crate::builder::docker::Engine;
use crate::settings::InputError;
use std::collections::BTreeMap;

/// `repo` of an image reference without its `:tag` and `@digest`
/// (`127.0.0.1:5000/org/api:v1@sha256:…` → `127.0.0.1:5000/org/api`).
pub(crate) fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    match no_digest[last_slash..].rfind(':') {
        Some(i) => &no_digest[..last_slash + i],
        None => no_digest,
    }
}

/// The `sha256:…` an image reference is pinned to, if any.
pub(crate) fn digest_of(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, d)| d).filter(|d| !d.is_empty())
}

/// `repo:tag@digest`, the reference the service spec gets.
pub(crate) fn pinned(repo: &str, tag: &str, digest: &str) -> String {
    format!("{repo}:{tag}@{digest}")
}

/// The swarm service a service of ours is: its `swarm-services` name, else `<stack>_<service>`
/// with `swarm-stack`, else the name itself.
pub(crate) fn service_name(service: &str, names: &BTreeMap<String, String>, stack: Option<&str>) -> String {
    match (names.get(service), stack) {
        (Some(n), _) => n.clone(),
        (None, Some(s)) => format!("{s}_{service}"),
        (None, None) => service.to_owned(),
    }
}

/// Where a service update stands (`UpdateStatus` of `GET /services/{id}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Update {
    /// No status yet, or still the one from before our update.
    Pending,
    /// `updating` or `rollback_started`: swarm is working.
    Running(String),
    /// `completed`.
    Completed,
    /// `rollback_completed`, `paused` or `rollback_paused`: the update failed.
    Failed { state: String, message: String },
}

/// `UpdateStatus.StartedAt` of a service, to tell our update's status from an older one.
pub(crate) fn update_started(service: &serde_json::Value) -> Option<String> {
    service.pointer("/UpdateStatus/StartedAt").and_then(|v| v.as_str()).map(str::to_owned)
}

/// Reads `UpdateStatus`; a status whose `StartedAt` is `before` (read before our update) is
/// an older update's, so still [`Update::Pending`].
pub(crate) fn update_state(service: &serde_json::Value, before: Option<&str>) -> Update {
    let Some(status) = service.get("UpdateStatus").filter(|s| !s.is_null()) else {
        return Update::Pending;
    };
    if before.is_some() && update_started(service).as_deref() == before {
        return Update::Pending;
    }
    let state = status["State"].as_str().unwrap_or("").to_owned();
    let message = status["Message"].as_str().unwrap_or("").to_owned();
    match state.as_str() {
        "completed" => Update::Completed,
        "rollback_completed" | "paused" | "rollback_paused" => Update::Failed { state, message },
        "" => Update::Pending,
        _ => Update::Running(state),
    }
}

/// How many running tasks the service wants: its replicas (`Spec.Mode.Replicated.Replicas`),
/// at least one for a global service.
pub(crate) fn wanted_tasks(service: &serde_json::Value) -> u64 {
    service.pointer("/Spec/Mode/Replicated/Replicas").and_then(|v| v.as_u64()).unwrap_or(1)
}

/// One task the orchestrator wants running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Task {
    /// Task id, shortened.
    pub id: String,
    /// `Status.State` (`running` only once a health check passed).
    pub state: String,
    /// `Spec.ContainerSpec.Image`, the reference the node runs.
    pub image: String,
}

/// The tasks of a `GET /tasks?filters={"desired-state":["running"],…}` answer.
pub(crate) fn tasks(answer: &serde_json::Value) -> Vec<Task> {
    let Some(list) = answer.as_array() else { return Vec::new() };
    list.iter()
        .map(|t| Task {
            id: t["ID"].as_str().unwrap_or("").chars().take(12).collect(),
            state: t.pointer("/Status/State").and_then(|v| v.as_str()).unwrap_or("").to_owned(),
            image: t.pointer("/Spec/ContainerSpec/Image").and_then(|v| v.as_str()).unwrap_or("").to_owned(),
        })
        .collect()
}

/// True when `wanted` tasks (or more) are wanted running and every one of them runs.
pub(crate) fn settled(tasks: &[Task], wanted: u64) -> bool {
    tasks.len() as u64 >= wanted && tasks.iter().all(|t| t.state == "running")
}

/// Why the running tasks are not the released image, or `None` when each runs `digest`.
pub(crate) fn wrong_digest(tasks: &[Task], digest: &str) -> Option<String> {
    let wrong: Vec<String> = tasks
        .iter()
        .filter(|t| digest_of(&t.image) != Some(digest))
        .map(|t| format!("task {} runs {}", t.id, if t.image.is_empty() { "no image" } else { &t.image }))
        .collect();
    (!wrong.is_empty()).then(|| format!("{} instead of {digest}", wrong.join(", ")))
}

/// The `filters` query value selecting the running tasks of `service`.
pub(crate) fn task_filter(service: &str) -> String {
    serde_json::json!({ "service": [service], "desired-state": ["running"] }).to_string()
}

/// What `swarm-host` names: an engine to dial, or one to reach through an SSH tunnel.
pub(crate) enum SwarmHost {
    /// `unix://` or `tcp://`.
    Engine(Engine),
    /// `ssh://`: the manager's `socket` through an SSH tunnel.
    Ssh {
        /// Login.
        user: String,
        /// Host, without brackets.
        host: String,
        /// SSH port.
        port: u16,
        /// The socket on the manager.
        socket: String,
    },
}

const SWARM_HOST_RULE: &str = "must be unix:///absolute/path, tcp://host:port or ssh://user@host[:port][/socket] \
     (DOCKER_HOST style)";

/// Parses `swarm-host`. Pure.
pub(crate) fn swarm_host(host: &str) -> Result<SwarmHost, InputError> {
    let bad = || InputError::new("swarm-host", host, SWARM_HOST_RULE);
    if !host.starts_with("ssh://") {
        return Engine::at(host).map(SwarmHost::Engine).ok_or_else(bad);
    }
    let url = url::Url::parse(host).map_err(|_| bad())?;
    if url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(InputError::new(
            "swarm-host",
            host,
            "must not hold a password, query or fragment: the key is `ssh-key`",
        ));
    }
    // The whole value in every error; the part's own rule after it.
    let part = |what: &str, e: InputError| {
        InputError::new("swarm-host", host, format!("has a {what} ({:?}) that {}", e.value, e.rule))
    };
    let name = url.host_str().ok_or_else(bad)?;
    let host_only = inputs::ssh_host("swarm-host", name).map_err(|e| part("host", e))?;
    let user = if url.username().is_empty() { "root" } else { url.username() };
    let user = inputs::ssh_user("swarm-host", user).map_err(|e| part("login", e))?;
    let port = inputs::port("swarm-host", url.port().unwrap_or(22)).map_err(|e| part("port", e))?;
    let socket = match url.path() {
        "" | "/" => "/var/run/docker.sock".to_owned(),
        p if p.starts_with('/') && !p.contains("..") => {
            inputs::compose_dir("swarm-host", p).map_err(|e| part("socket path", e))?
        }
        _ => return Err(bad()),
    };
    Ok(SwarmHost::Ssh { user, host: host_only, port, socket })
}

/// A stack name as `docker stack deploy` accepts it.
pub(crate) fn swarm_stack(stack: &str) -> Result<(), InputError> {
    let ok = stack.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && stack.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            "swarm-stack",
            stack,
            "must be letters, digits and `._-`, starting with a letter or digit",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_split_into_repository_and_digest() {
        let d = "sha256:b0561ec14b0f8cfda94df0b0c5f7cf8926409ceb095772202a5e1ae68981843d";
        let image = format!("127.0.0.1:5999/org/api:v1@{d}");
        assert_eq!(repository(&image), "127.0.0.1:5999/org/api");
        assert_eq!(repository("127.0.0.1:5999/org/api"), "127.0.0.1:5999/org/api");
        assert_eq!(repository("busybox:1.36"), "busybox");
        assert_eq!(digest_of(&image), Some(d));
        assert_eq!(digest_of("busybox:1.36"), None);
        assert_eq!(pinned("r/api", "v2", d), format!("r/api:v2@{d}"));
    }

    #[test]
    fn service_names_come_from_the_map_the_stack_or_the_name() {
        let names = BTreeMap::from([("web".to_owned(), "front".to_owned())]);
        assert_eq!(service_name("web", &names, Some("app")), "front");
        assert_eq!(service_name("api", &names, Some("app")), "app_api");
        assert_eq!(service_name("api", &names, None), "api");
    }

    #[test]
    fn update_status_is_read_and_an_older_one_is_pending() {
        let svc = |state: &str| json!({"UpdateStatus": {"State": state, "StartedAt": "2026-12-04T19:11:34Z", "Message": "m"}});
        assert_eq!(update_state(&json!({}), None), Update::Pending);
        assert_eq!(update_state(&json!({"UpdateStatus": null}), None), Update::Pending);
        assert_eq!(update_state(&svc("updating"), None), Update::Running("updating".into()));
        assert_eq!(update_state(&svc("completed"), None), Update::Completed);
        assert_eq!(update_state(&svc("completed"), Some("2026-12-04T19:11:34Z")), Update::Pending);
        for s in ["rollback_completed", "paused", "rollback_paused"] {
            assert_eq!(
                update_state(&svc(s), Some("2026-01-01T00:00:00Z")),
                Update::Failed { state: s.into(), message: "m".into() }
            );
        }
        assert_eq!(update_state(&svc("rollback_started"), None), Update::Running("rollback_started".into()));
    }

    #[test]
    fn tasks_settle_when_all_wanted_run_and_digests_are_checked() {
        let answer = json!([
            {"ID": "abcdefghijklmnop", "Status": {"State": "running"},
             "Spec": {"ContainerSpec": {"Image": "r/api:v2@sha256:2222"}}},
            {"ID": "qrstuvwxyz012345", "Status": {"State": "starting"},
             "Spec": {"ContainerSpec": {"Image": "r/api:v1@sha256:1111"}}}
        ]);
        let t = tasks(&answer);
        assert_eq!(t[0].id, "abcdefghijkl");
        assert!(!settled(&t, 1), "a starting task is not settled");
        assert!(settled(&t[..1], 1));
        assert!(!settled(&[], 1));
        assert!(settled(&[], 0));
        assert_eq!(wrong_digest(&t[..1], "sha256:2222"), None);
        assert_eq!(
            wrong_digest(&t, "sha256:2222").unwrap(),
            "task qrstuvwxyz01 runs r/api:v1@sha256:1111 instead of sha256:2222"
        );
        assert_eq!(wanted_tasks(&json!({"Spec": {"Mode": {"Replicated": {"Replicas": 3}}}})), 3);
        assert_eq!(wanted_tasks(&json!({"Spec": {"Mode": {"Global": {}}}})), 1);
        assert_eq!(task_filter("app_api"), r#"{"desired-state":["running"],"service":["app_api"]}"#);
    }
}
