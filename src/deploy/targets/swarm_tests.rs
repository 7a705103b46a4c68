//! The `swarm` target against a scripted engine on a unix socket, for the answers a single
//! real node cannot be made to give on demand. Bodies as Docker 20.10.24 (API 1.41) sends
//! them, measured on this machine: a stale `version` is HTTP 500
//! `{"message":"rpc error: code = Unknown desc = update out of sequence"}`.

use super::*;
use serde_json::json;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::sync::{Arc, Mutex};

type Answer = Box<dyn FnMut(&str, &str) -> (u16, String) + Send>;

/// Serves `answer(method, path)` on a socket in `dir`; returns the requests seen.
fn engine(dir: &std::path::Path, mut answer: Answer) -> (Engine, Arc<Mutex<Vec<String>>>) {
    let sock = dir.join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(200) {
            let Ok(conn) = conn else { return };
            let mut r = BufReader::new(&conn);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
            let path = path.trim_start_matches("/v1.41").to_owned();
            log.lock().unwrap().push(format!("{method} {path} {}", String::from_utf8_lossy(&body)));
            let (status, text) = answer(&method, &path);
            let _ = write!(
                &conn,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (Engine::at(&format!("unix://{}", sock.display())).unwrap(), seen)
}

fn service(version: u64, image: &str, status: Option<(&str, &str)>) -> String {
    let mut s = json!({
        "ID": "svc1", "Version": {"Index": version},
        "Spec": {"Name": "app_api", "Mode": {"Replicated": {"Replicas": 1}},
                 "TaskTemplate": {"ContainerSpec": {"Image": image, "Init": true}}},
    });
    if let Some((state, started)) = status {
        s["UpdateStatus"] =
            json!({"State": state, "StartedAt": started, "Message": format!("update {state}")});
    }
    s.to_string()
}

fn task(image: &str) -> String {
    json!([{"ID": "task1task1task1", "Status": {"State": "running"}, "Spec": {"ContainerSpec": {"Image": image}}}])
        .to_string()
}

fn swarm(engine: Engine) -> Swarm {
    Swarm {
        engine,
        tunnel: None,
        services: BTreeMap::new(),
        stack: Some("app".into()),
        timeout: Duration::from_secs(5),
        poll: Duration::from_millis(20),
    }
}

fn rollout(digest: Option<&str>) -> Rollout {
    Rollout {
        environment: "staging".into(),
        versions: vec![("API_IMAGE_TAG".into(), "v2".into())],
        changed: vec![ServiceChange {
            service: "api".into(),
            key: "API_IMAGE_TAG".into(),
            old: Some("v1".into()),
            new: "v2".into(),
            image: Some("r.example/org/api".into()),
            digest: digest.map(str::to_owned),
        }],
        rollback: false,
    }
}

const V1: &str = "r.example/org/api:v1@sha256:1111";
const V2: &str = "r.example/org/api:v2@sha256:2222";

#[tokio::test]
async fn a_stale_version_is_read_again_and_the_rest_of_the_spec_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut posts = 0;
    let mut updated = false;
    let (engine, seen) = engine(
        dir.path(),
        Box::new(move |method, path| match (method, path) {
            ("GET", "/services/app_api") if !updated => {
                (200, service(10 + posts, V1, Some(("completed", "t0"))))
            }
            ("GET", "/services/app_api") => (200, service(13, V2, Some(("completed", "t1")))),
            ("POST", p) if p.starts_with("/services/app_api/update") => {
                posts += 1;
                if posts == 1 {
                    (500, r#"{"message":"rpc error: code = Unknown desc = update out of sequence"}"#.into())
                } else {
                    updated = true;
                    // Like the warning of dockerd (daemon/cluster/services.go) when it cannot pin a digest.
                    let w = "image r.example/org/api:v2 could not be accessed on a registry to record\nits digest";
                    (200, json!({"Warnings": [w]}).to_string())
                }
            }
            ("GET", p) if p.starts_with("/tasks?") => (200, task(if updated { V2 } else { V1 })),
            _ => (404, r#"{"message":"page not found"}"#.into()),
        }),
    );
    let mut log = Vec::new();
    swarm(engine).deploy(&rollout(Some("sha256:2222")), &mut |l| log.push(l.to_owned())).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let posts: Vec<&String> = seen.iter().filter(|r| r.starts_with("POST")).collect();
    assert_eq!(posts.len(), 2, "{seen:#?}");
    assert!(posts[0].starts_with("POST /services/app_api/update?version=10 "), "{}", posts[0]);
    assert!(posts[1].starts_with("POST /services/app_api/update?version=11 "), "re-read: {}", posts[1]);
    let body: Value =
        serde_json::from_str(posts[1].split_once(' ').unwrap().1.split_once(' ').unwrap().1).unwrap();
    assert_eq!(body["TaskTemplate"]["ContainerSpec"], json!({"Image": V2, "Init": true}));
    assert_eq!(body["Mode"], json!({"Replicated": {"Replicas": 1}}));
    assert!(log.iter().any(|l| l == "swarm: app_api runs v2 sha256:2222 in 1 task(s)"), "{log:#?}");
    assert!(
        log.iter().any(|l| l.starts_with("swarm: app_api: the engine warns: image r.example")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_task_running_another_digest_fails_the_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine(
        dir.path(),
        Box::new(|method, path| match (method, path) {
            // The spec already names v2, but the task runs something else.
            ("GET", "/services/app_api") => (200, service(5, V2, None)),
            ("GET", p) if p.starts_with("/tasks?") => (200, task("r.example/org/api:v2@sha256:9999")),
            _ => (404, r#"{"message":"page not found"}"#.into()),
        }),
    );
    let mut s = swarm(engine);
    s.timeout = Duration::from_millis(300);
    let e = s.deploy(&rollout(Some("sha256:2222")), &mut |_| {}).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "swarm: app_api: task task1task1ta runs r.example/org/api:v2@sha256:9999 instead of sha256:2222"
    );
}

#[tokio::test]
async fn without_a_verified_digest_the_manager_resolves_one_and_a_missing_service_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, seen) = engine(
        dir.path(),
        Box::new(|method, path| match (method, path) {
            ("GET", "/distribution/r.example/org/api:v2/json") => {
                (200, json!({"Descriptor": {"digest": "sha256:2222"}}).to_string())
            }
            ("GET", "/services/app_api") => (200, service(5, V2, None)),
            ("GET", p) if p.starts_with("/tasks?") => (200, task(V2)),
            ("GET", "/services/app_web") => (404, r#"{"message":"service app_web not found"}"#.into()),
            _ => (404, r#"{"message":"page not found"}"#.into()),
        }),
    );
    let s = swarm(engine);
    s.deploy(&rollout(None), &mut |_| {}).await.unwrap();
    assert!(
        seen.lock().unwrap().iter().any(|r| r.starts_with("GET /distribution/r.example/org/api:v2/json"))
    );
    let mut web = rollout(None);
    web.changed[0].service = "web".into();
    let e = s.deploy(&web, &mut |_| {}).await.unwrap_err().to_string();
    assert!(e.contains("no service app_web (service app_web not found)"), "{e}");
    assert!(e.contains("swarm-services"), "{e}");
}

#[tokio::test]
async fn a_paused_update_fails_at_once_with_swarms_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut updated = false;
    let (engine, _) = engine(
        dir.path(),
        Box::new(move |method, path| {
            match (method, path) {
            ("GET", "/services/app_api") if !updated => (200, service(5, V1, None)),
            ("GET", "/services/app_api") => (200, service(7, V2, Some(("paused", "t1")))),
            ("POST", _) => {
                updated = true;
                (200, r#"{"Warnings":null}"#.into())
            }
            // The new task keeps failing its healthcheck.
            ("GET", p) if p.starts_with("/tasks?") => (
                200,
                json!([{"ID": "t2", "Status": {"State": "starting"}, "Spec": {"ContainerSpec": {"Image": V2}}}])
                    .to_string(),
            ),
            _ => (404, r#"{"message":"page not found"}"#.into()),
        }
        }),
    );
    let mut s = swarm(engine);
    s.timeout = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let e = s.deploy(&rollout(Some("sha256:2222")), &mut |_| {}).await.unwrap_err().to_string();
    assert!(e.starts_with("swarm: app_api: swarm reports paused: update paused; its tasks run "), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no wait for a paused update: {:?}",
        started.elapsed()
    );
}
