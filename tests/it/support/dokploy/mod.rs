//! A stateful fake Dokploy on 127.0.0.1, answering as Dokploy v0.30.2 (canary commit
//! 772b76821771c53b072c2fbb95cf8876e1a65ae4) with @dokploy/trpc-openapi 0.0.17 does:
//!
//! - routes `/api/<router>.<procedure>`: queries by `GET` with query parameters, mutations by
//!   `POST` with a JSON body (`content-type: application/json`, else 415); a wrong method or an
//!   unknown procedure is `404 {"message":"Not found","code":"NOT_FOUND"}`
//!   (trpc-openapi `adapters/node-http/core.ts`, `procedures.ts` keys procedures by method);
//! - `x-api-key` missing or unknown: `401 {"message":"Unauthorized"}` before any route
//!   (`apps/dokploy/pages/api/[...trpc].ts`); a member key without access to the compose:
//!   `401 "You don't have access to this service"` (`services/permission.ts`);
//! - `compose.one` / `compose.deploy` of an unknown id: `404 "Compose not found"`
//!   (`findComposeById`); `compose.update` of an unknown id: 200 with an empty body
//!   (`updateCompose` returns `undefined`); `deployment.allByCompose` of one: `[]`;
//! - errors carry `data: {code, httpStatus, path, zodError}` (Dokploy's `errorFormatter`);
//!   input validation failures are `400 "Input validation failed"` with `issues`;
//! - deploys are queued (`compose.deploy` answers `{"success":true,"message":"Deployment
//!   queued",…}`): one FIFO queue, concurrency 1 (`server/queues/queueSetup.ts`); the
//!   deployment row appears when its job starts (`createDeploymentCompose`, status `running`,
//!   `logPath` under `/etc/dokploy/logs/<appName>/`), reads the compose's env then, and ends
//!   `done` or `error` (`deployCompose`); at most 10 rows per compose are kept;
//! - `docker.getContainersByAppNameMatch` lists `{containerId, name, state, status}` of the
//!   project's containers, `docker.getConfig` is `docker inspect` (empty body when unknown).
//!
//! Simplifications: one organisation; a key is an owner's or a member's with a list of
//! compose ids (members may then do everything on those); times are synthetic; the job
//! runs no compose file: a compose declares `service → image template` and, once `done`,
//! "runs" each template with `${KEY}` read from the env its deployment started with.
//! Faults (a proxy's 429/5xx) answer before auth and routing and change nothing.

mod routes;

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a queued job waits before the worker picks it up.
const PICKUP: Duration = Duration::from_millis(50);

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Request {
    /// Arrival, since the fake started.
    pub at: Duration,
    pub method: String,
    /// The procedure (`compose.one`), or the raw path when not under `/api/`.
    pub route: String,
    /// `composeId` from the query or the body.
    pub compose: Option<String>,
    pub api_key: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// A deployment row as the tests see it.
#[derive(Clone, Debug)]
pub struct DeploymentView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub log_path: String,
    /// When its job started and ended, since the fake started.
    pub started: Duration,
    pub finished: Option<Duration>,
}

#[derive(Clone, Debug)]
struct ComposeRec {
    name: String,
    app_name: String,
    env: Option<String>,
    images: Vec<(String, String)>,
    running: Vec<(String, String)>,
    duration: Duration,
    fail_next: VecDeque<bool>,
}

#[derive(Clone, Debug)]
struct Job {
    compose: String,
    title: String,
    description: String,
    queued: Instant,
}

#[derive(Clone, Debug)]
struct DeploymentRec {
    id: String,
    compose: String,
    title: String,
    description: String,
    status: &'static str,
    log_path: String,
    started: Instant,
    ends: Instant,
    fails: bool,
    env: String,
    created_at: String,
    finished_at: Option<String>,
}

struct Fault {
    route: String,
    status: u16,
    times: u32,
    retry_after: Option<u64>,
}

struct State {
    t0: Instant,
    /// api key → compose ids it may use (`None`: the organisation's owner).
    keys: BTreeMap<String, Option<Vec<String>>>,
    composes: BTreeMap<String, ComposeRec>,
    deployments: Vec<DeploymentRec>,
    queue: VecDeque<Job>,
    active: Option<usize>,
    last_end: Option<Instant>,
    faults: Vec<Fault>,
    requests: Vec<Request>,
    next_id: u32,
}

/// The running fake; its listener thread ends with the test process.
pub struct FakeDokploy {
    /// `http://127.0.0.1:port`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeDokploy {
    /// Starts the fake with one owner key.
    pub fn start(owner_key: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            t0: Instant::now(),
            keys: BTreeMap::from([(owner_key.to_owned(), None)]),
            composes: BTreeMap::new(),
            deployments: Vec::new(),
            queue: VecDeque::new(),
            active: None,
            last_end: None,
            faults: Vec::new(),
            requests: Vec::new(),
            next_id: 1,
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            let mut backoff = super::AcceptBackoff::default();
            for stream in listener.incoming().take(20_000) {
                match stream {
                    Ok(stream) => {
                        backoff.accepted();
                        let state = shared.clone();
                        std::thread::spawn(move || serve(stream, &state));
                    }
                    Err(e) => std::thread::sleep(backoff.failed("fake dokploy", &e)),
                }
            }
        });
        FakeDokploy { url, state }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.state.lock().unwrap();
        s.advance(Instant::now());
        f(&mut s)
    }

    /// Adds a member's key that may use only `composes`.
    pub fn add_member_key(&self, key: &str, composes: &[&str]) {
        self.with(|s| s.keys.insert(key.into(), Some(composes.iter().map(|c| (*c).to_owned()).collect())));
    }

    /// Adds a compose app with its environment text and `service → image template` pairs
    /// (`reg/org/api:${API_IMAGE_TAG}`); its deployments take 300 ms.
    pub fn add_compose(&self, id: &str, name: &str, env: Option<&str>, images: &[(&str, &str)]) {
        self.with(|s| {
            let rec = ComposeRec {
                name: name.into(),
                app_name: format!("{name}-x1y2z3"),
                env: env.map(str::to_owned),
                images: images.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect(),
                running: Vec::new(),
                duration: Duration::from_millis(300),
                fail_next: VecDeque::new(),
            };
            s.composes.insert(id.into(), rec);
        })
    }

    /// How long the compose's deployments take from now on.
    pub fn set_duration(&self, id: &str, d: Duration) {
        self.with(|s| s.composes.get_mut(id).unwrap().duration = d)
    }

    /// The compose's next deployment ends `error` (the one after it as usual).
    pub fn fail_next(&self, id: &str) {
        self.with(|s| s.composes.get_mut(id).unwrap().fail_next.push_back(true))
    }

    /// The compose's environment text as stored.
    pub fn env(&self, id: &str) -> Option<String> {
        self.with(|s| s.composes[id].env.clone())
    }

    /// `service → image` the compose's containers run (after its last `done` deployment).
    pub fn running(&self, id: &str) -> Vec<(String, String)> {
        self.with(|s| s.composes[id].running.clone())
    }

    /// The compose's deployments, oldest first.
    pub fn deployments(&self, id: &str) -> Vec<DeploymentView> {
        self.with(|s| {
            let t0 = s.t0;
            let now = Instant::now();
            s.deployments
                .iter()
                .filter(|d| d.compose == id)
                .map(|d| DeploymentView {
                    id: d.id.clone(),
                    title: d.title.clone(),
                    description: d.description.clone(),
                    status: d.status.into(),
                    log_path: d.log_path.clone(),
                    started: d.started - t0,
                    finished: (d.ends <= now).then(|| d.ends - t0),
                })
                .collect()
        })
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.with(|s| s.requests.clone())
    }

    /// The next `times` requests of `route` get `status` (with `retry-after` when given),
    /// as a proxy in front of Dokploy answers; nothing is handled.
    pub fn inject(&self, route: &str, status: u16, times: u32, retry_after: Option<u64>) {
        self.with(|s| s.faults.push(Fault { route: route.into(), status, times, retry_after }))
    }
}

impl State {
    /// Runs the worker up to `now`: ends the active job, starts the next one.
    fn advance(&mut self, now: Instant) {
        loop {
            if let Some(i) = self.active {
                let d = &mut self.deployments[i];
                if d.ends > now {
                    return;
                }
                d.status = if d.fails { "error" } else { "done" };
                d.finished_at = Some(iso(d.ends - self.t0));
                let (compose, env, end, fails) = (d.compose.clone(), d.env.clone(), d.ends, d.fails);
                if !fails {
                    let c = self.composes.get_mut(&compose).unwrap();
                    c.running = c.images.iter().map(|(svc, t)| (svc.clone(), resolve(t, &env))).collect();
                }
                self.active = None;
                self.last_end = Some(end);
                continue;
            }
            let Some(job) = self.queue.front() else { return };
            let start = (job.queued + PICKUP).max(self.last_end.unwrap_or(job.queued));
            if start > now {
                return;
            }
            let job = self.queue.pop_front().unwrap();
            let Some(c) = self.composes.get_mut(&job.compose) else { continue };
            let fails = c.fail_next.pop_front().unwrap_or(false);
            let id = format!("dpl{:04}", self.next_id);
            self.next_id += 1;
            let at = iso(start - self.t0);
            self.deployments.push(DeploymentRec {
                id,
                compose: job.compose.clone(),
                title: if job.title.is_empty() { "Manual deployment".into() } else { job.title },
                description: job.description,
                status: "running",
                log_path: format!("/etc/dokploy/logs/{0}/{0}-{1}.log", c.app_name, at.replace('T', ":")),
                started: start,
                ends: start + c.duration,
                fails,
                env: c.env.clone().unwrap_or_default(),
                created_at: at,
                finished_at: None,
            });
            self.active = Some(self.deployments.len() - 1);
            // removeLastTenDeployments: keep the newest ten of this compose.
            let mine: Vec<usize> =
                (0..self.deployments.len()).filter(|&i| self.deployments[i].compose == job.compose).collect();
            if mine.len() > 10 {
                let drop = mine[0];
                self.deployments.remove(drop);
                self.active = Some(self.deployments.len() - 1);
            }
        }
    }
}

/// A synthetic ISO date `offset` after 2026-01-01T00:00:00Z.
fn iso(offset: Duration) -> String {
    let ms = offset.as_millis();
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// `${KEY}` of `template` from the last `KEY=value` line of `env` (quotes stripped).
fn resolve(template: &str, env: &str) -> String {
    let mut out = template.to_owned();
    while let Some(i) = out.find("${") {
        let Some(j) = out[i..].find('}') else { break };
        let key = out[i + 2..i + j].to_owned();
        let value = env
            .lines()
            .filter_map(|l| l.trim().trim_start_matches("export ").split_once('='))
            .filter(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.split(" #").next().unwrap_or("").trim().trim_matches(['\'', '"']).to_owned())
            .next_back()
            .unwrap_or_default();
        out.replace_range(i..i + j + 1, &value);
    }
    out
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    // Node's HTTP parser answers bytes that are no HTTP request (a TLS ClientHello) with 400.
    if reader.fill_buf().map(|b| b.first() == Some(&0x16)).unwrap_or(true) {
        let mut stream = stream;
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        return;
    }
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.insert(n.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let parsed = url::Url::parse(&format!("http://fake{target}")).unwrap();
    let query: BTreeMap<String, String> = parsed.query_pairs().into_owned().collect();
    let route = parsed.path().strip_prefix("/api/").unwrap_or(parsed.path()).to_owned();
    let compose = query
        .get("composeId")
        .cloned()
        .or_else(|| serde_json::from_str::<Value>(&body).ok()?.get("composeId")?.as_str().map(str::to_owned));
    let answer = {
        let mut s = state.lock().unwrap();
        s.advance(Instant::now());
        let req = Request {
            at: s.t0.elapsed(),
            method,
            route,
            compose,
            api_key: headers.get("x-api-key").cloned(),
            content_type: headers.get("content-type").cloned(),
            body,
        };
        s.requests.push(req.clone());
        routes::handle(&mut s, &req, &query)
    };
    let mut head = format!(
        "HTTP/1.1 {} X\r\nconnection: close\r\ncontent-length: {}\r\n",
        answer.status,
        answer.body.len()
    );
    if !answer.headers.iter().any(|(n, _)| n == "content-type") {
        head.push_str("content-type: application/json\r\n");
    }
    for (n, v) in &answer.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    let mut stream = stream;
    let _ = write!(stream, "{head}\r\n{}", answer.body);
}
