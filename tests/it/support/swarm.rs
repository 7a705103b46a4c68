//! A real single-node Docker Swarm for the tests: its own dockerd (vfs, no iptables, no default
//! bridge) in swarm mode on loopback. Swarm's listen port (2377) and its `docker_gwbridge`
//! interface belong to the machine, not to one engine: one swarm engine per machine at a time,
//! held by an exclusive `flock` on a file in /tmp for the swarm's whole life. On drop: services
//! and stacks are removed, the node leaves the swarm, `docker_gwbridge` (which survives
//! `swarm leave`) is deleted, the engine stops, and the lock is released.

use super::docker::Dockerd;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOCK: &str = "/tmp/deploy-action-swarm.lock";

/// A swarm manager engine, the only one on this machine while it lives.
pub struct SwarmEngine {
    engine: Option<Dockerd>,
    lock: Child,
}

/// Holds the machine-wide swarm lock: a `flock` child that keeps it while its stdin is open.
fn take_lock() -> Child {
    let mut child = Command::new("flock")
        .args(["-w", "900", LOCK, "sh", "-c", "echo locked; read _"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock (util-linux) is installed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked", "no swarm lock ({LOCK}) within 15 minutes");
    child
}

impl SwarmEngine {
    /// Takes the lock, starts the engine and makes it a swarm manager on 127.0.0.1.
    pub fn start() -> SwarmEngine {
        let lock = take_lock();
        // A swarm of an earlier run killed before its cleanup leaves the bridge behind.
        delete_gwbridge();
        let root = std::env::temp_dir().join(format!("deploy-action-swarm-{}", std::process::id()));
        let engine = Dockerd::start_in(root);
        engine.run(&[
            "swarm",
            "init",
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            "127.0.0.1:2377",
            "--data-path-addr",
            "127.0.0.1",
        ]);
        SwarmEngine { engine: Some(engine), lock }
    }

    /// The engine (its `host` is the manager's `unix://` socket).
    pub fn engine(&self) -> &Dockerd {
        self.engine.as_ref().unwrap()
    }

    /// One `GET` of the Engine API as JSON (through curl, as an independent client).
    pub fn api(&self, path: &str) -> serde_json::Value {
        let sock = self.engine().host.trim_start_matches("unix://").to_owned();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--unix-socket", &sock])
            .arg(format!("http://docker/v1.41{path}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "GET {path}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The image of each task of `service` that swarm wants running, once all of them run
    /// (bounded by `timeout`).
    pub fn running_images(&self, service: &str, timeout: Duration) -> Vec<String> {
        let filters = format!(r#"{{"service":["{service}"],"desired-state":["running"]}}"#);
        let path = format!("/tasks?filters={}", percent(&filters));
        let deadline = Instant::now() + timeout;
        loop {
            let tasks = self.api(&path);
            let tasks = tasks.as_array().unwrap();
            let running = tasks.iter().all(|t| t["Status"]["State"] == "running");
            if (running && !tasks.is_empty()) || Instant::now() > deadline {
                return tasks
                    .iter()
                    .map(|t| {
                        let state = t["Status"]["State"].as_str().unwrap_or("?");
                        let image = t["Spec"]["ContainerSpec"]["Image"].as_str().unwrap_or("?");
                        if state == "running" { image.to_owned() } else { format!("{state}: {image}") }
                    })
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn delete_gwbridge() {
    if Path::new("/sys/class/net/docker_gwbridge").exists() {
        let _ = Command::new("ip").args(["link", "del", "docker_gwbridge"]).status();
    }
}

impl Drop for SwarmEngine {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            let ids =
                engine.cli().args(["service", "ls", "-q"]).output().map(|o| o.stdout).unwrap_or_default();
            for id in String::from_utf8_lossy(&ids).split_whitespace() {
                let _ = engine.cli().args(["service", "rm", id]).output();
            }
            let _ = engine.cli().args(["swarm", "leave", "--force"]).output();
            engine.stop();
        }
        delete_gwbridge();
        drop(self.lock.stdin.take());
        let _ = self.lock.wait();
    }
}
