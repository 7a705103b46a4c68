//! `swarm-host: ssh://user@host[:port][/socket]`: the manager's Engine API socket forwarded to
//! a private local socket by the system OpenSSH client (`ssh -N -L local.sock:remote.sock`),
//! with the same pinned host key, key file and options as `compose-ssh`. The tunnel lives as
//! long as the deploy; key, known_hosts and socket are in a private directory removed after.

use super::TargetError;
use super::compose_ssh::{SSH_OPTIONS, normalize_key, private_file};
use crate::builder::docker::Engine;
use crate::cleanup::PrivateDir;
use crate::secret::Secret;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;

const NAME: &str = "swarm";
/// Longest wait for ssh to log in and bind the local socket.
const OPEN_TIMEOUT: Duration = Duration::from_secs(45);

/// How to reach a manager's socket over SSH.
#[derive(Clone, Debug)]
pub struct SshTunnel {
    /// Host name or address (no brackets).
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Login on the manager (must be allowed to use the socket).
    pub user: String,
    /// Private key.
    pub key: Secret,
    /// `known_hosts` lines pinning the manager's key.
    pub known_hosts: String,
    /// The Engine API socket on the manager (`/var/run/docker.sock`).
    pub socket: String,
    /// The ssh program (`ssh` on PATH).
    pub ssh_program: PathBuf,
}

/// An open tunnel: its engine, and the ssh process and files that end with it.
pub(crate) struct OpenTunnel {
    /// The manager's engine through the local socket.
    pub engine: Engine,
    _child: tokio::process::Child,
    _dir: PrivateDir,
}

impl SshTunnel {
    /// `user@host:port`, for messages.
    pub fn destination(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{}@{host}:{}", self.user, self.port)
    }

    /// Starts `ssh -N -L` and waits (bounded) until the local socket exists.
    pub(crate) async fn open(&self) -> Result<OpenTunnel, TargetError> {
        let io = |what: &str, e: std::io::Error| TargetError::failed(NAME, format!("{what}: {e}"));
        let dir = PrivateDir::new("deploy-action-swarm-")
            .map_err(|e| io("cannot create a temporary directory", e))?;
        let key = private_file(dir.path(), "id", &normalize_key(self.key.expose()))
            .map_err(|e| io("cannot write the key file", e))?;
        let known = private_file(dir.path(), "known_hosts", &format!("{}\n", self.known_hosts.trim()))
            .map_err(|e| io("cannot write the known_hosts file", e))?;
        let local = dir.path().join("docker.sock");
        let mut c = tokio::process::Command::new(&self.ssh_program);
        c.arg("-i").arg(&key);
        for opt in SSH_OPTIONS.iter().chain(&["ExitOnForwardFailure=yes", "StreamLocalBindUnlink=yes"]) {
            c.arg("-o").arg(opt);
        }
        c.arg("-o").arg(format!("UserKnownHostsFile={}", known.display()));
        c.arg("-N").arg("-L").arg(format!("{}:{}", local.display(), self.socket));
        c.arg("-p").arg(self.port.to_string()).arg("-l").arg(&self.user).arg("--").arg(&self.host);
        c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
        c.stderr(std::process::Stdio::piped()).kill_on_drop(true);
        let mut child =
            c.spawn().map_err(|e| io(&format!("cannot run {}", self.ssh_program.display()), e))?;
        let started = Instant::now();
        while !local.exists() {
            if let Some(status) = child.try_wait().map_err(|e| io("waiting for ssh", e))? {
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr).await;
                }
                return Err(self.failure(&status.to_string(), stderr.trim()));
            }
            if started.elapsed() > OPEN_TIMEOUT {
                return Err(self.failure(&format!("no tunnel after {OPEN_TIMEOUT:?}"), ""));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let engine = Engine::at(&format!("unix://{}", local.display()))
            .ok_or_else(|| TargetError::failed(NAME, format!("bad local socket path {}", local.display())))?
            .named(format!("ssh://{}{}", self.destination(), self.socket));
        Ok(OpenTunnel { engine, _child: child, _dir: dir })
    }

    fn failure(&self, status: &str, stderr: &str) -> TargetError {
        let hint = if stderr.contains("Host key verification failed")
            || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            format!(
                ": the host key does not match `ssh-known-hosts`; get it with `ssh-keyscan -p {} {}` and verify \
                 its fingerprint",
                self.port, self.host
            )
        } else {
            String::new()
        };
        let said = if stderr.is_empty() { String::new() } else { format!("\n{stderr}") };
        TargetError::failed(
            NAME,
            format!("ssh tunnel to {} ({}) failed ({status}){hint}{said}", self.socket, self.destination()),
        )
    }
}
