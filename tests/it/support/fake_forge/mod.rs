//! A stateful fake forge on 127.0.0.1: GitHub's (github.com at the root, GHES at `/api/v3`)
//! or Forgejo's (`/api/v1`) REST paths, methods, status codes, field names and quirks, from
//! `/work/shared/forge-api/`, answering as a named release ([`ForgeVersion`]: `start` keeps
//! a current GHES and Forgejo 15; `start_version` picks github.com, GHES 3.20, Forgejo 11–15). Unknown routes and wrong methods get the real error shapes with
//! a message naming the request. Faults (5xx, rate limits, dropped connections) are queued.
//!
//! A small hand-rolled HTTP/1.1 server (one request per connection, `Connection: close`):
//! no extra dependency, and a dropped connection is just closing the socket.
//!
//! Known simplifications (tests must not rely on them being real):
//! - one branch per repository in practice (`main`); refs resolve to a branch or a commit sha;
//! - runs advance one state per `GET …/actions/runs/{id}` (queued → in progress → done);
//! - scopes are coarse names (`contents:write`, `actions:write`, `deployments:write`,
//!   `issues:write`; Forgejo `write:repository`, `write:issue`); commit statuses need contents:write;
//! - Forgejo accepts undeclared dispatch inputs and answers 400 for a missing required one;
//!   GitHub answers 422 for undeclared ones; error texts are close to, not copies of, the real ones;
//! - dates are synthetic; no ETags, no `X-RateLimit-*` except on injected rate limits;
//! - environments (GitHub): scopes `actions:read` to read, `administration:write` to configure;
//!   teams need `members:read`; users are visible to any token; branch policies match by
//!   exact name and type; switching away from custom policies deletes them, as GitHub does;
//! - GitHub Apps (`apps.rs`): the installation lookup and token routes, JWT verified; a minted
//!   token carries exactly the granted permissions and repositories.

mod accounts;
mod actions;
mod apps;
mod contents;
mod environments;
mod issues;
mod routes;
pub mod state;

use state::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which API the fake speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// GitHub (GHES-style base path `/api/v3`).
    Github,
    /// Forgejo (`/api/v1`).
    Forgejo,
}

/// A named release of a forge: what the fake answers as. Each behaviour that differs cites
/// its source (`/work/shared/forge-api/DIFFERENCES.md` version matrix; Forgejo's source at the
/// release tag in rohitkumarankam/forgejo, the GitHub mirror of Forgejo).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForgeVersion {
    /// github.com: API at the root (`https://api.github.com`), GraphQL at `/graphql`.
    GithubCom,
    /// A current GHES: `/api/v3`, GraphQL at `/api/graphql`, dispatch run details.
    #[default]
    Ghes,
    /// GHES 3.20 as issue 11 describes it: `/api/v3`, and dispatch refuses
    /// `return_run_details` with 422 naming the field (github-subset.json workflow_dispatch
    /// notes: "third-party clients report 400/422 naming the field on such servers").
    Ghes320,
    /// Forgejo v11 (LTS): no `/actions/runs*`, stale sha 422, boolean inputs only "on".
    Forgejo11,
    /// Forgejo v12: runs API without workflow_id/ref filters, stale sha 409.
    Forgejo12,
    /// Forgejo v13: as v12.
    Forgejo13,
    /// Forgejo v14: boolean inputs "true" read as true.
    Forgejo14,
    /// Forgejo v15: runs filters `workflow_id`/`ref`.
    Forgejo15,
}

impl ForgeVersion {
    /// The API family.
    pub fn flavor(self) -> Flavor {
        if self.forgejo_major().is_some() { Flavor::Forgejo } else { Flavor::Github }
    }

    /// Forgejo's major version; `None` on GitHub.
    pub fn forgejo_major(self) -> Option<u32> {
        Some(match self {
            ForgeVersion::GithubCom | ForgeVersion::Ghes | ForgeVersion::Ghes320 => return None,
            ForgeVersion::Forgejo11 => 11,
            ForgeVersion::Forgejo12 => 12,
            ForgeVersion::Forgejo13 => 13,
            ForgeVersion::Forgejo14 => 14,
            ForgeVersion::Forgejo15 => 15,
        })
    }

    /// What `GET /api/v1/version` answers: Forgejo's Makefile (v11.0.3 … v15.0.0) builds it as
    /// `$(FORGEJO_VERSION)+$(GITEA_COMPATIBILITY)`, with `GITEA_COMPATIBILITY ?= gitea-1.22.0`.
    pub fn version_string(self) -> Option<String> {
        let patch = match self.forgejo_major()? {
            11 => 3,
            15 => 0,
            _ => 1,
        };
        Some(format!("{}.0.{patch}+gitea-1.22.0", self.forgejo_major()?))
    }

    /// The path the REST API lives under.
    pub fn api_prefix(self) -> &'static str {
        match self {
            ForgeVersion::GithubCom => "",
            ForgeVersion::Ghes | ForgeVersion::Ghes320 => "/api/v3",
            _ => "/api/v1",
        }
    }

    /// The default version of a flavour (today's fake: a current GHES, Forgejo 15).
    pub fn of(flavor: Flavor) -> Self {
        match flavor {
            Flavor::Github => ForgeVersion::Ghes,
            Flavor::Forgejo => ForgeVersion::Forgejo15,
        }
    }
}

/// A running fake forge; the server stops when this is dropped.
pub struct FakeForge {
    pub flavor: Flavor,
    /// The release it answers as.
    pub version: ForgeVersion,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeForge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An answer: status, extra headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl FakeForge {
    /// Starts a fake on a free loopback port (GHES or Forgejo 15). Needs a tokio runtime.
    pub async fn start(flavor: Flavor) -> Self {
        Self::start_version(ForgeVersion::of(flavor)).await
    }

    /// Starts a fake answering as `version`.
    pub async fn start_version(version: ForgeVersion) -> Self {
        let flavor = version.flavor();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            next_run_id: 1000,
            run_details: true,
            ghes_legacy: version == ForgeVersion::Ghes320,
            version,
            ..Default::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut backoff = super::AcceptBackoff::default();
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tokio::time::sleep(backoff.failed(&format!("fake forge {addr}"), &e)).await;
                        continue;
                    }
                };
                backoff.accepted();
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), serve(stream, flavor, addr, state))
                        .await;
                });
            }
        });
        FakeForge { flavor, version, addr, state, task }
    }

    /// The API base URL a client uses.
    pub fn api_url(&self) -> String {
        format!("http://{}{}", self.addr, self.version.api_prefix())
    }

    /// The web URL of the forge.
    pub fn web_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a ruleset to `repo` (GitHub) refusing every contents write on `branch` with
    /// `rule` as the violation (e.g. `Changes must be made through a pull request.`).
    pub fn add_ruleset(&self, repo: &str, branch: &str, rule: &str) {
        self.with(|s| s.repos.get_mut(repo).unwrap().rules.push((branch.into(), rule.into())))
    }

    /// Gives workflow `file` a `name:` (Forgejo titles its runs with it).
    pub fn set_workflow_name(&self, repo: &str, file: &str, name: &str) {
        self.with(|s| {
            for w in s.repos.get_mut(repo).unwrap().workflows.iter_mut().filter(|w| w.file == file) {
                w.name = Some(name.into());
            }
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Adds a repository with branch `main` and one commit (a README).
    pub fn add_repo(&self, repo: &str) {
        self.with(|s| {
            let mut r = Repo { default_branch: "main".into(), ..Default::default() };
            r.commit("main", "README.md", b"# ops\n".to_vec(), "initial commit", "admin");
            s.repos.insert(repo.into(), r);
        })
    }

    /// Registers a token. Scopes: `contents:read|write`, `actions:read|write`, or Forgejo's
    /// `read:repository` / `write:repository`. `repos`: the repositories it can see (all when empty).
    pub fn add_token(&self, token: &str, scopes: &[&str], repos: &[&str]) {
        self.with(|s| {
            s.tokens.insert(
                token.into(),
                Token {
                    login: format!("user-{}", &token[..token.len().min(4)]),
                    scopes: scopes.iter().map(|x| (*x).to_owned()).collect(),
                    repos: (!repos.is_empty()).then(|| repos.iter().map(|x| (*x).to_owned()).collect()),
                },
            );
        })
    }

    /// Registers a token acting as `login` (a login ending in `[bot]` is an installation
    /// token, as `GITHUB_TOKEN`: `GET /user` refuses it on GitHub).
    pub fn add_token_as(&self, token: &str, login: &str, scopes: &[&str], repos: &[&str]) {
        self.add_token(token, scopes, repos);
        self.with(|s| s.tokens.get_mut(token).unwrap().login = login.to_owned());
    }

    /// Adds `login` to team `org/slug` (created when new) with state `active` or `pending`.
    pub fn add_team_member(&self, org: &str, slug: &str, login: &str, state: &str) {
        self.add_team(org, slug);
        self.with(|s| {
            s.team_members.entry(format!("{org}/{slug}")).or_default().push((login.into(), state.into()));
        })
    }

    /// The deployment GitHub makes for a job with `environment:` before its steps run: by
    /// `github-actions[bot]`, on the default branch's head, its first status `in_progress`
    /// linking the job of `run_url`. Its id.
    pub fn job_deployment(&self, repo: &str, environment: &str, run_url: &str) -> u64 {
        self.with(|s| {
            let r = s.repos.get_mut(repo).unwrap();
            let sha = r.resolve("main").map(|c| c.sha.clone()).unwrap_or_default();
            let n = r.deployments.len();
            let id = 9000 + n as u64;
            r.deployments.push(DeployRec {
                id,
                sha,
                git_ref: "main".into(),
                environment: environment.into(),
                payload: serde_json::json!({}),
                description: String::new(),
                creator: "github-actions[bot]".into(),
                created_at: format!("2026-01-01T01:{:02}:{:02}Z", (n / 60) % 60, n % 60),
                statuses: vec![StatusRec {
                    state: "in_progress".into(),
                    log_url: Some(format!("{run_url}/job/{}", 70_000 + n)),
                    ..Default::default()
                }],
                production: environment == "production",
            });
            id
        })
    }

    /// Opens an issue as `login` directly in the state (a forged approval request); its number.
    pub fn open_issue_as(&self, repo: &str, login: &str, title: &str, body: &str) -> usize {
        self.with(|s| {
            let r = s.repos.get_mut(repo).unwrap();
            r.issues.push(IssueRec {
                state: "open".into(),
                author: login.into(),
                title: title.into(),
                body: body.into(),
                labels: None,
                comments: Vec::new(),
            });
            r.issues.len()
        })
    }

    /// Replaces an issue's body (an edit by someone with write access).
    pub fn edit_issue_body(&self, repo: &str, number: usize, body: &str) {
        self.with(|s| s.repos.get_mut(repo).unwrap().issues[number - 1].body = body.into())
    }

    /// Commits `text` at `path` on the default branch.
    pub fn put_file(&self, repo: &str, path: &str, text: &str) -> String {
        self.with(|s| {
            s.repos.get_mut(repo).unwrap().commit("main", path, text.as_bytes().to_vec(), "seed", "admin")
        })
    }

    /// The file's text on the default branch.
    pub fn file(&self, repo: &str, path: &str) -> Option<String> {
        self.with(|s| {
            let r = s.repos.get(repo)?;
            r.head("main")?.files.get(path).map(|b| String::from_utf8_lossy(b).into_owned())
        })
    }

    /// Messages of the commits touching `path` on the default branch, newest first.
    pub fn history(&self, repo: &str, path: &str) -> Vec<String> {
        self.with(|s| s.repos[repo].history("main", path).iter().map(|c| c.message.clone()).collect())
    }

    /// Declares a workflow file in `dir` with its inputs (a `!` suffix marks a required one,
    /// a `:boolean` suffix before it a `type: boolean` one) and the conclusion its runs reach.
    pub fn add_workflow(&self, repo: &str, dir: &str, file: &str, inputs: &[&str], conclusion: &str) {
        self.with(|s| {
            let r = s.repos.get_mut(repo).unwrap();
            let id = 161_000 + r.workflows.len() as u64;
            let name = |i: &str| i.trim_end_matches('!').trim_end_matches(":boolean").to_owned();
            r.workflows.push(Workflow {
                dir: dir.into(),
                file: file.into(),
                id,
                name: None,
                inputs: inputs.iter().map(|i| name(i)).collect(),
                required: inputs.iter().filter(|i| i.ends_with('!')).map(|i| name(i)).collect(),
                booleans: inputs
                    .iter()
                    .filter(|i| i.trim_end_matches('!').ends_with(":boolean"))
                    .map(|i| name(i))
                    .collect(),
                conclusion: conclusion.into(),
            });
        })
    }

    /// Turns the dispatch run-details answer on or off.
    pub fn set_run_details(&self, on: bool) {
        self.with(|s| s.run_details = on)
    }

    /// From now on a rejected token's 401 quotes the request's `Authorization` header.
    pub fn echo_credentials(&self) {
        self.with(|s| s.echo_credentials = true);
    }

    /// Models GHES 3.17–3.19: the run-details flag is refused with 422, dispatch answers 204.
    pub fn set_ghes_legacy(&self, on: bool) {
        self.with(|s| s.ghes_legacy = on)
    }

    /// Commit statuses set: (sha, state, context, description).
    pub fn statuses(&self, repo: &str) -> Vec<(String, String, String, String)> {
        self.with(|s| s.repos[repo].statuses.clone())
    }

    /// Deployments: (id, sha, environment, states reported).
    pub fn deployments(&self, repo: &str) -> Vec<(u64, String, String, Vec<String>)> {
        self.with(|s| {
            s.repos[repo]
                .deployments
                .iter()
                .map(|d| {
                    let states = d.statuses.iter().map(|x| x.state.clone()).collect();
                    (d.id, d.sha.clone(), d.environment.clone(), states)
                })
                .collect()
        })
    }

    /// Registers a GitHub user; returns its id.
    pub fn add_user(&self, login: &str) -> u64 {
        self.with(|s| {
            let next = 583_000 + s.users.len() as u64;
            *s.users.entry(login.into()).or_insert(next)
        })
    }

    /// Registers a GitHub team `org/slug`; returns its id.
    pub fn add_team(&self, org: &str, slug: &str) -> u64 {
        self.with(|s| {
            let next = 71_000 + s.teams.len() as u64;
            *s.teams.entry(format!("{org}/{slug}")).or_insert(next)
        })
    }

    /// Creates or replaces environment `name` (GitHub) with user reviewers (registered when
    /// new) and a wait timer in minutes.
    pub fn seed_environment(&self, repo: &str, name: &str, reviewers: &[&str], wait_timer: u64) {
        let ids: Vec<u64> = reviewers.iter().map(|r| self.add_user(r)).collect();
        self.with(|s| {
            let r = s.repos.get_mut(repo).unwrap();
            let id = 7_700 + r.environments.len() as u64;
            r.environments.insert(
                name.into(),
                EnvRec {
                    id,
                    wait_timer,
                    reviewers: ids.into_iter().map(|i| ("User".to_owned(), i)).collect(),
                    ..Default::default()
                },
            );
        })
    }

    /// Environment `name` of `repo`, as stored.
    pub fn environment(&self, repo: &str, name: &str) -> Option<EnvRec> {
        self.with(|s| s.repos[repo].environments.get(name).cloned())
    }

    /// Issues opened: (title, labels sent, comments as (login, body)).
    pub fn issues(&self, repo: &str) -> Vec<IssueRec> {
        self.with(|s| s.repos[repo].issues.clone())
    }

    /// Adds a comment to issue `number` as `login`.
    pub fn comment(&self, repo: &str, number: usize, login: &str, body: &str) {
        self.with(|s| {
            s.repos.get_mut(repo).unwrap().issues[number - 1].comments.push((login.into(), body.into()))
        })
    }

    /// The runs of a repository (id, inputs).
    pub fn runs(&self, repo: &str) -> Vec<RunRec> {
        self.with(|s| s.repos[repo].runs.clone())
    }

    /// Queues a fault for the next `times` requests matching `method` (any when `None`) and `path_contains`.
    pub fn inject(&self, method: Option<&str>, path_contains: &str, times: u32, kind: FaultKind) {
        self.inject_after(method, path_contains, 0, times, kind)
    }

    /// Like [`FakeForge::inject`], letting the first `skip` matching requests through.
    pub fn inject_after(
        &self,
        method: Option<&str>,
        path_contains: &str,
        skip: u32,
        times: u32,
        kind: FaultKind,
    ) {
        self.with(|s| {
            s.faults.push(Fault {
                method: method.map(str::to_owned),
                path_contains: path_contains.into(),
                times,
                skip,
                kind,
            })
        })
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }
}

/// Reads one request, answers it (or drops it, as a fault says), closes.
async fn serve(mut stream: TcpStream, flavor: Flavor, addr: SocketAddr, state: Arc<Mutex<State>>) {
    let Some(req) = read_request(&mut stream).await else { return };
    let mut delay = 0;
    let (reply, drop_after) = {
        let mut s = state.lock().unwrap();
        s.requests.push(req.clone());
        let fault = take_fault(&mut s, &req);
        match fault {
            Some(FaultKind::Drop) => return,
            Some(FaultKind::Status(code)) => {
                (routes::error(flavor, addr, code, &fault_message(code, &req)), false)
            }
            Some(FaultKind::RateLimit { status, retry_after }) => {
                let mut r = routes::error(flavor, addr, status, "API rate limit exceeded for user");
                r.headers.push(("retry-after".into(), retry_after.to_string()));
                r.headers.push(("x-ratelimit-remaining".into(), "0".into()));
                (r, false)
            }
            // GitHub's secondary limits: 403 or 429 with no `retry-after` and no exhausted
            // primary quota (DIFFERENCES.md "GitHub behaviours the fake forge must also show").
            Some(FaultKind::SecondaryRateLimit(status)) => (
                routes::error(
                    flavor,
                    addr,
                    status,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                ),
                false,
            ),
            Some(FaultKind::DropAfterHandling) => (routes::handle(flavor, addr, &mut s, &req), true),
            Some(FaultKind::DelayAfterHandling(ms)) => {
                delay = ms;
                (routes::handle(flavor, addr, &mut s, &req), false)
            }
            None => (routes::handle(flavor, addr, &mut s, &req), false),
        }
    };
    if drop_after {
        return;
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    head.push_str("content-type: application/json;charset=utf-8\r\nconnection: close\r\n");
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(reply.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn fault_message(code: u16, req: &Recorded) -> String {
    format!("injected HTTP {code} for {} {}", req.method, req.target)
}

fn take_fault(s: &mut State, req: &Recorded) -> Option<FaultKind> {
    let f = s.faults.iter_mut().find(|f| {
        f.times > 0
            && f.method.as_deref().is_none_or(|m| m == req.method)
            && req.target.contains(&f.path_contains)
    })?;
    if f.skip > 0 {
        f.skip -= 1;
        return None;
    }
    f.times -= 1;
    Some(f.kind.clone())
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < len.min(16 * 1024 * 1024) {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded { method, target, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    }
}
