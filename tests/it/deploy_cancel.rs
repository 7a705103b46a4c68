//! A cancelled compose-ssh deploy (SIGTERM from a runner, SIGINT from a terminal) stops: the
//! ssh child is killed, the key directory is removed, and the process exits 143 / 130 with a
//! line saying so. Against a real sshd whose "host" has a compose that hangs in `pull`.

use crate::support::ActionRun;
use crate::support::skip;
use crate::support::sshd::Sshd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Polls `cond` every 20 ms for at most `limit`.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn key_dirs(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("deploy-action-ssh-"))
        .collect()
}

/// Pids of processes whose command line mentions `needle` (ssh's `-i <TMPDIR>/…/id`).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie has no command line left; it is gone for this purpose.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

/// The "host": a fake `docker` (no compose plugin) and a `docker-compose` that, in `pull`,
/// writes its pid to `marker` and sleeps.
fn hanging_host(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let bin = dir.join("bin");
    let project = dir.join("project");
    let marker = dir.join("compose.pid");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(bin.join("docker"), "#!/bin/sh\n[ \"$1\" = compose ] && exit 1\necho \"docker $*\"\n")
        .unwrap();
    std::fs::write(
        bin.join("docker-compose"),
        format!(
            "#!/bin/sh\necho \"compose $*\"\ncase \" $* \" in *' pull '*) echo $$ > '{}'; exec sleep 60;; esac\n",
            marker.display()
        ),
    )
    .unwrap();
    for f in ["docker", "docker-compose"] {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (bin, project, marker)
}

#[test]
fn a_signal_during_an_ssh_deploy_kills_ssh_removes_the_key_and_exits_128_plus_the_signal() {
    if !skip::unless(
        skip::is_root() && Path::new("/usr/sbin/sshd").exists(),
        "sshd tests: root and openssh-server",
    ) {
        return;
    }
    let host = tempfile::tempdir().unwrap();
    let (bin, project, marker) = hanging_host(host.path());
    let sshd = Sshd::start_with_config(&format!("SetEnv PATH={}:/usr/bin:/bin\n", bin.display()));
    for (signal, code, name) in
        [(rustix::process::Signal::TERM, 143, "SIGTERM"), (rustix::process::Signal::INT, 130, "SIGINT")]
    {
        let _ = std::fs::remove_file(&marker);
        let tmp = tempfile::tempdir().unwrap();
        let run = ActionRun::action()
            .env("PATH", &std::env::var("PATH").unwrap())
            .env("TMPDIR", &tmp.path().display().to_string())
            .input("command", "deploy")
            .input("environment", "staging")
            .input("versions", "api=2.0")
            .input("target", "compose-ssh")
            .input("ssh-host", "127.0.0.1")
            .input("ssh-port", &sshd.port.to_string())
            .input("ssh-key", &sshd.client_key_text())
            .input("ssh-known-hosts", &sshd.known_hosts_line)
            .input("compose-dir", &project.display().to_string());
        let mut child = run.command().spawn().unwrap();
        let log = || {
            let read = |f: &str| std::fs::read_to_string(run.dir().join(f)).unwrap_or_default();
            format!("{}{}\nsshd: {}", read("stdout"), read("stderr"), sshd.log())
        };
        let started =
            wait_for(Duration::from_secs(30), || marker.exists() && !key_dirs(tmp.path()).is_empty());
        assert!(started, "{name}: the remote compose did not start:\n{}", log());
        let remote: u32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
        let tmp_text = tmp.path().display().to_string();
        let ssh = processes_mentioning(&tmp_text);
        assert!(!ssh.is_empty(), "{name}: no ssh process with the key of {tmp_text}");

        let sent = Instant::now();
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let exited = wait_for(Duration::from_secs(5), || child.try_wait().unwrap().is_some());
        if !exited {
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        let took = sent.elapsed();
        assert!(exited, "{name}: still running 5 s after the signal:\n{}", log());
        assert_eq!(status.code(), Some(code), "{name}:\n{}", log());
        assert!(log().contains(&format!("received {name}: stopped 1 child process group")), "{}", log());
        assert!(key_dirs(tmp.path()).is_empty(), "{name}: key directory left: {:?}", key_dirs(tmp.path()));
        let ssh_gone = wait_for(Duration::from_secs(2), || ssh.iter().all(|p| !alive(*p)));
        assert!(ssh_gone, "{name}: ssh {ssh:?} outlived the binary");
        let key_line = sshd.client_key_text().lines().nth(1).unwrap().to_owned();
        let leaked = log().lines().any(|l| !l.starts_with("::add-mask::") && l.contains(&key_line));
        assert!(!leaked, "{name}: key material in the log:\n{}", log());
        // Without a pty, sshd does not signal the remote command when the client goes away:
        // report what the host did, then stop it.
        let remote_gone = wait_for(Duration::from_secs(2), || !alive(remote));
        eprintln!("{name}: exit {code} {took:.2?} after the signal; remote compose gone: {remote_gone}");
        if !remote_gone {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(remote as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
    }
}
