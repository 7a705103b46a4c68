//! `compose-ssh`: deploy to one or more hosts running docker compose, over the system OpenSSH
//! client. The key and the pinned host keys go to private temporary files; the versions go to
//! each host on stdin and are merged into its env file under a lock; only the changed services
//! are pulled and recreated, and the digest each then runs is checked against the one the
//! release verified. Hosts go one after the other (or `max-parallel` at a time), each
//! health-checked before the next; the hosts a failed rollout changed are the ones its
//! rollback restores.

use super::compose_ssh_script::{Project, REPLACED, Running, check_running, parse_running, remote_script};
use super::process::{Finished, run_streamed, shell_quote};
use super::{Rollout, Target, TargetError};
use crate::deploy::health::{self, HealthCheck};
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const NAME: &str = "compose-ssh";

/// The `-o` options of every ssh we run: the host key must be pinned, no prompt, only our key.
pub(crate) const SSH_OPTIONS: [&str; 9] = [
    "StrictHostKeyChecking=yes",
    "BatchMode=yes",
    "IdentitiesOnly=yes",
    "GlobalKnownHostsFile=/dev/null",
    "UpdateHostKeys=no",
    "ConnectTimeout=30",
    "ServerAliveInterval=15",
    "ServerAliveCountMax=4",
    "LogLevel=ERROR",
];

/// One host to deploy to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshHost {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// SSH port.
    pub port: u16,
}

/// Where and how to reach the compose project.
#[derive(Clone, Debug)]
pub struct ComposeSsh {
    /// The hosts, in rollout order (at least one).
    pub hosts: Vec<SshHost>,
    /// Login on the hosts.
    pub user: String,
    /// Private key (OpenSSH or PEM format).
    pub key: Secret,
    /// `known_hosts` lines pinning the hosts' keys.
    pub known_hosts: String,
    /// Compose project directory on the hosts.
    pub dir: String,
    /// Compose files (`-f`), relative to `dir`; empty: compose's default.
    pub files: Vec<String>,
    /// Env file the compose file reads the tags from, relative to `dir`.
    pub env_file: String,
    /// Run `docker image prune -f` afterwards.
    pub prune: bool,
    /// Service name → compose service name, where they differ.
    pub services: BTreeMap<String, String>,
    /// How many hosts are deployed at once (1: one after the other).
    pub max_parallel: usize,
    /// The ssh program (default `ssh` on PATH).
    pub ssh_program: PathBuf,
    /// The hosts (indexes) the last deploy of this process changed; `None` before any. A
    /// rollback that follows one restores exactly those.
    pub changed_hosts: Arc<Mutex<Option<Vec<usize>>>>,
}

/// Why a rollout stopped: a host's deploy, or its (or the final) health check.
#[derive(Debug)]
enum Stop {
    Deploy(TargetError),
    Health(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Deploy(e) => write!(f, "deploy failed: {e}"),
            Stop::Health(m) => f.write_str(m),
        }
    }
}

type Shared<'a, 'p> = Mutex<&'a mut (dyn FnMut(&str) + Send + 'p)>;

/// What every host's ssh gets: the key and known_hosts files, and the script.
struct Session<'a> {
    key: &'a Path,
    known: &'a Path,
    script: &'a str,
}

fn say(shared: &Shared<'_, '_>, line: &str) {
    let mut guard = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    (*guard)(line);
}

impl ComposeSsh {
    /// `user@host:port` (`user@[::1]:port`), for messages.
    pub fn destination(&self, h: &SshHost) -> String {
        if h.host.contains(':') {
            format!("{}@[{}]:{}", self.user, h.host, h.port)
        } else {
            format!("{}@{}:{}", self.user, h.host, h.port)
        }
    }

    /// The compose service names to pull and recreate, in rollout order.
    pub fn compose_services(&self, rollout: &Rollout) -> Vec<String> {
        rollout
            .changed
            .iter()
            .map(|c| self.services.get(&c.service).cloned().unwrap_or_else(|| c.service.clone()))
            .collect()
    }

    /// The script each host's `sh` runs (see [`remote_script`]).
    pub fn remote_script(&self, rollout: &Rollout) -> String {
        let project =
            Project { dir: &self.dir, files: &self.files, env_file: &self.env_file, prune: self.prune };
        remote_script(&project, rollout, &self.compose_services(rollout))
    }

    fn ssh_command(
        &self,
        h: &SshHost,
        key: &Path,
        known_hosts: &Path,
        script: &str,
    ) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.ssh_program);
        c.arg("-i").arg(key);
        for opt in SSH_OPTIONS {
            c.arg("-o").arg(opt);
        }
        c.arg("-o").arg(format!("UserKnownHostsFile={}", known_hosts.display()));
        c.arg("-p").arg(h.port.to_string()).arg("-l").arg(&self.user);
        c.arg("--").arg(&h.host).arg(format!("sh -c {}", shell_quote(script)));
        c
    }

    fn failure(&self, h: &SshHost, done: &Finished) -> TargetError {
        let stderr = done.stderr_tail.join("\n");
        let dest = self.destination(h);
        let message = if stderr.contains("Host key verification failed")
            || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            format!(
                "the host key of {dest} does not match `ssh-known-hosts`; nothing was changed on it. If the \
                 host was rebuilt, get its key with `ssh-keyscan -p {} {}`, verify the fingerprint \
                 (`ssh-keygen -lf -`) against the host's console, and update the input{}",
                h.port,
                h.host,
                done.tail_block()
            )
        } else if done.status.code() == Some(255) {
            format!("ssh to {dest} failed ({}){}", done.describe_status(), done.tail_block())
        } else {
            format!(
                "the deploy script in {} on {dest} failed ({}){}",
                self.dir,
                done.describe_status(),
                done.tail_block()
            )
        };
        TargetError::failed(NAME, message)
    }

    /// The hosts this rollout goes to: a rollback right after a deploy of this process goes
    /// to the hosts that deploy changed; any other rollout to every host (and is remembered).
    fn hosts_for(&self, rollout: &Rollout) -> Vec<usize> {
        let mut state = self.changed_hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.as_ref() {
            Some(changed) if rollout.rollback => changed.clone(),
            _ => {
                *state = Some(Vec::new());
                (0..self.hosts.len()).collect()
            }
        }
    }

    /// Deploys `rollout` host by host (`max_parallel` at a time), each health-checked with
    /// the checks naming `{host}` before the next; the others run once at the end.
    async fn roll(
        &self,
        rollout: &Rollout,
        checks: &[HealthCheck],
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), Stop> {
        let io =
            |what: &str, e: std::io::Error| Stop::Deploy(TargetError::failed(NAME, format!("{what}: {e}")));
        let undo = rollout.rollback && self.changed_hosts.lock().is_ok_and(|s| s.is_some());
        let which = self.hosts_for(rollout);
        if which.is_empty() {
            progress("compose-ssh: no host was changed, so none is rolled back");
            return Ok(());
        }
        if undo {
            let names: Vec<String> = which.iter().map(|&i| self.destination(&self.hosts[i])).collect();
            progress(&format!("compose-ssh: rolling back the host(s) changed: {}", names.join(", ")));
        }
        // Deleted when dropped, on every path out of this function, and by the signal handler
        // and the panic hook (crate::cleanup) on the others.
        let tmp = crate::cleanup::PrivateDir::new("deploy-action-ssh-")
            .map_err(|e| io("cannot create a temporary directory", e))?;
        let key = private_file(tmp.path(), "id", &normalize_key(self.key.expose()))
            .map_err(|e| io("cannot write the key file", e))?;
        let known = private_file(tmp.path(), "known_hosts", &format!("{}\n", self.known_hosts.trim()))
            .map_err(|e| io("cannot write the known_hosts file", e))?;
        let script = self.remote_script(rollout);
        {
            let shared: Shared<'_, '_> = Mutex::new(&mut *progress);
            for (n, batch) in which.chunks(self.max_parallel.max(1)).enumerate() {
                let session = Session { key: &key, known: &known, script: &script };
                let runs = batch.iter().map(|&i| self.one_host(i, rollout, checks, &session, &shared));
                let results = futures::future::join_all(runs).await;
                let mut stop = None;
                for (&i, (changed, result)) in batch.iter().zip(results) {
                    if changed
                        && !undo
                        && let Ok(mut s) = self.changed_hosts.lock()
                    {
                        s.get_or_insert_default().push(i);
                    }
                    if let Err(e) = result {
                        stop.get_or_insert(e);
                    }
                }
                if let Some(e) = stop {
                    let left: Vec<String> = which
                        .chunks(self.max_parallel.max(1))
                        .skip(n + 1)
                        .flatten()
                        .map(|&i| self.destination(&self.hosts[i]))
                        .collect();
                    if !left.is_empty() {
                        say(&shared, &format!("compose-ssh: stopped; not deployed to {}", left.join(", ")));
                    }
                    return Err(e);
                }
            }
        }
        drop(tmp);
        health::check_all(&health::host_free(checks), progress).await.map_err(Stop::Health)
    }

    /// One host: the script, the digests its changed services run, its `{host}` checks.
    /// Returns whether the host's env file was replaced (the host changed), and how it went.
    async fn one_host(
        &self,
        i: usize,
        rollout: &Rollout,
        checks: &[HealthCheck],
        session: &Session<'_>,
        shared: &Shared<'_, '_>,
    ) -> (bool, Result<(), Stop>) {
        let h = &self.hosts[i];
        let dest = self.destination(h);
        let services = self.compose_services(rollout);
        let of = if self.hosts.len() > 1 {
            format!(" (host {} of {})", i + 1, self.hosts.len())
        } else {
            String::new()
        };
        say(
            shared,
            &format!(
                "compose-ssh: {dest}{of} in {}: write {}, pull and up -d {}",
                self.dir,
                self.env_file,
                if services.is_empty() { "(no changed service)".to_owned() } else { services.join(" ") }
            ),
        );
        let prefix = if self.hosts.len() > 1 { format!("{}: ", h.host) } else { "remote: ".to_owned() };
        let (mut changed, mut running): (bool, Vec<Running>) = (false, Vec::new());
        let cmd = self.ssh_command(h, session.key, session.known, session.script);
        let done = {
            let mut watch = |line: &str| {
                let body = line.strip_prefix(prefix.as_str()).unwrap_or(line);
                if body == REPLACED {
                    changed = true;
                } else if let Some(r) = parse_running(body) {
                    running.push(r);
                } else {
                    say(shared, line);
                }
            };
            run_streamed(cmd, Some(env_file_content(rollout).as_bytes()), &prefix, &mut watch).await
        };
        let done = match done {
            Ok(d) => d,
            Err(e) => {
                let e = TargetError::failed(NAME, format!("cannot run {}: {e}", self.ssh_program.display()));
                return (false, Err(Stop::Deploy(e)));
            }
        };
        if !done.status.success() {
            return (changed, Err(Stop::Deploy(self.failure(h, &done))));
        }
        let wanted: Vec<(String, &super::ServiceChange)> =
            services.into_iter().zip(&rollout.changed).collect();
        match check_running(&wanted, &running) {
            Ok(lines) => {
                for l in lines {
                    say(shared, &format!("compose-ssh: {dest}: {l}"));
                }
            }
            Err(m) => return (changed, Err(Stop::Deploy(TargetError::failed(NAME, format!("{dest}: {m}"))))),
        }
        let mine = health::for_host(checks, &h.host);
        let mut log = |l: &str| say(shared, l);
        if let Err(e) = health::check_all(&mine, &mut log).await {
            return (changed, Err(Stop::Health(format!("{e} (after the deploy to {dest})"))));
        }
        say(shared, &format!("compose-ssh: {dest} up to date"));
        (changed, Ok(()))
    }
}

/// The env file's content: every `KEY=VALUE` of the rollout, one per line.
pub(crate) fn env_file_content(rollout: &Rollout) -> String {
    rollout.versions.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

pub(crate) fn private_file(dir: &Path, name: &str, content: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    f.write_all(content.as_bytes())?;
    Ok(path)
}

/// A private key as OpenSSH reads it: LF line ends and a final newline (a pasted secret often
/// lacks it, and ssh then calls the key "invalid format").
pub(crate) fn normalize_key(key: &str) -> String {
    let mut k = key.replace("\r\n", "\n").trim().to_owned();
    k.push('\n');
    k
}

impl Target for ComposeSsh {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn deploy(
        &self,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        self.roll(rollout, &[], progress).await.map_err(|e| match e {
            Stop::Deploy(e) => e,
            Stop::Health(m) => TargetError::failed(NAME, m),
        })
    }

    async fn deploy_checked(
        &self,
        rollout: &Rollout,
        checks: &[HealthCheck],
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), String> {
        self.roll(rollout, checks, progress).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::targets::ServiceChange;
    use crate::deploy::targets::compose_ssh_script::remote_dir;

    fn target() -> ComposeSsh {
        ComposeSsh {
            hosts: vec![SshHost { host: "vm.example".into(), port: 22 }],
            user: "deploy".into(),
            key: Secret::new("k"),
            known_hosts: String::new(),
            dir: "/srv/my app".into(),
            files: vec!["compose.yml".into()],
            env_file: ".env.versions".into(),
            prune: true,
            services: [("api".to_owned(), "api-server".to_owned())].into(),
            max_parallel: 1,
            ssh_program: "ssh".into(),
            changed_hosts: Arc::default(),
        }
    }

    fn rollout() -> Rollout {
        Rollout {
            environment: "staging".into(),
            versions: vec![("API_IMAGE_TAG".into(), "1.2.4".into()), ("WEB_IMAGE_TAG".into(), "2.0".into())],
            changed: vec![ServiceChange {
                service: "api".into(),
                key: "API_IMAGE_TAG".into(),
                old: Some("1.2.3".into()),
                new: "1.2.4".into(),
                image: None,
                digest: None,
            }],
            rollback: false,
        }
    }

    #[test]
    fn script_quotes_values_and_touches_only_changed_services() {
        let s = target().remote_script(&rollout());
        assert!(s.contains("cd '/srv/my app'\n"), "{s}");
        assert!(s.contains("envf \"$tmp\"\ndc --env-file \"$e\" -f compose.yml pull api-server\n"), "{s}");
        assert!(
            s.contains("envf .env.versions\ndc --env-file \"$e\" -f compose.yml up -d api-server\n"),
            "{s}"
        );
        assert!(s.contains("docker-compose \"$@\""), "{s}");
        assert!(s.ends_with("docker image prune -f\n"), "{s}");
        // The versions never appear in the command line.
        assert!(!s.contains("1.2.4"), "{s}");
        assert_eq!(env_file_content(&rollout()), "API_IMAGE_TAG=1.2.4\nWEB_IMAGE_TAG=2.0\n");
    }

    /// A project directory and a `bin` with fake `docker` (no `compose` subcommand) and
    /// `docker-compose` that logs its arguments and, for `up`, the env file it was given.
    fn fake_host() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // `docker compose version` fails, so the script must fall back to docker-compose.
        // `docker inspect` gives an image id, `docker image inspect` its registry digests.
        let docker = "#!/bin/sh\n[ \"$1\" = compose ] && exit 1\n\
                      case \"$1 $2\" in 'inspect '*) echo sha256:img; exit;; 'image inspect') echo '[\"reg/api@sha256:d1\"]'; exit;; esac\n\
                      echo \"docker $*\"\n";
        std::fs::write(bin.join("docker"), docker).unwrap();
        let compose = "#!/bin/sh\ncase \" $* \" in *' ps '*) echo cid1; exit;; esac\necho \"v1 $*\"\n\
                       case \" $* \" in *' up '*) sleep \"${UP_DELAY:-0}\"; echo \"up saw $(tr '\\n' ' ' < \"$2\")\";; esac\n";
        std::fs::write(bin.join("docker-compose"), compose).unwrap();
        for f in ["docker", "docker-compose"] {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let project = dir.path().join("it's here");
        std::fs::create_dir(&project).unwrap();
        (dir, bin, project)
    }

    fn spawn_script(t: &ComposeSsh, r: &Rollout, bin: &Path, up_delay: &str) -> std::process::Child {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(t.remote_script(r))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("UP_DELAY", up_delay)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(env_file_content(r).as_bytes()).unwrap();
        child
    }

    fn finish(child: std::process::Child) -> String {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        text
    }

    #[test]
    fn the_script_runs_under_sh_with_a_fake_compose() {
        let (_dir, bin, project) = fake_host();
        let t = ComposeSsh { dir: project.display().to_string(), ..target() };
        let text = finish(spawn_script(&t, &rollout(), &bin, "0"));
        assert!(text.contains("v1 --env-file .env.versions -f compose.yml up -d api-server"), "{text}");
        assert!(
            text.contains("deploy-action: running api-server sha256:img [\"reg/api@sha256:d1\"]"),
            "{text}"
        );
        assert!(text.contains("docker image prune -f"), "{text}");
        let written = std::fs::read_to_string(project.join(".env.versions")).unwrap();
        assert_eq!(written, env_file_content(&rollout()));
        let mut left: Vec<String> = std::fs::read_dir(&project)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".env.versions", ".env.versions.lock"], "temp files left behind");
    }

    #[test]
    fn only_the_changed_keys_are_merged_into_the_hosts_file() {
        let (_dir, bin, project) = fake_host();
        // Another release (of web) already reached this host: its tag and the comment stay.
        std::fs::write(
            project.join(".env.versions"),
            "# live\nAPI_IMAGE_TAG=1.2.3\nWEB_IMAGE_TAG=2.1\nX=1\n",
        )
        .unwrap();
        let t = ComposeSsh { dir: project.display().to_string(), ..target() };
        let mut r = rollout();
        r.versions.push(("WORKER_IMAGE_TAG".into(), "0.1".into()));
        finish(spawn_script(&t, &r, &bin, "0"));
        let written = std::fs::read_to_string(project.join(".env.versions")).unwrap();
        assert_eq!(written, "# live\nAPI_IMAGE_TAG=1.2.4\nWEB_IMAGE_TAG=2.1\nX=1\nWORKER_IMAGE_TAG=0.1\n");
    }

    #[test]
    fn the_last_occurrence_of_a_key_is_replaced_and_the_projects_env_reaches_compose() {
        let (_dir, bin, project) = fake_host();
        std::fs::write(
            project.join(".env.versions"),
            "API_IMAGE_TAG=0.9\n# later\nexport API_IMAGE_TAG = 1.2.3\nWEB_IMAGE_TAG=2.0\n",
        )
        .unwrap();
        // The project's own variables, without a final newline.
        std::fs::write(project.join(".env"), "DB_HOST=db\nAPI_IMAGE_TAG=stale").unwrap();
        let t = ComposeSsh { dir: project.display().to_string(), prune: false, ..target() };
        let text = finish(spawn_script(&t, &rollout(), &bin, "0"));
        let written = std::fs::read_to_string(project.join(".env.versions")).unwrap();
        assert_eq!(written, "API_IMAGE_TAG=0.9\n# later\nAPI_IMAGE_TAG=1.2.4\nWEB_IMAGE_TAG=2.0\n");
        // Compose read `.env`, then the versions (which win: the last assignment does).
        assert!(
            text.contains(
                "up saw DB_HOST=db API_IMAGE_TAG=stale API_IMAGE_TAG=0.9 # later API_IMAGE_TAG=1.2.4 WEB_IMAGE_TAG=2.0 "
            ),
            "{text}"
        );
        let mut left: Vec<String> = std::fs::read_dir(&project)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".env", ".env.versions", ".env.versions.lock"], "temp files left behind");
    }

    #[test]
    fn two_deploys_to_one_host_run_one_after_the_other_and_both_tags_stay() {
        let (_dir, bin, project) = fake_host();
        let t = ComposeSsh { dir: project.display().to_string(), prune: false, ..target() };
        // Each release recorded its own tag on a file that did not have the other's yet.
        let api = rollout();
        let mut web = rollout();
        web.versions = vec![("API_IMAGE_TAG".into(), "1.2.3".into()), ("WEB_IMAGE_TAG".into(), "2.1".into())];
        web.changed[0] = ServiceChange {
            service: "web".into(),
            key: "WEB_IMAGE_TAG".into(),
            old: Some("2.0".into()),
            new: "2.1".into(),
            image: None,
            digest: None,
        };
        let first = spawn_script(&t, &api, &bin, "0.5");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let second = spawn_script(&t, &web, &bin, "0");
        let (first, second) = (finish(first), finish(second));
        assert!(first.contains("up saw API_IMAGE_TAG=1.2.4 WEB_IMAGE_TAG=2.0 "), "{first}");
        assert!(second.contains("waiting for it"), "{second}");
        assert!(second.contains("up saw API_IMAGE_TAG=1.2.4 WEB_IMAGE_TAG=2.1 "), "{second}");
        let written = std::fs::read_to_string(project.join(".env.versions")).unwrap();
        assert_eq!(written, "API_IMAGE_TAG=1.2.4\nWEB_IMAGE_TAG=2.1\n");
    }

    #[test]
    fn a_home_relative_dir_is_the_logins_home() {
        let home = std::env::var("HOME").unwrap();
        for (dir, expected) in
            [("~", home.clone()), ("~/", format!("{home}/")), ("~/a b", format!("{home}/a b"))]
        {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", remote_dir(dir)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{dir}");
        }
        assert_eq!(remote_dir("/srv/~x"), "'/srv/~x'");
        let t = target();
        assert_eq!(t.destination(&SshHost { host: "::1".into(), port: 22 }), "deploy@[::1]:22");
    }

    #[test]
    fn a_rollback_after_a_deploy_goes_to_the_hosts_it_changed_and_only_those() {
        let host = |h: &str| SshHost { host: h.into(), port: 22 };
        let t = ComposeSsh { hosts: vec![host("vm1"), host("vm2"), host("vm3")], ..target() };
        let mut r = rollout();
        assert_eq!(t.hosts_for(&r), [0, 1, 2]);
        // The deploy changed vm1 and vm2, then vm2 failed.
        t.changed_hosts.lock().unwrap().as_mut().unwrap().extend([0, 1]);
        r.rollback = true;
        assert_eq!(t.hosts_for(&r), [0, 1]);
        // A rollback that is not the undo of a deploy in this process (`command: rollback`)
        // goes to every host.
        let fresh = ComposeSsh { changed_hosts: Arc::default(), ..t.clone() };
        assert_eq!(fresh.hosts_for(&r), [0, 1, 2]);
        // A new deploy forgets what the last one changed.
        r.rollback = false;
        assert_eq!(t.hosts_for(&r), [0, 1, 2]);
        assert_eq!(*t.changed_hosts.lock().unwrap(), Some(vec![]));
    }

    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = private_file(dir.path(), "id", "k\n").unwrap();
        assert_eq!(std::fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn keys_get_a_final_newline() {
        assert_eq!(
            normalize_key("-----BEGIN X-----\r\nabc\r\n-----END X-----"),
            "-----BEGIN X-----\nabc\n-----END X-----\n"
        );
    }
}
