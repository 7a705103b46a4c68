//! Deploy targets through the real binary's `deploy` command: compose over SSH against a real
//! sshd and the real engine with Debian's docker-compose; the command target (Dokploy: `dokploy.rs`).

use crate::support::docker::{Dockerd, require};
use crate::support::registry::{Auth, TestRegistry};
use crate::support::skip;
use crate::support::sshd::{Sshd, free_port};
use crate::support::{ActionRun, Outcome};
use deploy_action::deploy::health::{HealthCheck, wait_healthy};
use std::path::Path;
use std::time::{Duration, Instant};

pub fn path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
}

/// A busybox image serving `/www` with `httpd`, whose `/health` says `body`, pushed as `reference`.
pub fn push_http_image(engine: &Dockerd, reference: &str, body: &str) {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for d in ["bin", "www", "tmp"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).expect("busybox-static is installed");
    for applet in ["sh", "httpd"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(applet)).unwrap();
    }
    std::fs::write(r.join("www/health"), format!("{body}\n")).unwrap();
    engine.import_dir(r, reference, &[]);
    engine.run(&["push", reference]);
}

struct Vm {
    engine: &'static Dockerd,
    sshd: Sshd,
    registry: TestRegistry,
    workspace: tempfile::TempDir,
    /// Compose project directory on the "VM" (same machine).
    project: std::path::PathBuf,
    name: String,
    api_port: u16,
    web_port: u16,
}

impl Vm {
    fn start() -> Option<Vm> {
        let ok =
            Path::new("/usr/sbin/sshd").exists() && Path::new("/usr/bin/docker-compose").metadata().is_ok();
        if !skip::unless(ok, "compose-ssh tests: openssh-server and docker-compose") {
            return None;
        }
        let engine = require()?;
        let registry = TestRegistry::start(Auth::None);
        for (svc, tag) in [("api", "A"), ("api", "B"), ("web", "W1")] {
            push_http_image(
                engine,
                &format!("{}/deploytest/{svc}:{tag}", registry.host),
                &format!("{svc}-{tag}"),
            );
        }
        let sshd = Sshd::start_with_docker(&engine.host);
        let workspace = tempfile::tempdir().unwrap();
        let name = format!("deploytest{}", sshd.port);
        let project = workspace.path().join("vm").join(&name);
        std::fs::create_dir_all(&project).unwrap();
        let (api_port, web_port) = (free_port(), free_port());
        let service = |svc: &str, key: &str, port: u16| {
            format!(
                "  {svc}:\n    image: \"{}/deploytest/{svc}:${{{key}}}\"\n    network_mode: host\n    init: true\n    \
                 command: [\"httpd\", \"-f\", \"-p\", \"127.0.0.1:{port}\", \"-h\", \"/www\"]\n",
                registry.host
            )
        };
        let compose = format!(
            "version: \"3.7\"\nservices:\n{}{}",
            service("api", "API_IMAGE_TAG", api_port),
            service("web", "WEB_IMAGE_TAG", web_port)
        );
        std::fs::write(project.join("docker-compose.yml"), compose).unwrap();
        Some(Vm { engine, sshd, registry, workspace, project, name, api_port, web_port })
    }

    /// `deploy` in a runner: the key arrives as a masked input, as a workflow passes a secret.
    fn deploy(&self, versions: &str, known_hosts: &str) -> (Outcome, Duration) {
        let run = ActionRun::action()
            .env("PATH", &path())
            .env("GITHUB_WORKSPACE", &self.workspace.path().display().to_string())
            .env("TMPDIR", &self.tmp().display().to_string())
            .input("command", "deploy")
            .input("environment", "staging")
            .input("versions", versions)
            .input("env-file", &self.workspace.path().join(".env.versions").display().to_string())
            .input("target", "compose-ssh")
            .input("ssh-host", "127.0.0.1")
            .input("ssh-port", &self.sshd.port.to_string())
            .input("ssh-key", &self.sshd.client_key_text())
            .input("ssh-known-hosts", known_hosts)
            .input("compose-dir", &self.project.display().to_string());
        let start = Instant::now();
        let out = run.run();
        let elapsed = start.elapsed();
        let left: Vec<_> = std::fs::read_dir(self.tmp()).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(left.is_empty(), "key or known_hosts file left behind: {left:?}");
        (out, elapsed)
    }

    /// The binary's temporary directory: the key file must be gone from it after each run.
    fn tmp(&self) -> std::path::PathBuf {
        let dir = self.workspace.path().join("tmp");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Records what was deployed in the local versions file, as `record` would.
    fn record(&self, text: &str) {
        std::fs::write(self.workspace.path().join(".env.versions"), text).unwrap();
    }

    /// `service -> (container id, image)` of the project's running containers.
    fn containers(&self) -> std::collections::BTreeMap<String, (String, String)> {
        compose_containers(self.engine, &self.name)
    }

    fn healthy(&self, port: u16, body: &str) {
        let mut check = HealthCheck::new(format!("http://127.0.0.1:{port}/health"), Duration::from_secs(20));
        check.body_contains = Some(body.into());
        check.interval = Duration::from_millis(100);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(wait_healthy(&reqwest::Client::new(), &check, |_| {})).unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let ids = self.containers().into_values().map(|(id, _)| id).collect::<Vec<_>>();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.engine.cli().args(&args).output();
        }
    }
}

/// Every line of the log with key material is a mask command for the runner, nothing else.
fn assert_key_hidden(out: &Outcome, key: &str) {
    let body_lines: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----") && l.len() > 8).collect();
    for line in out.log().lines().filter(|l| !l.starts_with("::add-mask::")) {
        for k in &body_lines {
            assert!(!line.contains(k), "key material in the log: {line}");
        }
    }
    assert!(!out.summary.contains(body_lines[0]) && !out.output_file.contains(body_lines[0]));
}

#[test]
fn compose_ssh_deploys_changed_services_only_and_refuses_a_wrong_host_key() {
    let Some(vm) = Vm::start() else { return };
    let pin = vm.sshd.known_hosts_line.clone();
    let key = vm.sshd.client_key_text();

    let (first, t1) = vm.deploy("api=A\nweb=W1", &pin);
    assert_eq!(first.code, 0, "first deploy failed:\n{}\n{}", first.log(), vm.sshd.log());
    assert_key_hidden(&first, &key);
    assert!(first.log().contains("remote: "), "remote output is streamed: {}", first.log());
    vm.healthy(vm.api_port, "api-A");
    vm.healthy(vm.web_port, "web-W1");
    let before = vm.containers();
    assert!(before["api"].1.ends_with("/deploytest/api:A"), "{before:?}");
    vm.record("# deployed\nAPI_IMAGE_TAG=A\nWEB_IMAGE_TAG=W1\n");

    let (second, t2) = vm.deploy("api=B", &pin);
    assert_eq!(second.code, 0, "second deploy failed:\n{}", second.log());
    assert_key_hidden(&second, &key);
    vm.healthy(vm.api_port, "api-B");
    let after = vm.containers();
    assert!(after["api"].1.ends_with("/deploytest/api:B"), "{after:?}");
    assert_ne!(after["api"].0, before["api"].0, "api was not recreated");
    assert_eq!(after["web"].0, before["web"].0, "web was recreated although its tag did not change");
    let env_file = std::fs::read_to_string(vm.project.join(".env.versions")).unwrap();
    assert_eq!(env_file, "API_IMAGE_TAG=B\nWEB_IMAGE_TAG=W1\n");
    eprintln!("compose-ssh deploy wall time: first (2 services) {t1:.2?}, second (1 service) {t2:.2?}");

    // A tag the registry lacks: the pull fails, compose's stderr is quoted, and neither the
    // live env file nor the running containers change.
    let (missing, _) = vm.deploy("api=NOPE", &pin);
    assert_eq!(missing.code, 1, "{}", missing.log());
    assert!(missing.log().contains("compose-ssh: the deploy script in"), "{}", missing.log());
    assert!(missing.log().contains("failed (exit status 1):"), "{}", missing.log());
    assert!(
        missing.log().contains("ERROR: for api  manifest for ")
            && missing.log().contains("api:NOPE not found"),
        "the stderr tail quotes compose: {}",
        missing.log()
    );
    assert_eq!(std::fs::read_to_string(vm.project.join(".env.versions")).unwrap(), env_file);
    assert_eq!(vm.containers(), after);
    let mut leftovers: Vec<String> = std::fs::read_dir(&vm.project)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    leftovers.sort();
    // The env file, its lock (kept: an empty file) and the compose file; no temporary file.
    assert_eq!(
        leftovers,
        [".env.versions", ".env.versions.lock", "docker-compose.yml"],
        "temporary env file left on the host"
    );

    // A host key that is not the pinned one: refused before anything runs on the host.
    let other = Sshd::start();
    vm.record("API_IMAGE_TAG=B\nWEB_IMAGE_TAG=W1\n");
    let (wrong, _) = vm.deploy("api=A", &other.forged_line_for(&vm.sshd));
    assert_eq!(wrong.code, 1, "{}", wrong.log());
    assert!(
        wrong.log().contains("does not match `ssh-known-hosts`; nothing was changed")
            && wrong.log().contains(&format!("ssh-keyscan -p {} 127.0.0.1", vm.sshd.port)),
        "{}",
        wrong.log()
    );
    assert_key_hidden(&wrong, &key);
    assert_eq!(std::fs::read_to_string(vm.project.join(".env.versions")).unwrap(), env_file);
    assert_eq!(vm.containers(), after);
    let _ = &vm.registry;
}

#[test]
fn compose_ssh_without_known_hosts_is_an_input_error_explaining_how_to_get_the_line() {
    let out = ActionRun::cli([
        "deploy",
        "--environment",
        "staging",
        "--versions",
        "api=1.0",
        "--target",
        "compose-ssh",
        "--ssh-host",
        "vm.example",
        "--ssh-key=-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        "--compose-dir",
        "/srv/app",
    ])
    .run();
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.stderr.contains("invalid input `ssh-known-hosts`"), "{}", out.stderr);
    assert!(out.stderr.contains("ssh-keyscan -p PORT HOST"), "{}", out.stderr);
    assert!(!out.log().contains("b3BlbnNzaC1rZXktdjEAAAAA"), "{}", out.log());
}

#[test]
fn a_secret_flag_value_is_hidden_even_in_a_usage_error() {
    // The last base64 line ends in `=` padding: clap reads the value as `--<name>=<value>`
    // and quotes the part before the `=`.
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBkZXBsb3ktYWN0aW9u==\n-----END OPENSSH PRIVATE KEY-----";
    let out = ActionRun::cli(["deploy", "--environment", "x", "--ssh-key", key]).run();
    assert_eq!(out.code, 2, "{}", out.log());
    for part in ["b3BlbnNzaC1rZXktdjEAAAAA", "QyNTUxOQAAACBkZXBsb3ktYWN0aW9u"] {
        assert!(!out.log().contains(part), "{}", out.log());
    }
}

fn command_run(command: &str) -> (Outcome, tempfile::TempDir) {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join(".env.versions"), "API_IMAGE_TAG=1.0\nWEB_IMAGE_TAG=2.0\n").unwrap();
    let out = ActionRun::action()
        .env("PATH", &path())
        .env("GITHUB_WORKSPACE", &ws.path().display().to_string())
        .input("command", "deploy")
        .input("environment", "staging")
        .input("versions", "api=1.1")
        .input("env-file", &ws.path().join(".env.versions").display().to_string())
        .input("target", "command")
        .input("api-key", "unrelated-secret-value")
        .input("deploy-command", command)
        .run();
    (out, ws)
}

#[test]
fn command_gets_the_versions_in_its_environment_in_the_workspace() {
    let (out, ws) = command_run(
        "echo \"api=$API_IMAGE_TAG web=$WEB_IMAGE_TAG env=$DEPLOY_ENVIRONMENT rb=$DEPLOY_ROLLBACK svcs=$DEPLOY_SERVICES\"; \
         echo \"inputs=$(env | grep -c '^INPUT_')\"; echo \"cwd=$(pwd)\"",
    );
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.contains("api=1.1 web=2.0 env=staging rb=false svcs=api"), "{}", out.stdout);
    assert!(out.stdout.contains("inputs=0"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("cwd={}", ws.path().display())), "{}", out.stdout);
    assert!(out.summary.contains("| api | 1.0 | 1.1 |"), "{}", out.summary);
}

#[test]
fn a_failing_command_reports_its_exit_code_and_stderr() {
    let (out, _ws) = command_run("echo deploying; echo 'helm: release failed' >&2; exit 7");
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("deploy-command failed (exit status 7)"), "{}", out.stdout);
    assert!(out.stdout.contains("helm: release failed"), "{}", out.stdout);
}

/// `service -> (container id, image)` of compose project `project`'s running containers.
pub fn compose_containers(
    engine: &Dockerd,
    project: &str,
) -> std::collections::BTreeMap<String, (String, String)> {
    let out = engine.run(&[
        "ps",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.Label \"com.docker.compose.service\"}} {{.ID}} {{.Image}}",
    ]);
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_owned(), (w.next()?.to_owned(), w.next()?.to_owned())))
        })
        .collect()
}
