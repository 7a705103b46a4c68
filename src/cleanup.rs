//! Process-wide cleanup of what must not outlive the process: private temporary directories
//! (the SSH key, the pinned host keys) and the process groups of the children a deploy runs
//! (ssh, `deploy-command`). Each is registered while it exists. On SIGTERM or SIGINT a signal
//! thread ([`install`]) kills the registered groups, removes the registered paths and ends the
//! process (143 / 130); on a panic the hook does the same before the panic goes on (the release
//! build has `panic = "abort"`, which runs no `Drop`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct Registry {
    paths: Vec<PathBuf>,
    groups: Vec<u32>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { paths: Vec::new(), groups: Vec::new() });
static STOPPING: AtomicBool = AtomicBool::new(false);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process is being stopped by a signal: nothing new may start.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

fn refused() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::Interrupted, "deploy-action is stopping (signal received)")
}

/// A private (0700) temporary directory, registered for cleanup until it is dropped, which
/// removes it.
#[derive(Debug)]
pub struct PrivateDir {
    dir: Option<tempfile::TempDir>,
}

impl PrivateDir {
    /// Creates `$TMPDIR/<prefix>XXXXXX`. Refused once a signal is being handled.
    pub fn new(prefix: &str) -> std::io::Result<PrivateDir> {
        let mut reg = registry();
        if stopping() {
            return Err(refused());
        }
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        reg.paths.push(dir.path().to_owned());
        Ok(PrivateDir { dir: Some(dir) })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until dropped").path()
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let path = dir.path().to_owned();
        // Removed before it leaves the registry: no moment where a signal would miss it.
        let _ = dir.close();
        registry().paths.retain(|p| *p != path);
    }
}

/// A child's process group (the child was spawned as its leader), registered for a kill until
/// the child is waited for.
#[derive(Debug)]
pub struct ChildGroup(u32);

impl ChildGroup {
    /// Registers the group `pgid`. When a signal is being handled already, the group is killed
    /// at once and this is refused.
    pub fn register(pgid: u32) -> std::io::Result<ChildGroup> {
        let mut reg = registry();
        if stopping() {
            kill_group(pgid, rustix::process::Signal::KILL);
            return Err(refused());
        }
        reg.groups.push(pgid);
        Ok(ChildGroup(pgid))
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        registry().groups.retain(|g| *g != self.0);
    }
}

fn kill_group(pgid: u32, signal: rustix::process::Signal) -> bool {
    let Some(pid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) else { return false };
    rustix::process::kill_process_group(pid, signal).is_ok()
}

fn group_alive(pgid: u32) -> bool {
    i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| rustix::process::test_kill_process_group(pid).is_ok())
}

/// What [`drain`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Process groups signalled.
    pub groups: usize,
    /// Paths removed.
    pub paths: usize,
}

/// Stops everything registered: SIGTERM to each child group, SIGKILL to those still there
/// after `grace`; then removes every registered path. Later registrations are refused.
pub fn drain(grace: Duration) -> Drained {
    STOPPING.store(true, Ordering::SeqCst);
    let (groups, paths) = {
        let mut reg = registry();
        (std::mem::take(&mut reg.groups), std::mem::take(&mut reg.paths))
    };
    let signalled = groups.iter().filter(|g| kill_group(**g, rustix::process::Signal::TERM)).count();
    let deadline = Instant::now() + grace;
    while groups.iter().any(|g| group_alive(*g)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for g in &groups {
        if group_alive(*g) {
            kill_group(*g, rustix::process::Signal::KILL);
        }
    }
    let mut removed = 0;
    for p in &paths {
        let gone = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
        if gone.is_ok() || !p.exists() {
            removed += 1;
        }
    }
    Drained { groups: signalled, paths: removed }
}

/// How long a child group gets between SIGTERM and SIGKILL when the process is stopped.
pub const GRACE: Duration = Duration::from_secs(2);

/// Installs the panic hook (drains, then lets the previous hook report the panic) and the
/// SIGTERM/SIGINT handler, a task on `runtime` (the process's one runtime), which drains, logs
/// one line through `log` and exits with 143 (SIGTERM) or 130 (SIGINT). Call once, first thing
/// in `main`.
pub fn install(runtime: &tokio::runtime::Handle, log: impl Fn(&str) + Send + 'static) -> std::io::Result<()> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        drain(Duration::ZERO);
        previous(info);
    }));
    use tokio::signal::unix::{SignalKind, signal};
    // Registered here, before `main` goes on: no signal can arrive unhandled after `install`.
    let (mut term, mut int) = {
        let _entered = runtime.enter();
        (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?)
    };
    runtime.spawn(async move {
        let (name, code) = tokio::select! {
            _ = term.recv() => ("SIGTERM", 143),
            _ = int.recv() => ("SIGINT", 130),
        };
        // Blocking: the process ends here; the grace period is waited out on this worker.
        let done = tokio::task::block_in_place(|| drain(GRACE));
        log(&format!(
            "received {name}: stopped {} child process group(s) (ssh / deploy-command), removed {} private \
             temporary director(ies); exiting with {code}. A deploy that was running may be incomplete: check \
             the target and run it again",
            done.groups, done.paths
        ));
        std::process::exit(code);
    });
    Ok(())
}

/// When a signal is being handled, waits for the signal task to end the process (so its exit
/// code, not the interrupted command's error, is the process's). Otherwise returns at once.
pub fn hold_if_stopping() {
    if stopping() {
        loop {
            std::thread::park();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_dir_is_registered_until_dropped() {
        let d = PrivateDir::new("deploy-action-test-").unwrap();
        let p = d.path().to_owned();
        assert!(registry().paths.contains(&p));
        drop(d);
        assert!(!p.exists());
        assert!(!registry().paths.contains(&p));
    }

    /// The panic hook removes the registered directories even though the panicking code's
    /// `Drop`s never run (as with `panic = "abort"`, where the hook is the last code to run).
    #[test]
    fn a_panic_removes_the_registered_secret_files() {
        // Run in a child process: a drain stops the whole registry, which other tests use.
        if std::env::var("DEPLOY_ACTION_PANIC_CHILD").is_err() {
            let exe = std::env::current_exe().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let out = std::process::Command::new(exe)
                .args([
                    "--exact",
                    "cleanup::tests::a_panic_removes_the_registered_secret_files",
                    "--nocapture",
                ])
                .env("DEPLOY_ACTION_PANIC_CHILD", "1")
                .env("TMPDIR", dir.path())
                .output()
                .unwrap();
            let text =
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{text}");
            assert!(text.contains("boom in a deploy"), "{text}");
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "left behind: {left:?}");
            return;
        }
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        install(rt.handle(), |_| {}).unwrap();
        let key_dir = PrivateDir::new("deploy-action-ssh-").unwrap();
        std::fs::write(key_dir.path().join("id"), "secret").unwrap();
        let path = key_dir.path().to_owned();
        // The guard lives on in this thread; only the hook can remove the directory.
        let panicked = std::thread::spawn(|| panic!("boom in a deploy")).join();
        assert!(panicked.is_err());
        assert!(!path.exists(), "the key directory outlived the panic");
        std::mem::forget(key_dir);
    }

    #[test]
    fn draining_kills_a_registered_group() {
        if std::env::var("DEPLOY_ACTION_DRAIN_CHILD").is_err() {
            let exe = std::env::current_exe().unwrap();
            let out = std::process::Command::new(exe)
                .args(["--exact", "cleanup::tests::draining_kills_a_registered_group", "--nocapture"])
                .env("DEPLOY_ACTION_DRAIN_CHILD", "1")
                .output()
                .unwrap();
            let text =
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{text}");
            return;
        }
        use std::os::unix::process::CommandExt as _;
        // A shell that ignores SIGTERM, with a grandchild in its group: both must die.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let group = ChildGroup::register(child.id()).unwrap();
        let started = Instant::now();
        let done = drain(Duration::from_millis(300));
        assert_eq!(done.groups, 1);
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(started.elapsed() < Duration::from_secs(5));
        let gone = Instant::now() + Duration::from_secs(3);
        while group_alive(child.id()) && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(20));
        }
        let ps = std::process::Command::new("ps").args(["-eo", "pid,ppid,pgid,stat,comm"]).output().unwrap();
        assert!(
            !group_alive(child.id()),
            "the sleeping grandchild survived: {}",
            String::from_utf8_lossy(&ps.stdout)
        );
        assert!(PrivateDir::new("deploy-action-test-").is_err(), "nothing starts once stopping");
        drop(group);
    }
}
