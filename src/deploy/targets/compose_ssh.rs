//! `compose-ssh`: deploy to a host running docker compose, over the system OpenSSH client.
//! The key and the pinned host keys go to private temporary files; the versions go to the
//! host on stdin and are merged into its env file under a lock; only the changed services are
//! pulled and recreated.

use super::process::{Finished, run_streamed, shell_quote};
use super::{Rollout, Target, TargetError};
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

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

/// Where and how to reach the compose project.
#[derive(Clone, Debug)]
pub struct ComposeSsh {
    /// Host name or address.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Login on the host.
    pub user: String,
    /// Private key (OpenSSH or PEM format).
    pub key: Secret,
    /// `known_hosts` lines pinning the host's key(s).
    pub known_hosts: String,
    /// Compose project directory on the host.
    pub dir: String,
    /// Compose files (`-f`), relative to `dir`; empty: compose's default.
    pub files: Vec<String>,
    /// Env file the compose file reads the tags from, relative to `dir`.
    pub env_file: String,
    /// Run `docker image prune -f` afterwards.
    pub prune: bool,
    /// Service name → compose service name, where they differ.
    pub services: BTreeMap<String, String>,
    /// The ssh program (default `ssh` on PATH).
    pub ssh_program: PathBuf,
}

impl ComposeSsh {
    /// `user@host:port` (`user@[::1]:port`), for messages.
    pub fn destination(&self) -> String {
        if self.host.contains(':') {
            format!("{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            format!("{}@{}:{}", self.user, self.host, self.port)
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

    /// The script the host's `sh` runs; every value in it is quoted. It holds the project's
    /// lock (`flock` on `<env-file>.lock`, when the host has flock) for the whole deploy, so
    /// two deploys to one host run one after the other. The versions arrive on stdin; only the
    /// changed keys are merged into the host's env file (a concurrent release of another
    /// service keeps its tag), and the merged file replaces it only after the pull succeeded.
    pub fn remote_script(&self, rollout: &Rollout) -> String {
        let q = |s: &str| shell_quote(s);
        let services: Vec<String> = self.compose_services(rollout).iter().map(|s| q(s)).collect();
        let files: String = self.files.iter().map(|f| format!(" -f {}", q(f))).collect();
        let env_file = q(&self.env_file);
        let lock_name = format!("{}.lock", self.env_file);
        let lock = q(&lock_name);
        // Said inside the script's single quotes.
        let lock_said = lock_name.replace('\'', "");
        let keys: Vec<&str> = rollout.changed.iter().map(|c| c.key.as_str()).collect();
        let mut s = String::from("set -eu\n");
        s += &format!("cd {}\n", remote_dir(&self.dir));
        s += "if command -v flock >/dev/null 2>&1; then\n";
        s += &format!("  exec 9>>{lock}\n");
        s += &format!(
            "  flock -n 9 || {{ echo 'another deploy to this project holds {lock_said}: waiting for it (up to 15 minutes)'; \
             flock -w 900 9 || {{ echo 'gave up waiting for {lock_said}: nothing was changed' >&2; exit 75; }}; }}\n"
        );
        s += "else echo 'warning: flock is not installed on this host, so concurrent deploys to it are not serialized' >&2; fi\n";
        s += &format!("tmp={env_file}.deploy-action.$$\n");
        s += "trap 'rm -f \"$tmp\" \"$tmp.in\"' EXIT\n";
        s += "cat > \"$tmp.in\"\n";
        s += &format!("current={env_file}; [ -f \"$current\" ] || current=/dev/null\n");
        s += &format!(
            "awk -v keys={} {} \"$tmp.in\" \"$current\" > \"$tmp\"\n",
            q(&keys.join(" ")),
            q(MERGE_AWK)
        );
        s += "if docker compose version >/dev/null 2>&1; then dc() { docker compose \"$@\"; }\n";
        s += "elif command -v docker-compose >/dev/null 2>&1; then dc() { docker-compose \"$@\"; }\n";
        s += "else echo 'neither `docker compose` nor `docker-compose` is installed on this host' >&2; exit 127; fi\n";
        if services.is_empty() {
            s += "echo 'no service changed: versions written, nothing pulled or recreated'\n";
            s += &format!("mv -f \"$tmp\" {env_file}\n");
        } else {
            let list = services.join(" ");
            s += &format!("dc --env-file \"$tmp\"{files} pull {list}\n");
            s += &format!("mv -f \"$tmp\" {env_file}\n");
            s += &format!("dc --env-file {env_file}{files} up -d {list}\n");
        }
        if self.prune {
            s += "docker image prune -f\n";
        }
        s
    }

    fn ssh_command(&self, key: &Path, known_hosts: &Path, script: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.ssh_program);
        c.arg("-i").arg(key);
        for opt in SSH_OPTIONS {
            c.arg("-o").arg(opt);
        }
        c.arg("-o").arg(format!("UserKnownHostsFile={}", known_hosts.display()));
        c.arg("-p").arg(self.port.to_string()).arg("-l").arg(&self.user);
        c.arg("--").arg(&self.host).arg(format!("sh -c {}", shell_quote(script)));
        c
    }

    fn failure(&self, done: &Finished) -> TargetError {
        let stderr = done.stderr_tail.join("\n");
        let message = if stderr.contains("Host key verification failed")
            || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            format!(
                "the host key of {} does not match `ssh-known-hosts`; nothing was changed. If the \
                 host was rebuilt, get its key with `ssh-keyscan -p {} {}`, verify the fingerprint \
                 (`ssh-keygen -lf -`) against the host's console, and update the input{}",
                self.destination(),
                self.port,
                self.host,
                done.tail_block()
            )
        } else if done.status.code() == Some(255) {
            format!("ssh to {} failed ({}){}", self.destination(), done.describe_status(), done.tail_block())
        } else {
            format!(
                "the deploy script in {} on {} failed ({}){}",
                self.dir,
                self.destination(),
                done.describe_status(),
                done.tail_block()
            )
        };
        TargetError::failed(NAME, message)
    }
}

/// Merges the rollout's versions (first file) into the host's env file (second): the host's
/// lines stay as they are (comments, order, keys of other releases) except the changed `keys`,
/// which take the rollout's value (once, at their first place); rollout keys the host lacks
/// are appended. POSIX awk only (tested under mawk and busybox awk).
const MERGE_AWK: &str = r#"BEGIN { n = split(keys, k, " "); for (i = 1; i <= n; i++) changed[k[i]] = 1 }
FILENAME == ARGV[1] { p = index($0, "="); if (p > 1) { key = substr($0, 1, p - 1); if (!(key in want)) order[++m] = key; want[key] = $0 } next }
{ p = index($0, "="); if (p > 1) { key = substr($0, 1, p - 1); seen[key] = 1; if (key in changed) { if (!(key in done)) print want[key]; done[key] = 1; next } } print }
END { for (i = 1; i <= m; i++) if (!(order[i] in seen)) print want[order[i]] }"#;

/// `dir` as the host's shell reads it: quoted, with a leading `~` (`compose-dir: ~/app`) as
/// the login's home.
fn remote_dir(dir: &str) -> String {
    match dir.strip_prefix('~') {
        Some("") => "\"$HOME\"".to_owned(),
        Some(rest) if rest.starts_with('/') => format!("\"$HOME\"{}", shell_quote(rest)),
        _ => shell_quote(dir),
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
        let io = |what: &str, e: std::io::Error| TargetError::failed(NAME, format!("{what}: {e}"));
        // Deleted when dropped, on every path out of this function, and by the signal handler
        // and the panic hook (crate::cleanup) on the others.
        let tmp = crate::cleanup::PrivateDir::new("deploy-action-ssh-")
            .map_err(|e| io("cannot create a temporary directory", e))?;
        let key = private_file(tmp.path(), "id", &normalize_key(self.key.expose()))
            .map_err(|e| io("cannot write the key file", e))?;
        let known = private_file(tmp.path(), "known_hosts", &format!("{}\n", self.known_hosts.trim()))
            .map_err(|e| io("cannot write the known_hosts file", e))?;
        let services = self.compose_services(rollout);
        progress(&format!(
            "compose-ssh: {} in {}: write {}, pull and up -d {}",
            self.destination(),
            self.dir,
            self.env_file,
            if services.is_empty() { "(no changed service)".to_owned() } else { services.join(" ") }
        ));
        let cmd = self.ssh_command(&key, &known, &self.remote_script(rollout));
        let done = run_streamed(cmd, Some(env_file_content(rollout).as_bytes()), "remote: ", progress)
            .await
            .map_err(|e| io(&format!("cannot run {}", self.ssh_program.display()), e))?;
        drop(tmp);
        if !done.status.success() {
            return Err(self.failure(&done));
        }
        progress(&format!("compose-ssh: {} up to date", self.destination()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::targets::ServiceChange;

    fn target() -> ComposeSsh {
        ComposeSsh {
            host: "vm.example".into(),
            port: 22,
            user: "deploy".into(),
            key: Secret::new("k"),
            known_hosts: String::new(),
            dir: "/srv/my app".into(),
            files: vec!["compose.yml".into()],
            env_file: ".env.versions".into(),
            prune: true,
            services: [("api".to_owned(), "api-server".to_owned())].into(),
            ssh_program: "ssh".into(),
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
        assert!(s.contains("dc --env-file \"$tmp\" -f compose.yml pull api-server\n"), "{s}");
        assert!(s.contains("dc --env-file .env.versions -f compose.yml up -d api-server\n"), "{s}");
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
        std::fs::write(bin.join("docker"), "#!/bin/sh\n[ \"$1\" = compose ] && exit 1\necho \"docker $*\"\n")
            .unwrap();
        let compose = "#!/bin/sh\necho \"v1 $*\"\n\
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
        assert_eq!(ComposeSsh { host: "::1".into(), ..target() }.destination(), "deploy@[::1]:22");
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
