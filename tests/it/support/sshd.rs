//! A real OpenSSH server on 127.0.0.1 standing in for the deployment VM: its own host key,
//! one authorized client key, a free port, stopped when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sshd and the client material to reach it.
pub struct Sshd {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// The client's private key (OpenSSH format).
    pub client_key: PathBuf,
    /// A `known_hosts` line pinning the server's host key (`[127.0.0.1]:port ssh-ed25519 …`).
    pub known_hosts_line: String,
    dir: tempfile::TempDir,
    child: Child,
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "deploy-action-test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "ssh-keygen failed");
}

/// How often [`Sshd::start_with_config`] tries another port when its port was taken.
const BIND_ATTEMPTS: usize = 5;

/// A free TCP port on loopback (released before use: a server given it may lose it to another
/// process and must retry; see [`Sshd::start_with_config`]).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Sshd {
    /// Starts sshd for the current user (root in CI), key authentication only.
    pub fn start() -> Sshd {
        Sshd::start_with_config("")
    }

    /// Starts sshd whose sessions get `DOCKER_HOST` (sshd's `SetEnv`): the "VM" runs its
    /// containers on the test engine.
    pub fn start_with_docker(docker_host: &str) -> Sshd {
        Sshd::start_with_config(&format!("SetEnv DOCKER_HOST={docker_host}\n"))
    }

    /// Starts sshd with `extra` lines appended to its config.
    pub fn start_with_config(extra: &str) -> Sshd {
        Sshd::start_on(extra, std::iter::repeat_with(free_port))
    }

    /// Starts sshd on the first of `ports` it can bind (at most [`BIND_ATTEMPTS`] tried).
    pub fn start_on(extra: &str, ports: impl IntoIterator<Item = u16>) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let d = &dir.path().to_owned();
        keygen(&d.join("host_ed25519"));
        keygen(&d.join("client_ed25519"));
        std::fs::copy(d.join("client_ed25519.pub"), d.join("authorized_keys")).unwrap();
        // sshd binds the port itself: between free_port() releasing a port and sshd binding it,
        // another test may take it; sshd then exits ("Cannot bind any address") and we try
        // another port. Ready means our sshd logged that it listens, not that something does.
        for port in ports.into_iter().take(BIND_ATTEMPTS) {
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile {d}/sshd.pid\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n{extra}",
                d = d.display()
            );
            std::fs::write(d.join("sshd_config"), config).unwrap();
            // sshd refuses to start without its privilege-separation directory.
            let _ = std::fs::create_dir_all("/run/sshd");
            let mut child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
                .spawn()
                .expect("start sshd (apt-get install openssh-server)");
            let log = || std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
            let listening = format!("Server listening on 127.0.0.1 port {port}.");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if log().contains(&listening) {
                    let host_pub = std::fs::read_to_string(d.join("host_ed25519.pub")).unwrap();
                    let key = host_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                    let known_hosts_line = format!("[127.0.0.1]:{port} {key}");
                    return Sshd { port, client_key: d.join("client_ed25519"), known_hosts_line, dir, child };
                }
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(log().contains("Cannot bind any address"), "sshd exited ({status}): {}", log());
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("sshd did not listen in 10 s: {}", log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("sshd found no free port in {BIND_ATTEMPTS} attempts");
    }

    /// The client's private key, as a secret input carries it.
    pub fn client_key_text(&self) -> String {
        std::fs::read_to_string(&self.client_key).unwrap()
    }

    /// This server's host key line, pinned for `other`'s address: a wrong key for `other`.
    pub fn forged_line_for(&self, other: &Sshd) -> String {
        self.known_hosts_line.replace(&format!(":{}", self.port), &format!(":{}", other.port))
    }

    /// Authorizes `other`'s client key too (one key for several "VMs").
    pub fn authorize(&self, other: &Sshd) {
        let key = std::fs::read_to_string(other.client_key.with_extension("pub")).unwrap();
        let path = self.dir.path().join("authorized_keys");
        let mut keys = std::fs::read_to_string(&path).unwrap();
        keys.push_str(&key);
        std::fs::write(path, keys).unwrap();
    }

    /// sshd's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// An `ssh` command to the server with the pinned host key (strict checking stays on).
    pub fn ssh(&self, remote_command: &str) -> Command {
        self.ssh_pinned(remote_command, &self.known_hosts_line)
    }

    /// An `ssh` command that trusts only `known_hosts_line` for the server.
    pub fn ssh_pinned(&self, remote_command: &str, known_hosts_line: &str) -> Command {
        let kh = self.dir.path().join(format!("known_hosts-{:x}", rand_suffix(known_hosts_line)));
        std::fs::write(&kh, format!("{known_hosts_line}\n")).unwrap();
        let mut c = Command::new("ssh");
        c.arg("-i")
            .arg(&self.client_key)
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", kh.display()))
            .args(["-p", &self.port.to_string(), "root@127.0.0.1", remote_command]);
        c
    }
}

fn rand_suffix(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
