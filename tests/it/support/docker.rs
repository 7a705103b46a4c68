//! A real Docker engine for the tests: one `dockerd --storage-driver=vfs --iptables=false`
//! per test process, with its own data root and socket, stopped when the process exits.
//! Also the images the tests need, made locally (nothing can be pulled).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The shared engine of this test process.
pub struct Dockerd {
    /// `unix://…` address for `DOCKER_HOST`.
    pub host: String,
    /// Root of this engine's files.
    pub root: PathBuf,
    // Closing this pipe (at process exit) makes the wrapper shell stop dockerd.
    _lifeline: Mutex<ChildStdin>,
    _wrapper: Mutex<Child>,
}

/// Why the engine is not available.
pub fn unavailable_reason() -> Option<String> {
    if !Path::new("/usr/sbin/dockerd").exists() && which("dockerd").is_none() {
        return Some("dockerd is not installed (apt-get install docker.io)".into());
    }
    if !super::skip::is_root() {
        return Some("dockerd needs root".into());
    }
    None
}

/// Finds a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Skips (returns None) outside CI when the engine cannot run here; in CI, a missing engine fails.
pub fn require() -> Option<&'static Dockerd> {
    if let Some(why) = unavailable_reason() {
        super::skip::skip(&format!("Docker engine: {why}"));
        return None;
    }
    Some(Dockerd::shared())
}

impl Dockerd {
    /// Starts the engine once for the whole test process.
    pub fn shared() -> &'static Dockerd {
        static ENGINE: OnceLock<Dockerd> = OnceLock::new();
        ENGINE.get_or_init(Dockerd::start)
    }

    fn start() -> Dockerd {
        Dockerd::start_in(std::env::temp_dir().join(format!("deploy-action-dockerd-{}", std::process::id())))
    }

    /// A second engine of this process, its own data root under `root`; stopped by [`Dockerd::stop`]
    /// (or at process exit).
    pub fn start_in(root: PathBuf) -> Dockerd {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let sock = root.join("docker.sock");
        let script = format!(
            "dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
             --data-root {r}/data --exec-root {r}/exec --pidfile {r}/docker.pid -H unix://{s} \
             >{r}/dockerd.log 2>&1 & pid=$!; read _; kill $pid; wait $pid; \
             awk '$2 ~ \"^{r}/\" {{print $2}}' /proc/mounts | sort -r | xargs -r umount -l; rm -rf {r}",
            r = root.display(),
            s = sock.display()
        );
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dockerd");
        let lifeline = wrapper.stdin.take().unwrap();
        let host = format!("unix://{}", sock.display());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(docker_cli())
                .args(["version", "--format", "{{.Server.Version}}"])
                .env("DOCKER_HOST", &host)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(root.join("dockerd.log")).unwrap_or_default();
                panic!("dockerd did not start in 60 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Dockerd { host, root, _lifeline: Mutex::new(lifeline), _wrapper: Mutex::new(wrapper) }
    }

    /// Stops the engine and waits (bounded) until its wrapper unmounted and removed its files.
    pub fn stop(self) {
        drop(self._lifeline);
        let mut wrapper = self._wrapper.into_inner().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while wrapper.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A `docker` CLI command bound to this engine.
    pub fn cli(&self) -> Command {
        let mut c = Command::new(docker_cli());
        c.env("DOCKER_HOST", &self.host);
        c
    }

    /// Runs the docker CLI and returns stdout, panicking with stderr on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.cli().args(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Imports a root filesystem directory as an image (`docker import`).
    pub fn import_dir(&self, dir: &Path, image: &str, changes: &[&str]) {
        let mut cmd = self.cli();
        cmd.arg("import");
        for c in changes {
            cmd.args(["--change", c]);
        }
        let mut child = cmd.args(["-", image]).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let tar = Command::new("tar").arg("-C").arg(dir).args(["-c", "."]).output().unwrap();
        assert!(tar.status.success());
        child.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
        assert!(child.wait().unwrap().success(), "docker import {image}");
    }

    /// A busybox image to run jobs in (`act -P ubuntu-latest=…`), made once.
    pub fn job_image(&self) -> &'static str {
        static DONE: OnceLock<()> = OnceLock::new();
        const IMAGE: &str = "deploy-action-test/job:busybox";
        DONE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let r = dir.path();
            for d in ["bin", "tmp", "etc", "root", "usr/bin"] {
                std::fs::create_dir_all(r.join(d)).unwrap();
            }
            std::fs::copy("/bin/busybox", r.join("bin/busybox")).expect("busybox-static is installed");
            let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
            for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox") {
                let _ = std::os::unix::fs::symlink("busybox", r.join("bin").join(applet));
            }
            std::os::unix::fs::symlink("/bin/env", r.join("usr/bin/env")).unwrap();
            std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
            // ubuntu-latest has jq (workflows/status.yml reads its JSON output with it): this
            // machine's, with the libraries it links (without it that step fails naming jq).
            if Path::new("/usr/bin/jq").exists() {
                copy_with_libs(Path::new("/usr/bin/jq"), r);
            }
            // `run:` steps without `shell:` use `bash --noprofile --norc -eo pipefail {0}`:
            // busybox sh stands in (the example workflows are written for ubuntu-latest).
            let bash = "#!/bin/sh\nwhile [ \"$1\" = --noprofile ] || [ \"$1\" = --norc ]; do shift; done\nexec /bin/sh \"$@\"\n";
            std::fs::write(r.join("bin/bash"), bash).unwrap();
            std::fs::set_permissions(r.join("bin/bash"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            self.import_dir(r, IMAGE, &[]);
        });
        IMAGE
    }

    /// The action's image, made by `make image`'s script (scripts/image.sh) from the binary
    /// under test: the binary and the shared libraries it links, the OpenSSH client and its
    /// libraries, CA certificates and a minimal `/etc/passwd` (scripts/image-rootfs.sh), put
    /// together by the files builder and loaded into this engine. The release image is the
    /// same files from a static build and Alpine's packages; this one needs no network.
    pub fn action_image(&self) -> &'static str {
        static DONE: OnceLock<()> = OnceLock::new();
        const IMAGE: &str = "deploy-action-test/action:e2e";
        DONE.get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/image.sh");
            let out = Command::new(script)
                .env("DOCKER_HOST", &self.host)
                .env("DOCKER", docker_cli())
                .env("BIN", super::binary())
                .env("IMAGE", IMAGE)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.lines().last() == Some(IMAGE),
                "scripts/image.sh: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        IMAGE
    }
}

/// Copies `program` and every shared library `ldd` lists for it to the same paths under `root`
/// (as scripts/image-rootfs.sh does for the action image).
fn copy_with_libs(program: &Path, root: &Path) {
    let ldd = Command::new("ldd").arg(program).output().expect("ldd");
    let libs = String::from_utf8_lossy(&ldd.stdout).into_owned();
    let paths = libs.split_whitespace().filter(|w| w.starts_with('/')).map(Path::new);
    for file in std::iter::once(program).chain(paths) {
        let dest = root.join(file.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(file, &dest)
            .unwrap_or_else(|e| panic!("copy {} into the job image: {e}", file.display()));
    }
}

/// The docker CLI (Debian's, which matches the engine's API version).
pub fn docker_cli() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/docker");
    if debian.exists() { debian } else { which("docker").unwrap_or_else(|| PathBuf::from("docker")) }
}
