//! The docker builder: a Dockerfile built by the engine's classic builder through the Engine
//! API on a unix socket (`/var/run/docker.sock` or `DOCKER_HOST=unix://…`, no docker CLI),
//! progress streamed into a log group, then the image exported and converted to an OCI layout.
//! BuildKit through the API needs a session (gRPC over the hijacked connection): not done.

use super::engine_http::{self, Response};
use super::{BuildError, BuildSpec, Builder, BuiltImage, Platform, Recipe, archive, build_context};
use crate::env::{EnvMap, vars};
use crate::runner::Runner;
use std::io::{BufRead, Seek};
use std::path::PathBuf;
use std::time::Duration;

/// The Engine API version used (Docker 20.10); newer engines serve it too.
pub(crate) const API_VERSION: &str = "1.41";
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Longest wait for the engine's next byte during a build or export.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Talking to the Docker engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The socket does not answer.
    #[error("no Docker engine at {host}: {reason}")]
    Unreachable {
        /// The address tried.
        host: String,
        /// Why.
        reason: String,
    },
    /// `DOCKER_HOST` names something other than a unix socket.
    #[error("DOCKER_HOST={0} is not supported: only unix:// sockets")]
    UnsupportedHost(String),
    /// The engine answered a request with an error status.
    #[error("the Docker engine refused {request}: HTTP {status}: {message}")]
    Refused {
        /// Method and path.
        request: String,
        /// HTTP status.
        status: u16,
        /// The engine's message.
        message: String,
    },
    /// The connection broke during a request.
    #[error("{request} to the Docker engine failed: {source}")]
    Io {
        /// Method and path.
        request: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A Docker engine reached through its unix socket.
#[derive(Clone, Debug)]
pub struct Engine {
    host: String,
    dial: engine_http::Dial,
}

impl Engine {
    /// The engine named by `DOCKER_HOST` (`unix://…`), else `/var/run/docker.sock`.
    pub fn from_env(env: &EnvMap) -> Result<Engine, EngineError> {
        match env.non_empty(vars::DOCKER_HOST) {
            Some(h) => match h.strip_prefix("unix://") {
                Some(p) => Ok(Engine { host: h.to_owned(), dial: engine_http::Dial::Unix(PathBuf::from(p)) }),
                None => Err(EngineError::UnsupportedHost(h.to_owned())),
            },
            None => Ok(Engine::default_socket()),
        }
    }

    /// The engine on `/var/run/docker.sock`.
    pub fn default_socket() -> Engine {
        Engine {
            host: format!("unix://{DEFAULT_SOCKET}"),
            dial: engine_http::Dial::Unix(PathBuf::from(DEFAULT_SOCKET)),
        }
    }

    /// The engine at `host` as `DOCKER_HOST` spells it, `unix:///path` or `tcp://host:port`;
    /// `None` for anything else. Pure.
    pub fn at(host: &str) -> Option<Engine> {
        let dial = if let Some(p) = host.strip_prefix("unix://").filter(|p| p.starts_with('/')) {
            engine_http::Dial::Unix(PathBuf::from(p))
        } else {
            let addr = host.strip_prefix("tcp://")?.trim_end_matches('/');
            let (name, port) = addr.rsplit_once(':')?;
            if name.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) || addr.contains('/') {
                return None;
            }
            engine_http::Dial::Tcp(addr.to_owned())
        };
        Some(Engine { host: host.to_owned(), dial })
    }

    /// The same engine, called `host` in messages (a tunnel's local socket is shown as what it
    /// reaches).
    pub fn named(self, host: String) -> Engine {
        Engine { host, ..self }
    }

    /// The address, as `unix://…`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends a request; a status of 400 or more becomes [`EngineError::Refused`] with the
    /// engine's `message`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: engine_http::Body,
        timeout: Duration,
    ) -> Result<Response, EngineError> {
        let request = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let full = format!("/v{API_VERSION}{path}");
        let resp = engine_http::request_to(&self.dial, method, &full, body, timeout).map_err(|e| match e
            .kind()
        {
            std::io::ErrorKind::NotFound
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::PermissionDenied => {
                EngineError::Unreachable { host: self.host.clone(), reason: e.to_string() }
            }
            _ => EngineError::Io { request: request.clone(), source: e },
        })?;
        if resp.status >= 400 {
            let status = resp.status;
            let text = resp.text();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(EngineError::Refused { request, status, message: message.trim().to_owned() });
        }
        Ok(resp)
    }

    /// Checks that the engine answers (3 s at most); returns what `/_ping`'s headers say.
    pub fn ping_info(&self) -> Result<Ping, EngineError> {
        let resp = self.request("GET", "/_ping", None, Duration::from_secs(3))?;
        Ok(Ping {
            api: resp.header("api-version").unwrap_or(API_VERSION).to_owned(),
            builder_version: resp.header("builder-version").map(str::to_owned),
            server: resp.header("server").map(str::to_owned),
        })
    }
}

/// What the engine's `/_ping` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    /// `Api-Version` (`1.41`).
    pub api: String,
    /// `Builder-Version`: `2` when the engine's default builder is BuildKit, `1` for the
    /// classic one; absent on engines that do not say (Debian's docker.io 20.10 without
    /// BuildKit enabled).
    pub builder_version: Option<String>,
    /// `Server` (`Docker/20.10.24+dfsg1 (linux)`).
    pub server: Option<String>,
}

impl Ping {
    /// Which builder runs and why, for the log.
    pub fn builder_reason(&self) -> String {
        let engine = self.server.as_deref().unwrap_or("the engine");
        let why = match self.builder_version.as_deref() {
            Some("2") => "prefers BuildKit (Builder-Version: 2), but BuildKit through the Engine API needs \
                          a session (gRPC over a hijacked connection), which deploy-action does not open"
                .to_owned(),
            Some(v) => format!("reports Builder-Version: {v}"),
            None => "advertises no BuildKit (no Builder-Version header in /_ping)".to_owned(),
        };
        format!("classic builder (version=1): {engine}, API {}, {why}", self.api)
    }
}

/// Builds Dockerfiles with the engine's classic builder.
#[derive(Clone, Debug)]
pub(crate) struct DockerBuilder {
    engine: Engine,
    ping: Ping,
}

/// A temporary file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl DockerBuilder {
    /// A builder on `engine`, whose `/_ping` said `ping`.
    pub(crate) fn new(engine: Engine, ping: Ping) -> Self {
        DockerBuilder { engine, ping }
    }

    /// The `/build` query string.
    fn query(spec: &BuildSpec, recipe: &super::DockerfileRecipe, dockerfile: &str) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("version", "1")
            .append_pair("dockerfile", dockerfile)
            .append_pair("rm", "1")
            .append_pair("forcerm", "1");
        q.append_pair("buildargs", &serde_json::to_string(&recipe.build_args).expect("json"));
        q.append_pair("labels", &serde_json::to_string(&spec.image.labels).expect("json"));
        if let Some(t) = &recipe.target {
            q.append_pair("target", t);
        }
        if recipe.no_cache {
            q.append_pair("nocache", "1");
        }
        if recipe.pull {
            q.append_pair("pull", "1");
        }
        if let Some(p) = spec.platforms.first().filter(|p| **p != Platform::host()) {
            q.append_pair("platform", &p.to_string());
        }
        q.finish()
    }

    /// Runs the build and returns the image id.
    fn run_build(
        &self,
        spec: &BuildSpec,
        recipe: &super::DockerfileRecipe,
        runner: &Runner,
    ) -> Result<String, BuildError> {
        // The context goes to a temporary file first so the request has a Content-Length.
        let tmp = TempFile(
            std::env::temp_dir().join(format!("deploy-action-context-{:016x}.tar", rand::random::<u64>())),
        );
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp.0)
            .map_err(BuildError::io("creating", &tmp.0))?;
        let inside = build_context::relative_inside(&recipe.dockerfile, &recipe.context);
        let skip =
            build_context::relative_inside(&spec.output.dir, &recipe.context).filter(|s| !s.is_empty());
        let (name, extra) = match &inside {
            Some(rel) => (rel.clone(), None),
            None => (
                ".deploy-action.Dockerfile".to_owned(),
                Some((".deploy-action.Dockerfile", recipe.dockerfile.as_path())),
            ),
        };
        let mut file = build_context::write_context(
            &recipe.context,
            inside.as_deref(),
            extra,
            skip.as_deref(),
            std::io::BufWriter::new(file),
        )?
        .into_inner()
        .map_err(|e| BuildError::Io {
            action: "writing",
            path: tmp.0.clone(),
            source: e.into_error(),
        })?;
        let len = file.stream_position().map_err(BuildError::io("writing", &tmp.0))?;
        file.rewind().map_err(BuildError::io("reading", &tmp.0))?;
        runner.info(&format!("context {} ({len} bytes)", recipe.context.display()));

        let path = format!("/build?{}", Self::query(spec, recipe, &name));
        let resp =
            self.engine.request("POST", &path, Some((&mut file, len, "application/x-tar")), IDLE_TIMEOUT)?;
        runner.group(&format!("docker build (classic builder, engine API {})", self.ping.api));
        // The build's output is not ours: a runner must not take `::command::` lines in it as commands.
        let pause = runner.stop_commands();
        let result = stream_progress(resp.body, runner);
        runner.resume_commands(pause);
        runner.end_group();
        result
    }
}

/// Logs the engine's JSON progress lines; returns the image id, or the failing step.
fn stream_progress(body: Box<dyn BufRead + Send>, runner: &Runner) -> Result<String, BuildError> {
    let mut step = String::from("the build");
    let mut id = None;
    for line in body.lines() {
        let line = line.map_err(|e| EngineError::Io { request: "POST /build".into(), source: e })?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if let Some(s) = msg["stream"].as_str() {
            for l in s.lines().filter(|l| !l.trim().is_empty()) {
                if l.starts_with("Step ") {
                    step = l.trim().to_owned();
                }
                if let Some(rest) = l.strip_prefix("Successfully built ") {
                    id.get_or_insert_with(|| rest.trim().to_owned());
                }
                runner.info(l);
            }
        } else if let Some(s) = msg["status"].as_str().filter(|_| msg["progress"].is_null()) {
            // Pull progress bars are left out; their start and end lines are enough.
            runner.info(&format!("{s} {}", msg["id"].as_str().unwrap_or("")));
        }
        if let Some(aux) = msg["aux"]["ID"].as_str() {
            id = Some(aux.to_owned());
        }
        if !msg["error"].is_null() || !msg["errorDetail"].is_null() {
            let message =
                msg["errorDetail"]["message"].as_str().or(msg["error"].as_str()).unwrap_or("unknown error");
            return Err(BuildError::Step { step, message: message.trim().to_owned() });
        }
    }
    id.ok_or_else(|| BuildError::Step {
        step,
        message: "the engine ended the build without an image id".into(),
    })
}

impl Builder for DockerBuilder {
    fn name(&self) -> String {
        format!("docker (classic builder, engine API {})", self.ping.api)
    }

    fn build(&self, spec: &BuildSpec, runner: &Runner) -> Result<BuiltImage, BuildError> {
        let Recipe::Dockerfile(recipe) = &spec.recipe else {
            return Err(BuildError::Unsupported(
                "the docker builder builds a Dockerfile, not `add` paths".into(),
            ));
        };
        runner.info(&self.ping.builder_reason());
        let started = std::time::Instant::now();
        let id = self.run_build(spec, recipe, runner)?;
        runner.info(&format!("image {id} built in {:.2?}; exporting", started.elapsed()));
        let started = std::time::Instant::now();
        let resp = self.engine.request("GET", &format!("/images/{id}/get"), None, IDLE_TIMEOUT)?;
        let mut built = archive::to_layout(resp.body, &spec.output, runner)?;
        runner.info(&format!("exported to an OCI layout in {:.2?}", started.elapsed()));
        built.builder = self.name();
        built.image_id = Some(id);
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(lines: &str) -> Result<String, BuildError> {
        stream_progress(Box::new(std::io::Cursor::new(lines.as_bytes().to_vec())), &Runner::cli())
    }

    #[test]
    fn progress_gives_the_image_id_or_the_failing_step() {
        let ok = "{\"stream\":\"Step 1/2 : FROM x\\n\"}\n{\"stream\":\" ---\\u003e abc\\n\"}\n\
                  {\"aux\":{\"ID\":\"sha256:feed\"}}\n{\"stream\":\"Successfully built feed\\n\"}\n";
        assert_eq!(progress(ok).unwrap(), "sha256:feed");
        let failed = "{\"stream\":\"Step 1/2 : FROM x\\n\"}\n{\"stream\":\"Step 2/2 : RUN make\\n\"}\n\
                      {\"errorDetail\":{\"code\":2,\"message\":\"make: not found\"},\"error\":\"make: not found\"}\n";
        let e = progress(failed).unwrap_err();
        assert_eq!(e.to_string(), "Step 2/2 : RUN make failed: make: not found");
        assert!(progress("{\"stream\":\"Step 1/1 : FROM x\\n\"}\n").is_err(), "no id is an error");
    }

    #[test]
    fn the_log_says_which_builder_runs_and_why() {
        let ping = |v: Option<&str>| Ping {
            api: "1.41".into(),
            builder_version: v.map(Into::into),
            server: Some("Docker/20.10.24+dfsg1 (linux)".into()),
        };
        assert_eq!(
            ping(None).builder_reason(),
            "classic builder (version=1): Docker/20.10.24+dfsg1 (linux), API 1.41, advertises no BuildKit \
             (no Builder-Version header in /_ping)"
        );
        assert!(ping(Some("2")).builder_reason().contains("prefers BuildKit (Builder-Version: 2), but"));
        assert!(ping(Some("1")).builder_reason().ends_with("reports Builder-Version: 1"));
    }

    #[test]
    fn docker_host_must_be_a_unix_socket() {
        let env = EnvMap::from_pairs([("DOCKER_HOST", "tcp://10.0.0.1:2375")]);
        assert!(matches!(Engine::from_env(&env), Err(EngineError::UnsupportedHost(_))));
        let env = EnvMap::from_pairs([("DOCKER_HOST", "unix:///run/user/1000/docker.sock")]);
        assert_eq!(Engine::from_env(&env).unwrap().host(), "unix:///run/user/1000/docker.sock");
        assert_eq!(Engine::from_env(&EnvMap::default()).unwrap().host(), "unix:///var/run/docker.sock");
    }
}
