//! Test harness: run the real binary with a runner's environment and read its outputs back.

#![allow(dead_code)]

pub mod act;
pub mod docker;
pub mod dokploy;
pub mod e2e;
pub mod e2e_events;
pub mod fake_forge;
pub mod http;
pub mod proxy;
pub mod registry;
pub mod skip;
pub mod sshd;
pub mod swarm;
pub mod token;
pub mod vm;

use deploy_action::runner::parse_output_file;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Path of the built binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_deploy-action"))
}

/// The API URL a run gets unless the test sets one: a loopback port nothing listens on (port
/// 1, tcpmux, is never served here), so a test that forgets to point the binary at its fake
/// forge fails with "connection refused" instead of reaching api.github.com.
pub const CLOSED_API_URL: &str = "http://127.0.0.1:1";

/// Builds one invocation of the binary as a runner (or a shell) would make it. Every run's
/// working directory is its own temporary directory ([`ActionRun::dir`]), so relative paths
/// (the default `.env.versions`, a build's `layout`) never land in the repository.
pub struct ActionRun {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    args: Vec<String>,
}

/// What the binary did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code.
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// Outputs parsed from `$GITHUB_OUTPUT`.
    pub outputs: BTreeMap<String, String>,
    /// The job summary.
    pub summary: String,
    /// Raw `$GITHUB_OUTPUT` text.
    pub output_file: String,
    /// Variables set for the next steps, parsed from `$GITHUB_ENV`.
    pub exports: BTreeMap<String, String>,
}

impl Outcome {
    /// An output's value, panicking with the whole log when missing.
    pub fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map(String::as_str).unwrap_or_else(|| panic!("no output {name}: {self:#?}"))
    }
    /// stdout + stderr.
    pub fn log(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl ActionRun {
    /// A runner-mode invocation (`GITHUB_ACTIONS=true`, output and summary files, event file).
    pub fn action() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut env = BTreeMap::new();
        env.insert("GITHUB_ACTIONS".into(), "true".into());
        env.insert("GITHUB_OUTPUT".into(), dir.path().join("output").display().to_string());
        env.insert("GITHUB_STEP_SUMMARY".into(), dir.path().join("summary").display().to_string());
        env.insert("GITHUB_ENV".into(), dir.path().join("env").display().to_string());
        env.insert("GITHUB_WORKSPACE".into(), dir.path().display().to_string());
        env.insert("GITHUB_SERVER_URL".into(), "https://github.com".into());
        env.insert("GITHUB_API_URL".into(), CLOSED_API_URL.into());
        env.insert("GITHUB_REPOSITORY".into(), "org/api".into());
        env.insert("GITHUB_RUN_ID".into(), "1234".into());
        env.insert("GITHUB_ACTOR".into(), "alice".into());
        ActionRun { dir, env, args: Vec::new() }
    }

    /// A runner-mode invocation with nothing set: the case sets every variable itself.
    pub fn bare() -> Self {
        ActionRun { dir: tempfile::tempdir().unwrap(), env: BTreeMap::new(), args: Vec::new() }
    }

    /// A CLI invocation with the given arguments and a clean environment.
    pub fn cli<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Self {
        ActionRun {
            dir: tempfile::tempdir().unwrap(),
            env: BTreeMap::new(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }

    /// Sets action input `name`.
    pub fn input(self, name: &str, v: &str) -> Self {
        let key = format!("INPUT_{}", name.replace(' ', "_").to_ascii_uppercase());
        self.env(&key, v)
    }

    /// Writes the event payload and points `GITHUB_EVENT_PATH` at it.
    pub fn event(mut self, name: &str, payload: &serde_json::Value) -> Self {
        let path = self.dir.path().join("event.json");
        std::fs::write(&path, serde_json::to_vec(payload).unwrap()).unwrap();
        self.env.insert("GITHUB_EVENT_PATH".into(), path.display().to_string());
        self.env.insert("GITHUB_EVENT_NAME".into(), name.into());
        self
    }

    /// Replaces the arguments (without the program name).
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The temporary directory of this run.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the binary and collects what it did.
    pub fn run(self) -> Outcome {
        self.run_ref()
    }

    /// The command that [`ActionRun::run`] runs, for a test that drives the process itself
    /// (signals, timing); stdout and stderr go to `stdout` and `stderr` in [`ActionRun::dir`].
    pub fn command(&self) -> Command {
        let mut c = self.base_command();
        c.stdout(std::fs::File::create(self.dir.path().join("stdout")).unwrap());
        c.stderr(std::fs::File::create(self.dir.path().join("stderr")).unwrap());
        c
    }

    fn base_command(&self) -> Command {
        let mut c = Command::new(binary());
        c.args(&self.args).env_clear().envs(&self.env).current_dir(self.dir.path());
        c
    }

    /// Runs the binary, keeping this run (and its directory) for inspecting files afterwards.
    pub fn run_ref(&self) -> Outcome {
        let out = self.base_command().output().unwrap();
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let output_file = read("output");
        let outputs: BTreeMap<String, String> = parse_output_file(&output_file).into_iter().collect();
        self.check_declared_outputs(&outputs);
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs,
            summary: read("summary"),
            exports: parse_output_file(&read("env")).into_iter().collect(),
            output_file,
        }
    }
}

impl ActionRun {
    /// In runner form, each output the command wrote is declared by its sub-action
    /// (`<command>/action.yml`), so `steps.<id>.outputs.<name>` works there too. `publish`'s
    /// per-service `<service>-digest`/`<service>-tag` are dynamic and not declarable.
    fn check_declared_outputs(&self, outputs: &BTreeMap<String, String>) {
        if !self.args.is_empty() {
            return;
        }
        let Some(command) = self.env.get("INPUT_COMMAND") else { return };
        let Some(declared) = crate::sub_actions::declared_outputs(command.trim()) else { return };
        for name in outputs.keys() {
            let dynamic = command == "publish" && (name.ends_with("-digest") || name.ends_with("-tag"));
            assert!(
                dynamic || declared.contains(name),
                "command {command} wrote output `{name}`, which its sub-action does not declare ({declared:?}): \
                 add it to SUB_ACTIONS in tests/it/sub_actions.rs and run `make actions`"
            );
        }
    }
}

/// The waits of a test server's accept loop after failed accepts: an error such as a
/// file-descriptor limit repeats at once if retried at once, so each failure waits twice as
/// long as the last (10 ms up to 1 s) and a success starts over. No loop spins a core.
#[derive(Debug)]
pub struct AcceptBackoff {
    next: std::time::Duration,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff { next: Self::FIRST }
    }
}

impl AcceptBackoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(10);
    const MAX: std::time::Duration = std::time::Duration::from_secs(1);

    /// After a failed accept of `server`: says so on stderr and returns how long to wait.
    pub fn failed(&mut self, server: &str, e: &std::io::Error) -> std::time::Duration {
        let pause = self.next;
        eprintln!("{server}: accept failed ({e}); retrying in {pause:?}");
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }

    /// After an accepted connection.
    pub fn accepted(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Runs a command with a time limit; on timeout kills it and panics with what it printed.
pub fn output_with_timeout(mut cmd: Command, timeout: std::time::Duration) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + timeout;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut b).ok();
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut b).ok();
        b
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
            panic!("{cmd:?} timed out after {timeout:?}:\n{out}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::process::Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}
