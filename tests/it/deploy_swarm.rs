//! `target: swarm` against a real single-node swarm (Docker 20.10.24, API 1.41): a release of
//! a healthy version (through an `ssh://` tunnel to the manager's socket) is rolled out by
//! swarm and verified by digest; a release of a version whose healthcheck fails is rolled back
//! by swarm itself, the release fails, its automatic rollback records the old tag again, and
//! the old version is what runs; a forge-free `deploy` (no verified digest, no `images`) pins
//! the digest the manager resolves.

use crate::forge_ops::{FILE, OPS, setup};
use crate::release_faults::{release, run_within};
use crate::support::fake_forge::Flavor;
use crate::support::registry::{Auth, TestRegistry};
use crate::support::skip;
use crate::support::sshd::Sshd;
use crate::support::swarm::SwarmEngine;
use std::time::{Duration, Instant};

const SERVICE: &str = "app_api";

/// Pushes `<registry>/org/api:<tag>`, a busybox root whose `/broken` exists when `broken`
/// (the service's healthcheck is `test ! -f /broken`); returns its digest.
fn push_version(swarm: &SwarmEngine, registry: &str, tag: &str, broken: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for d in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).expect("busybox-static is installed");
    for applet in ["sh", "sleep", "test"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(applet)).unwrap();
    }
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    std::fs::write(r.join("version"), tag).unwrap();
    if broken {
        std::fs::write(r.join("broken"), "yes").unwrap();
    }
    let reference = format!("{registry}/org/api:{tag}");
    swarm.engine().import_dir(r, &reference, &[r#"CMD ["/bin/sleep", "86400"]"#]);
    swarm.engine().run(&["push", &reference]);
    let repo_digest = swarm.engine().run(&["inspect", "--format", "{{index .RepoDigests 0}}", &reference]);
    repo_digest.trim().rsplit_once('@').unwrap().1.to_owned()
}

fn spec_image(swarm: &SwarmEngine) -> String {
    let svc = swarm.api(&format!("/services/{SERVICE}"));
    svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_releases_are_verified_by_digest_and_a_broken_one_is_rolled_back() {
    // Its own engine, not the shared one: only the check that one can run here.
    let why = crate::support::docker::unavailable_reason();
    if !skip::unless(why.is_none(), &format!("Docker swarm: {}", why.unwrap_or_default())) {
        return;
    }
    let started = Instant::now();
    let (swarm, reg, digests) = tokio::task::spawn_blocking(|| {
        let swarm = SwarmEngine::start();
        let reg = TestRegistry::start(Auth::None);
        let digests: Vec<String> = [("v1", false), ("v2", false), ("v3", true)]
            .iter()
            .map(|(tag, broken)| push_version(&swarm, &reg.host, tag, *broken))
            .collect();
        let v1 = format!("{}/org/api:v1@{}", reg.host, digests[0]);
        // Fast busybox tasks: init reaps, a 1 s grace period; no published port (no IPVS
        // here). stop-first, so swarm's own rollback on a failed update starts a new v2 task,
        // and `rollback_completed` comes while it may still be starting.
        #[rustfmt::skip]
        swarm.engine().run(&[
            "service", "create", "--quiet", "--name", SERVICE, "--init", "--stop-grace-period", "1s",
            "--health-cmd", "test ! -f /broken", "--health-interval", "1s", "--health-timeout", "1s",
            "--health-retries", "2", "--update-order", "stop-first", "--update-failure-action", "rollback",
            "--update-monitor", "3s", "--rollback-monitor", "1s", &v1,
        ]);
        (swarm, reg, digests)
    })
    .await
    .unwrap();
    eprintln!("swarm, registry, 3 images and the v1 service in {:.1?}", started.elapsed());
    let pinned = |i: usize, tag: &str| format!("{}/org/api:{tag}@{}", reg.host, digests[i]);

    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let swarm_release = |tag: &str| {
        release(&fake, &format!("api={}/org/api", reg.host), Flavor::Github)
            .input("target", "swarm")
            .input("swarm-host", &swarm.engine().host)
            .input("swarm-stack", "app")
            .input("swarm-timeout", "60")
            .input("api_image_tag", tag)
    };

    // v2, through an ssh:// tunnel to the manager's socket: healthy; the spec gets tag and
    // digest, and the task runs that digest.
    let sshd = tokio::task::spawn_blocking(Sshd::start).await.unwrap();
    let socket = swarm.engine().host.trim_start_matches("unix://").to_owned();
    let over_ssh = swarm_release("v2")
        .input("swarm-host", &format!("ssh://root@127.0.0.1:{}{socket}", sshd.port))
        .input("ssh-key", &sshd.client_key_text())
        .input("ssh-known-hosts", &sshd.known_hosts_line);
    let (out, took) = run_within(over_ssh, Duration::from_secs(90)).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(
        out.stdout.contains(&format!("swarm: {SERVICE} runs v2 {} in 1 task(s)", digests[1])),
        "{}",
        out.stdout
    );
    assert_eq!(spec_image(&swarm), pinned(1, "v2"));
    let running = tokio::task::block_in_place(|| swarm.running_images(SERVICE, Duration::from_secs(10)));
    assert_eq!(running, [pinned(1, "v2")]);
    let file = fake.file(OPS, FILE).unwrap();
    assert!(file.starts_with("API_IMAGE_TAG=v2\n"), "{file}");
    eprintln!("release v2 over ssh (tunnel, update, verify): {took:.1?}");

    // v3 on the manager's own socket: its healthcheck fails; swarm rolls back; the release
    // fails and records v2 again.

    let (out, took) = run_within(swarm_release("v3"), Duration::from_secs(120)).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.stdout.contains(&format!("swarm: {SERVICE}: swarm reports rollback_completed")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("rolled back to api v2"), "{}", out.stdout);
    // The failure names the restored task once it runs (not while it starts).
    let failed = out.stdout.lines().find(|l| l.contains("swarm reports rollback_completed")).unwrap();
    assert!(failed.ends_with(&format!("its tasks run {}", pinned(1, "v2"))), "{failed}");
    let task_lines: Vec<&str> =
        out.stdout.lines().filter(|l| l.contains(&format!("swarm: {SERVICE}: task "))).collect();
    assert!(task_lines[0].contains(&format!(" running {}", pinned(1, "v2"))), "{task_lines:?}");
    assert!(
        out.stdout.contains(&format!("swarm: {SERVICE} runs v2 {} in 1 task(s)", digests[1])),
        "{}",
        out.stdout
    );
    let file = fake.file(OPS, FILE).unwrap();
    assert!(file.starts_with("API_IMAGE_TAG=v2\n"), "{file}");
    let history = fake.history(OPS, FILE);
    assert!(history[0].starts_with("rollback: api v3 → v2 (automatic"), "{history:?}");
    assert_eq!(spec_image(&swarm), pinned(1, "v2"), "swarm restored the v2 spec");
    let running = tokio::task::block_in_place(|| swarm.running_images(SERVICE, Duration::from_secs(10)));
    assert_eq!(running, [pinned(1, "v2")], "what runs is v2");
    eprintln!("release v3 (update, swarm rollback, automatic rollback): {took:.1?}");
    for line in out.stdout.lines().filter(|l| l.contains("swarm") || l.contains("roll")) {
        eprintln!("  {line}");
    }

    // The forge-free `deploy` back to v1: no verified digest and no `images`, so the
    // repository comes from the service's spec and the digest from the manager.
    let deploy = crate::support::ActionRun::cli([
        "deploy",
        "--environment",
        "staging",
        "--versions",
        "api=v1",
        "--rollback",
        "true",
        "--target",
        "swarm",
        "--swarm-host",
        &swarm.engine().host,
        "--swarm-stack",
        "app",
    ]);
    let (out, took) = run_within(deploy, Duration::from_secs(60)).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(
        out.log().contains(&format!("swarm: {SERVICE} runs v1 {} in 1 task(s)", digests[0])),
        "{}",
        out.log()
    );
    assert_eq!(spec_image(&swarm), pinned(0, "v1"));
    let running = tokio::task::block_in_place(|| swarm.running_images(SERVICE, Duration::from_secs(10)));
    assert_eq!(running, [pinned(0, "v1")]);
    eprintln!("deploy v1 (digest resolved by the manager): {took:.1?}");
    tokio::task::block_in_place(move || drop(swarm));
    eprintln!("whole test: {:.1?}", started.elapsed());
}

/// The tunnel's failures, each named before any service is touched: a host key that is not
/// the pinned one, and a socket path where no engine listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_tunnel_refuses_a_wrong_host_key_and_names_a_dead_socket() {
    if !skip::unless(crate::support::skip::is_root(), "sshd needs root") {
        return;
    }
    let (sshd, other) = tokio::task::spawn_blocking(|| (Sshd::start(), Sshd::start())).await.unwrap();
    let deploy = |known_hosts: &str, socket: &str| {
        crate::support::ActionRun::cli([
            "deploy",
            "--environment",
            "staging",
            "--versions",
            "api=v2",
            "--target",
            "swarm",
            "--swarm-host",
            &format!("ssh://root@127.0.0.1:{}{socket}", sshd.port),
            "--ssh-key",
            &sshd.client_key.display().to_string(),
            "--ssh-known-hosts",
            known_hosts,
        ])
    };
    let forged = other.forged_line_for(&sshd);
    let (out, _) = run_within(deploy(&forged, "/var/run/docker.sock"), Duration::from_secs(60)).await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.log().contains("the host key does not match `ssh-known-hosts`"), "{}", out.log());
    assert!(!out.log().contains("BEGIN OPENSSH PRIVATE KEY"), "{}", out.log());

    let dead = "/tmp/deploy-action-no-engine-here.sock";
    let (out, took) = run_within(deploy(&sshd.known_hosts_line, dead), Duration::from_secs(60)).await;
    assert_eq!(out.code, 1, "{}", out.log());
    let said =
        format!("the ssh tunnel to root@127.0.0.1:{} is up, but {dead} there does not answer", sshd.port);
    assert!(out.log().contains(&said), "{}", out.log());
    eprintln!("dead socket reported in {took:.1?}");
}
