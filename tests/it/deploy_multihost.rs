//! `compose-ssh` to two hosts through the real binary's `release`: two real sshd "VMs" (one on
//! 127.0.0.1, one on 127.0.0.2, each with its own `$HOME` and compose project `~/app`, named by
//! the project's own `.env`), Debian's docker-compose v1 on the test engine, the fake forge.
//! The happy path deploys host 1, checks it (`health-url: http://{host}:PORT/health`), then
//! host 2; a failure on host 2 stops there and rolls back the host it changed; a host that
//! pulls another image than the one the release verified fails the deploy.

use crate::deploy_targets::{path, push_http_image};
use crate::forge_ops::{FILE, OPS, setup};
use crate::release_faults::{release, run_within};
use crate::support::Outcome;
use crate::support::docker::{Dockerd, require};
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::registry::{Auth, TestRegistry};
use crate::support::skip;
use crate::support::sshd::{Sshd, free_port};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One "VM": an sshd on `addr` whose sessions have their own `$HOME` and the test engine.
struct Host {
    addr: &'static str,
    sshd: Sshd,
    /// `$HOME/app`, the compose project (`compose-dir: ~/app`).
    project: PathBuf,
    /// Compose project name (from the project's `.env`).
    name: String,
}

impl Host {
    fn start(engine: &Dockerd, home: &Path, addr: &'static str, compose: &str, name: &str) -> Host {
        let project = home.join("app");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("docker-compose.yml"), compose).unwrap();
        // Both projects are `app`: only the project's `.env` tells them apart, so it must reach
        // compose although the versions come in another env file.
        std::fs::write(project.join(".env"), format!("COMPOSE_PROJECT_NAME={name}\n")).unwrap();
        let listen = if addr == "127.0.0.1" { String::new() } else { format!("ListenAddress {addr}\n") };
        let sshd = Sshd::start_with_config(&format!(
            "{listen}SetEnv DOCKER_HOST={} HOME={}\n",
            engine.host,
            home.display()
        ));
        Host { addr, sshd, project, name: name.to_owned() }
    }

    fn known_hosts_line(&self) -> String {
        self.sshd.known_hosts_line.replace("[127.0.0.1]", &format!("[{}]", self.addr))
    }

    fn line(&self) -> String {
        format!("{}:{}", self.addr, self.sshd.port)
    }

    fn destination(&self) -> String {
        format!("root@{}:{}", self.addr, self.sshd.port)
    }

    fn live_env(&self) -> String {
        std::fs::read_to_string(self.project.join(".env.versions")).unwrap_or_default()
    }

    /// `service -> (container id, image)` of the project's running containers.
    fn containers(&self, engine: &Dockerd) -> BTreeMap<String, (String, String)> {
        crate::deploy_targets::compose_containers(engine, &self.name)
    }

    fn remove(&self, engine: &Dockerd) {
        let ids: Vec<String> = self.containers(engine).into_values().map(|(id, _)| id).collect();
        if !ids.is_empty() {
            let _ = engine.cli().arg("rm").arg("-f").args(&ids).output();
        }
    }
}

/// A compose file whose `api` pulls `<registry>/deploytest/<repo>:${API_IMAGE_TAG}` and serves
/// `/health` on `addr:port`, except with the tag `breaks`, which this host's configuration
/// breaks (the container exits).
fn compose(registry: &str, repo: &str, addr: &str, port: u16, breaks: &str) -> String {
    format!(
        "version: \"3.7\"\nservices:\n  api:\n    image: \"{registry}/deploytest/{repo}:${{API_IMAGE_TAG}}\"\n    \
         network_mode: host\n    init: true\n    environment: [\"TAG=${{API_IMAGE_TAG}}\"]\n    \
         command: [\"sh\", \"-c\", \"[ \\\"$$TAG\\\" != {breaks} ] || exit 3; exec httpd -f -p {addr}:{port} -h /www\"]\n"
    )
}

struct World {
    engine: &'static Dockerd,
    registry: TestRegistry,
    fake: FakeForge,
    hosts: [Host; 2],
    key: String,
    port: u16,
    workspace: tempfile::TempDir,
}

impl World {
    async fn start() -> Option<World> {
        let ok =
            Path::new("/usr/sbin/sshd").exists() && Path::new("/usr/bin/docker-compose").metadata().is_ok();
        if !skip::unless(ok, "compose-ssh multi-host tests: openssh-server and docker-compose") {
            return None;
        }
        let engine = require()?;
        let registry = TestRegistry::start(Auth::None);
        let r = registry.host.clone();
        for tag in ["A", "B", "C", "D", "E"] {
            push_http_image(engine, &format!("{r}/deploytest/api:{tag}"), &format!("api-{tag}"));
        }
        // Host 2 pulls `api-h2`, which has A (the very image of api:A) but not B.
        engine.run(&["tag", &format!("{r}/deploytest/api:A"), &format!("{r}/deploytest/api-h2:A")]);
        engine.run(&["push", &format!("{r}/deploytest/api-h2:A")]);
        for tag in ["D", "E"] {
            engine.run(&[
                "tag",
                &format!("{r}/deploytest/api:{tag}"),
                &format!("{r}/deploytest/api-h2:{tag}"),
            ]);
            engine.run(&["push", &format!("{r}/deploytest/api-h2:{tag}")]);
        }
        // `api-mirror`: A is api:A, C is another image than api:C.
        engine.run(&["tag", &format!("{r}/deploytest/api:A"), &format!("{r}/deploytest/api-mirror:A")]);
        engine.run(&["push", &format!("{r}/deploytest/api-mirror:A")]);
        push_http_image(engine, &format!("{r}/deploytest/api-mirror:C"), "api-C-mirror");
        let workspace = tempfile::tempdir().unwrap();
        let port = free_port();
        let ws = workspace.path();
        let h1 = Host::start(
            engine,
            &ws.join("vm1"),
            "127.0.0.1",
            &compose(&r, "api", "127.0.0.1", port, "-"),
            &format!("mh1p{port}"),
        );
        let h2 = Host::start(
            engine,
            &ws.join("vm2"),
            "127.0.0.2",
            &compose(&r, "api-h2", "127.0.0.2", port, "D"),
            &format!("mh2p{port}"),
        );
        // One client key for both: host 2 authorizes host 1's.
        h2.sshd.authorize(&h1.sshd);
        let key = h1.sshd.client_key_text();
        let (fake, _, _) = setup(Flavor::Github).await;
        fake.put_file(OPS, FILE, "# versions\n");
        Some(World { engine, registry, fake, hosts: [h1, h2], key, port, workspace })
    }

    /// A `release` of `api=<tag>` to `hosts` (`ssh-hosts` lines; one: `ssh-host`).
    async fn release(&self, tag: &str, hosts: &[&Host]) -> (Outcome, Duration) {
        self.release_with(tag, hosts, "1").await
    }

    async fn release_with(&self, tag: &str, hosts: &[&Host], max_parallel: &str) -> (Outcome, Duration) {
        let tmp = self.workspace.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let mut run =
            release(&self.fake, &format!("api={}/deploytest/api", self.registry.host), Flavor::Github)
                .env("PATH", &path())
                .env("TMPDIR", &tmp.display().to_string())
                .env("GITHUB_WORKSPACE", &self.workspace.path().display().to_string())
                .input("api_image_tag", tag)
                .input("allow-downgrade", "true")
                .input("target", "compose-ssh")
                .input("ssh-key", &self.key)
                .input("compose-dir", "~/app")
                .input("health-url", &format!("http://{{host}}:{}/health", self.port))
                .input("health-body", &format!("api-{tag}"))
                .input("health-timeout", "8")
                .input("max-parallel", max_parallel);
        let pins: Vec<String> = hosts.iter().map(|h| h.known_hosts_line()).collect();
        run = run.input("ssh-known-hosts", &pins.join("\n"));
        run = match hosts {
            [one] => run.input("ssh-host", one.addr).input("ssh-port", &one.sshd.port.to_string()),
            many => run.input("ssh-hosts", &many.iter().map(|h| h.line()).collect::<Vec<_>>().join("\n")),
        };
        let out = run_within(run, Duration::from_secs(180)).await;
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(left.is_empty(), "key or known_hosts file left behind: {left:?}");
        out
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for h in &self.hosts {
            h.remove(self.engine);
        }
    }
}

fn at(log: &str, needle: &str) -> usize {
    log.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the log:\n{log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_deploy_in_order_a_failing_second_host_rolls_the_first_back_and_digests_are_checked() {
    let Some(w) = World::start().await else { return };
    let [h1, h2] = &w.hosts;
    let r = &w.registry.host;

    // 1. Both hosts, in order: host 1 deployed and healthy before host 2 is touched.
    let (ok, t_ok) = w.release("A", &[h1, h2]).await;
    let log = ok.log();
    assert_eq!(ok.code, 0, "{log}");
    let host1_healthy = at(&log, &format!("http://127.0.0.1:{}/health healthy", w.port));
    assert!(at(&log, "(host 1 of 2)") < host1_healthy, "{log}");
    assert!(host1_healthy < at(&log, "(host 2 of 2)"), "host 2 started before host 1 was healthy:\n{log}");
    assert!(at(&log, "(host 2 of 2)") < at(&log, &format!("http://127.0.0.2:{}/health healthy", w.port)));
    // The running digest is logged per host.
    assert!(log.contains(&format!("compose-ssh: {}: api (A) runs sha256:", h1.destination())), "{log}");
    assert!(log.contains(&format!("{r}/deploytest/api-h2@sha256:")), "{log}");
    let (c1, c2) = (h1.containers(w.engine), h2.containers(w.engine));
    assert_eq!(c1["api"].1, format!("{r}/deploytest/api:A"), "{c1:?}");
    assert_eq!(c2["api"].1, format!("{r}/deploytest/api-h2:A"), "{c2:?}");
    for h in [h1, h2] {
        assert!(h.live_env().starts_with("API_IMAGE_TAG=A\nLAST_DEPLOY_DATE="), "{}", h.live_env());
    }
    let env2 = h2.live_env();

    // 2. B: host 1 takes it; host 2 cannot pull it (nothing changes there); the release stops
    //    and the automatic rollback restores host 1 only.
    let (bad, t_bad) = w.release("B", &[h1, h2]).await;
    let log = bad.log();
    assert_eq!(bad.code, 1, "{log}");
    assert!(at(&log, &format!("http://127.0.0.1:{}/health healthy", w.port)) < at(&log, "(host 2 of 2)"));
    assert!(log.contains(&format!("the deploy script in ~/app on {} failed", h2.destination())), "{log}");
    assert!(
        log.contains(&format!("compose-ssh: rolling back the host(s) changed: {}\n", h1.destination())),
        "{log}"
    );
    assert!(log.contains("rolled back to api A"), "{log}");
    let (b1, b2) = (h1.containers(w.engine), h2.containers(w.engine));
    assert_eq!(b1["api"].1, format!("{r}/deploytest/api:A"), "host 1 back on A: {b1:?}");
    assert_ne!(b1["api"].0, c1["api"].0, "host 1 ran B in between, so A is a new container");
    assert_eq!(b2, c2, "host 2 was never changed, so it is not redeployed");
    assert!(h1.live_env().starts_with("API_IMAGE_TAG=A\n"), "{}", h1.live_env());
    assert_eq!(h2.live_env(), env2, "host 2's versions file is untouched");
    assert!(w.fake.file(OPS, FILE).unwrap().contains("API_IMAGE_TAG=A\n"));
    assert_eq!(w.fake.deployments(OPS).last().unwrap().3.last().map(String::as_str), Some("failure"));
    // Host 2 logged no deploy of the rollback.
    let rollback = &log[at(&log, "rolling back: api → A")..at(&log, "rolled back to api A")];
    assert!(!rollback.contains(&h2.destination()), "{rollback}");

    // 3. D: both hosts take it, host 2 is not healthy on it: both are rolled back, host 2 first
    //    checked on A again too.
    let (sick, t_sick) = w.release("D", &[h1, h2]).await;
    let log = sick.log();
    assert_eq!(sick.code, 1, "{log}");
    assert!(
        log.contains(&format!("health check failed: http://127.0.0.2:{}/health was not healthy", w.port)),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "compose-ssh: rolling back the host(s) changed: {}, {}\n",
            h1.destination(),
            h2.destination()
        )),
        "{log}"
    );
    assert!(log.contains("rolled back to api A; healthy"), "{log}");
    let rollback = &log[at(&log, "rolling back: api → A")..];
    assert!(rollback.contains(&format!("http://127.0.0.2:{}/health healthy", w.port)), "{rollback}");
    let (d1, d2) = (h1.containers(w.engine), h2.containers(w.engine));
    assert_eq!(d1["api"].1, format!("{r}/deploytest/api:A"), "{d1:?}");
    assert_eq!(d2["api"].1, format!("{r}/deploytest/api-h2:A"), "{d2:?}");
    assert_ne!(d2["api"].0, c2["api"].0, "host 2 ran D in between");
    for h in [h1, h2] {
        assert!(h.live_env().starts_with("API_IMAGE_TAG=A\n"), "{}", h.live_env());
    }

    // 4. Host 1 pulls `api-mirror`, whose C is not the api:C the release verified: the deploy
    //    fails after `up -d` and host 1 is rolled back to A.
    std::fs::write(h1.project.join("docker-compose.yml"), compose(r, "api-mirror", "127.0.0.1", w.port, "-"))
        .unwrap();
    let (moved, t_moved) = w.release("C", &[h1]).await;
    let log = moved.log();
    assert_eq!(moved.code, 1, "{log}");
    assert!(
        log.contains(&format!("{}: api runs image sha256:", h1.destination()))
            && log.contains(&format!("{r}/deploytest/api-mirror@sha256:"))
            && log.contains("the digest api C was verified to be in the registry"),
        "{log}"
    );
    assert!(log.contains("rolled back to api A"), "{log}");
    let m1 = h1.containers(w.engine);
    assert_eq!(m1["api"].1, format!("{r}/deploytest/api-mirror:A"), "{m1:?}");
    assert!(h1.live_env().starts_with("API_IMAGE_TAG=A\n"), "{}", h1.live_env());
    // 5. E with max-parallel 2: both hosts start before either is checked; both run E.
    std::fs::write(h1.project.join("docker-compose.yml"), compose(r, "api", "127.0.0.1", w.port, "-"))
        .unwrap();
    let (both, t_both) = w.release_with("E", &[h1, h2], "2").await;
    let log = both.log();
    assert_eq!(both.code, 0, "{log}");
    let first_check = at(&log, "/health healthy");
    assert!(at(&log, "(host 1 of 2)") < first_check && at(&log, "(host 2 of 2)") < first_check, "{log}");
    assert_eq!(h1.containers(w.engine)["api"].1, format!("{r}/deploytest/api:E"));
    assert_eq!(h2.containers(w.engine)["api"].1, format!("{r}/deploytest/api-h2:E"));
    eprintln!("max-parallel 2: {t_both:.1?}");
    eprintln!(
        "two-host release: happy {t_ok:.1?}; host 2 pull failing + rollback of host 1 {t_bad:.1?}; host 2 \
         unhealthy + rollback of both {t_sick:.1?}; digest mismatch + rollback {t_moved:.1?}"
    );
}
