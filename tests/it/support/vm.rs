//! The deployment "VM" of the end-to-end scenarios: a real sshd on loopback whose sessions
//! run `docker`/`docker-compose` (v1) against the test engine (`SetEnv DOCKER_HOST`), logged
//! in to the stack's registry (`SetEnv DOCKER_CONFIG`), with a compose project of the
//! services `api` and `dashboard` (`image: <registry>/org/<service>:${<SERVICE>_IMAGE_TAG}`,
//! busybox `httpd` serving `/srv`, whose `/health` names the version; `init: true`; host
//! network, one loopback port each).

use super::docker::Dockerd;
use super::e2e::{REGISTRY_PASSWORD, REGISTRY_USER, Stack};
use super::sshd::{Sshd, free_port};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The services of the compose project.
pub const SERVICES: [&str; 2] = ["api", "dashboard"];

/// The VM and its compose project.
pub struct Vm {
    /// The "VM"'s sshd.
    pub sshd: Sshd,
    /// The compose project directory (`compose-dir`).
    pub project: PathBuf,
    /// Compose project name (the directory's name).
    pub name: String,
    /// Loopback port of each service's httpd.
    pub ports: BTreeMap<String, u16>,
    engine: &'static Dockerd,
    docker_config: PathBuf,
    _dir: tempfile::TempDir,
}

/// `None` (skipped) outside CI when sshd or docker-compose is missing.
pub fn available() -> bool {
    let ok = Path::new("/usr/sbin/sshd").exists() && Path::new("/usr/bin/docker-compose").exists();
    super::skip::unless(ok, "the e2e VM: openssh-server and docker-compose")
}

impl Vm {
    /// Logs the VM in to the stack's registry, pushes `<service>:<seed_tag>` of every service
    /// (its `/health` says `ok <service> <seed_tag>`), and brings the project up on them.
    pub fn start(stack: &Stack, seed_tag: &str) -> Vm {
        let dir = tempfile::tempdir().unwrap();
        let docker_config = dir.path().join("docker");
        std::fs::create_dir_all(&docker_config).unwrap();
        let engine = stack.engine;
        let mut login = engine.cli();
        login
            .env("DOCKER_CONFIG", &docker_config)
            .args(["login", &stack.registry.host, "-u", REGISTRY_USER, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let mut child = login.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), REGISTRY_PASSWORD.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "docker login to the stack's registry");
        let sshd = Sshd::start_with_config(&format!(
            "SetEnv DOCKER_HOST={} DOCKER_CONFIG={}\n",
            engine.host,
            docker_config.display()
        ));
        let name = format!("e2evm{}", sshd.port);
        let project = dir.path().join(&name);
        std::fs::create_dir_all(&project).unwrap();
        let ports: BTreeMap<String, u16> = SERVICES.iter().map(|s| (s.to_string(), free_port())).collect();
        let mut compose = String::from("version: \"3.7\"\nservices:\n");
        for (svc, port) in &ports {
            compose += &format!(
                "  {svc}:\n    image: \"{}/org/{svc}:${{{}_IMAGE_TAG}}\"\n    network_mode: host\n    init: true\n    \
                 command: [\"httpd\", \"-f\", \"-p\", \"127.0.0.1:{port}\", \"-h\", \"/srv\"]\n",
                stack.registry.host,
                svc.to_ascii_uppercase()
            );
        }
        std::fs::write(project.join("docker-compose.yml"), compose).unwrap();
        let vm = Vm { sshd, project, name, ports, engine, docker_config, _dir: dir };
        let mut env = String::new();
        for svc in SERVICES {
            vm.push_image(&stack.registry.host, svc, seed_tag, &format!("ok {svc} {seed_tag}"));
            env += &format!("{}_IMAGE_TAG={seed_tag}\n", svc.to_ascii_uppercase());
        }
        std::fs::write(vm.project.join(".env.versions"), env).unwrap();
        let up = vm.compose(&["--env-file", ".env.versions", "up", "-d"]);
        assert!(up.status.success(), "compose up: {}", String::from_utf8_lossy(&up.stderr));
        for svc in SERVICES {
            vm.wait_health(svc, &format!("ok {svc} {seed_tag}"), Duration::from_secs(60));
        }
        vm
    }

    /// Pushes `<registry>/org/<service>:<tag>`, a busybox root serving `/srv` whose `/health`
    /// answers `body`.
    pub fn push_image(&self, registry: &str, service: &str, tag: &str, body: &str) {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in ["bin", "srv", "tmp"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", r.join("bin/busybox")).expect("busybox-static is installed");
        for applet in ["sh", "httpd"] {
            std::os::unix::fs::symlink("busybox", r.join("bin").join(applet)).unwrap();
        }
        std::fs::write(r.join("srv/health"), format!("{body}\n")).unwrap();
        let reference = format!("{registry}/org/{service}:{tag}");
        self.engine.import_dir(r, &reference, &[]);
        let out = self.docker().args(["push", &reference]).output().unwrap();
        assert!(out.status.success(), "push {reference}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The docker CLI as the VM's sessions run it (engine and registry login).
    pub fn docker(&self) -> Command {
        let mut c = self.engine.cli();
        c.env("DOCKER_CONFIG", &self.docker_config);
        c
    }

    fn compose(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .current_dir(&self.project)
            .env("DOCKER_HOST", &self.engine.host)
            .env("DOCKER_CONFIG", &self.docker_config)
            .args(args)
            .output()
            .unwrap()
    }

    /// The `health-url` of each service, comma separated (an act `--var` is one line).
    pub fn health_urls(&self) -> String {
        self.ports.values().map(|p| format!("http://127.0.0.1:{p}/health")).collect::<Vec<_>>().join(",")
    }

    /// What `service`'s `/health` answers now (`None`: no answer).
    pub fn health(&self, service: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/health", self.ports[service]);
        let out = Command::new("curl").args(["-fsS", "--max-time", "2", &url]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Waits (bounded) until `service`'s `/health` answers `body`; panics with the last answer.
    pub fn wait_health(&self, service: &str, body: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            last = self.health(service);
            if last.as_deref() == Some(body) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let ps = self
            .docker()
            .args(["ps", "-a", "--format", "{{.Names}} {{.Image}} {{.Status}}"])
            .output()
            .unwrap();
        let logs = self.compose(&["--env-file", ".env.versions", "logs", "--tail", "20"]);
        panic!(
            "{service} /health did not answer {body:?} in {timeout:?}; last: {last:?}\n{}\n{}{}",
            String::from_utf8_lossy(&ps.stdout),
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        );
    }

    /// `service -> (container id, image)` of the project's running containers.
    pub fn containers(&self) -> BTreeMap<String, (String, String)> {
        let out = self
            .docker()
            .args(["ps", "--filter", &format!("label=com.docker.compose.project={}", self.name)])
            .args(["--format", "{{.Label \"com.docker.compose.service\"}} {{.ID}} {{.Image}}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.to_owned(), (w.next()?.to_owned(), w.next()?.to_owned())))
            })
            .collect()
    }

    /// The env file compose read last (the target writes it).
    pub fn live_env(&self) -> String {
        std::fs::read_to_string(self.project.join(".env.versions")).unwrap_or_default()
    }

    /// The act variables and secrets of the orchestration workflows for this VM.
    pub fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("DEPLOY_HOST".into(), "127.0.0.1".into()),
            ("DEPLOY_SSH_PORT".into(), self.sshd.port.to_string()),
            ("DEPLOY_USER".into(), "root".into()),
            ("DEPLOY_KNOWN_HOSTS".into(), self.sshd.known_hosts_line.clone()),
            ("COMPOSE_DIR".into(), self.project.display().to_string()),
            ("HEALTH_URLS".into(), self.health_urls()),
            ("HEALTH_BODY".into(), "ok".into()),
            ("APP_URL".into(), format!("http://127.0.0.1:{}", self.ports["api"])),
            ("REGISTRY_USER".into(), REGISTRY_USER.into()),
        ]
    }

    /// The secrets of the orchestration workflows besides the stack's (`DEPLOY_SSH_KEY`).
    pub fn secrets(&self) -> Vec<(String, String)> {
        vec![("DEPLOY_SSH_KEY".into(), self.sshd.client_key_text().trim().to_owned())]
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let ids: Vec<String> = self.containers().into_values().map(|(id, _)| id).collect();
        if !ids.is_empty() {
            let _ = self.docker().arg("rm").arg("-f").args(&ids).output();
        }
    }
}
