//! `build`: build an image with the docker or files builder into an OCI image layout.

use crate::build::base::BaseImage;
use crate::build::docker::{DockerBuilder, Engine};
use crate::build::files::FilesBuilder;
use crate::build::{
    AddPath, Base, BuildSpec, Builder, BuiltImage, DockerfileRecipe, FilesRecipe, ImageSettings,
    LayoutTarget, Platform, Recipe,
};
use crate::env::{EnvMap, vars};
use crate::runner::{Report, Runner};
use crate::settings::{InputError, split_list};
use std::path::{Path, PathBuf};

/// Arguments of `build` (and the inputs of `command: build`).
#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// `docker` (a Dockerfile through the Docker engine), `files` (daemonless, from `add`
    /// paths) or `auto` (`files` when `add` is given, else `docker`).
    #[arg(long, value_name = "BUILDER", default_value = "auto")]
    pub builder: String,
    /// Build context directory (docker builder).
    #[arg(long, value_name = "DIR")]
    pub context: Option<String>,
    /// Dockerfile (default: `<context>/Dockerfile`).
    #[arg(long, value_name = "FILE")]
    pub file: Option<String>,
    /// Build arguments, `KEY=VALUE` one per line (docker builder).
    #[arg(long = "build-args", visible_alias = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Target stage of a multi-stage Dockerfile.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Image labels, `KEY=VALUE` one per line.
    #[arg(long, visible_alias = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Build without the engine's cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Pull newer versions of base images.
    #[arg(long)]
    pub pull: bool,
    /// Target platforms, `os/arch[/variant]`, comma-separated (default: this machine's).
    #[arg(long = "platforms", visible_alias = "platform", value_name = "PLATFORMS")]
    pub platforms: Vec<String>,
    /// Base of a files build: `scratch`, or an OCI layout `oci:DIR[:TAG]`.
    #[arg(long, value_name = "IMAGE", default_value = "scratch")]
    pub base: String,
    /// `SRC:DST` paths to add (files builder), one layer each; `{os}`, `{arch}`, `{variant}`,
    /// `{platform}` in SRC pick each platform's file; DST is absolute, `/` at the end: into it.
    #[arg(long, value_name = "SRC:DST")]
    pub add: Vec<String>,
    /// Entrypoint, comma-separated or a JSON array (files builder).
    #[arg(long, value_name = "ARGV")]
    pub entrypoint: Option<String>,
    /// Default arguments, comma-separated or a JSON array (files builder).
    #[arg(long, value_name = "ARGV")]
    pub cmd: Option<String>,
    /// Environment, `KEY=VALUE` one per line (files builder).
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory (files builder).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// User to run as (files builder).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Exposed ports, `8080`, `8080/tcp`, `53/udp`, comma-separated (files builder).
    #[arg(long = "exposed-ports", visible_alias = "expose", value_name = "PORTS")]
    pub exposed_ports: Vec<String>,
    /// Where to write the image: `oci:DIR` or `oci:DIR:TAG`.
    #[arg(long, value_name = "oci:DIR[:TAG]")]
    pub output: String,
}

/// Which builder the inputs ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuilderKind {
    /// The Docker engine.
    Docker,
    /// Daemonless.
    Files,
    /// Choose from the inputs and the engine.
    Auto,
}

/// Validated settings: which builder and the spec.
#[derive(Clone, Debug)]
pub struct BuildSettings {
    /// The requested builder.
    pub kind: BuilderKind,
    /// What to build.
    pub spec: BuildSpec,
    /// Inputs given that this builder ignores (a warning each).
    pub ignored: Vec<&'static str>,
}

/// `KEY=VALUE` lines into pairs.
fn pairs(input: &str, raw: &[String]) -> Result<Vec<(String, String)>, InputError> {
    let mut out = Vec::new();
    for item in raw.iter().flat_map(|r| split_list(r, true)) {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => out.push((k.trim().to_owned(), v.to_owned())),
            _ => return Err(InputError::new(input, item, "must be KEY=VALUE")),
        }
    }
    Ok(out)
}

/// An argv from a JSON array or a comma-separated list.
fn argv(input: &str, raw: &Option<String>) -> Result<Option<Vec<String>>, InputError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.trim_start().starts_with('[') {
        return serde_json::from_str(raw).map(Some).map_err(|_| {
            InputError::new(input, raw, "must be a JSON array of strings or a comma-separated list")
        });
    }
    Ok(Some(split_list(raw, false)))
}

/// Parses `oci:DIR[:TAG]`.
fn output(raw: &str) -> Result<LayoutTarget, InputError> {
    let Some(rest) = raw.strip_prefix("oci:").filter(|r| !r.is_empty()) else {
        return Err(InputError::new("output", raw, "must be oci:DIR or oci:DIR:TAG"));
    };
    let tag_ok = |t: &str| {
        !t.is_empty()
            && t.len() <= 128
            && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && !t.starts_with(['.', '-'])
    };
    let (dir, tag) = match rest.rsplit_once(':') {
        Some((d, t)) if tag_ok(t) && !d.is_empty() => (d, Some(t.to_owned())),
        Some(_) => {
            return Err(InputError::new(
                "output",
                raw,
                "has an invalid tag: use [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
            ));
        }
        None => (rest, None),
    };
    let dir = PathBuf::from(dir);
    let non_empty = std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    if dir.exists() && (!dir.is_dir() || (non_empty && !dir.join("oci-layout").exists())) {
        return Err(InputError::new(
            "output",
            raw,
            "must name a new or empty directory, or an existing OCI layout",
        ));
    }
    Ok(LayoutTarget { dir, tag })
}

fn ports(raw: &[String]) -> Result<Vec<String>, InputError> {
    let mut out = Vec::new();
    for item in raw.iter().flat_map(|r| split_list(r, false)) {
        let (num, proto) = item.split_once('/').unwrap_or((&item, "tcp"));
        if num.parse::<u16>().map_or(true, |n| n == 0) || !["tcp", "udp", "sctp"].contains(&proto) {
            return Err(InputError::new(
                "exposed-ports",
                item,
                "must be PORT or PORT/tcp|udp|sctp (1-65535)",
            ));
        }
        out.push(format!("{num}/{proto}"));
    }
    Ok(out)
}

fn platforms(raw: &[String]) -> Result<Vec<Platform>, InputError> {
    let mut out: Vec<Platform> = Vec::new();
    for item in raw.iter().flat_map(|r| split_list(r, false)) {
        let p = Platform::parse(&item).ok_or_else(|| {
            InputError::new("platforms", &item, "must be os/arch[/variant], e.g. linux/amd64")
        })?;
        if out.contains(&p) {
            return Err(InputError::new("platforms", &item, "is listed twice"));
        }
        out.push(p);
    }
    Ok(out)
}

/// `scratch`, or `oci:DIR[:TAG]` read now; the platforms default to the base's.
fn base(raw: &str, platforms: &mut Vec<Platform>) -> Result<Base, InputError> {
    let raw = raw.trim();
    if raw == "scratch" || raw.is_empty() {
        return Ok(Base::Scratch);
    }
    let Some(rest) = raw.strip_prefix("oci:") else {
        return Err(InputError::new(
            "base",
            raw,
            "is not supported yet: use scratch or oci:DIR[:TAG] (pulling from a registry needs the registry \
             client; `skopeo copy docker://IMAGE oci:DIR:TAG` makes a layout)",
        ));
    };
    let (dir, tag) = match rest.rsplit_once(':') {
        Some((d, t)) if !t.contains('/') && !d.is_empty() => (d, Some(t)),
        _ => (rest, None),
    };
    let images = BaseImage::from_layout(Path::new(dir), tag)
        .map_err(|e| InputError::new("base", raw, format!("cannot be read: {e}")))?;
    if platforms.is_empty() {
        platforms.extend(images.iter().map(|i| i.platform.clone()));
    }
    if let Some(p) = platforms.iter().find(|p| !images.iter().any(|i| i.platform == **p)) {
        return Err(InputError::new("base", raw, format!("has no {p} image")));
    }
    Ok(Base::Images(images))
}

fn add_paths(raw: &[String], platforms: &[Platform]) -> Result<Vec<AddPath>, InputError> {
    let mut out = Vec::new();
    for item in raw.iter().flat_map(|r| split_list(r, false)) {
        let Some((src, dst)) = item.split_once(':').filter(|(s, _)| !s.is_empty()) else {
            return Err(InputError::new(
                "add",
                item,
                "must be SRC:DST, e.g. target/release/api:/usr/local/bin/api",
            ));
        };
        if !dst.starts_with('/') {
            return Err(InputError::new(
                "add",
                &item,
                "needs an absolute DST in the image (starting with /)",
            ));
        }
        for p in platforms {
            let path = p.substitute(src);
            if std::fs::metadata(&path).is_err() {
                return Err(InputError::new(
                    "add",
                    &item,
                    format!("has a source that does not exist: {path} (for {p})"),
                ));
            }
        }
        out.push(AddPath { src: src.to_owned(), dst: dst.to_owned() });
    }
    Ok(out)
}

/// `SOURCE_DATE_EPOCH`, if set.
fn epoch(env: &EnvMap) -> Result<Option<i64>, InputError> {
    env.non_empty(vars::SOURCE_DATE_EPOCH)
        .map(|s| {
            s.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                InputError::new(vars::SOURCE_DATE_EPOCH, s, "must be whole seconds since the Unix epoch")
            })
        })
        .transpose()
}

impl BuildArgs {
    /// Validates every input without writing anything.
    pub fn settings(&self, env: &EnvMap) -> Result<BuildSettings, InputError> {
        let kind = match self.builder.trim() {
            "docker" => BuilderKind::Docker,
            "files" => BuilderKind::Files,
            "auto" | "" => BuilderKind::Auto,
            other => return Err(InputError::new("builder", other, "must be docker, files or auto")),
        };
        let mut platforms = platforms(&self.platforms)?;
        let base = if self.add.is_empty() { Base::Scratch } else { base(&self.base, &mut platforms)? };
        if platforms.is_empty() {
            platforms.push(Platform::host());
        }
        let add = add_paths(&self.add, &platforms)?;
        let files = match kind {
            BuilderKind::Files if add.is_empty() => {
                return Err(InputError::new("add", "", "is needed by the files builder: give SRC:DST paths"));
            }
            BuilderKind::Docker if !add.is_empty() => {
                return Err(InputError::new(
                    "add",
                    self.add.join(","),
                    "is for the files builder, not docker",
                ));
            }
            _ => !add.is_empty(),
        };
        let image = ImageSettings {
            entrypoint: argv("entrypoint", &self.entrypoint)?,
            cmd: argv("cmd", &self.cmd)?,
            env: pairs("env", &self.env)?,
            workdir: self.workdir.clone().filter(|w| !w.is_empty()),
            user: self.user.clone().filter(|u| !u.is_empty()),
            exposed_ports: ports(&self.exposed_ports)?,
            labels: pairs("labels", &self.labels)?.into_iter().collect(),
        };
        if let Some(w) = image.workdir.as_ref().filter(|w| !w.starts_with('/')) {
            return Err(InputError::new("workdir", w, "must be an absolute path"));
        }
        let mut ignored = Vec::new();
        let recipe = if files {
            let flags = [
                ("context", self.context.is_some()),
                ("file", self.file.is_some()),
                ("build-args", !self.build_args.is_empty()),
                ("target", self.target.is_some()),
                ("no-cache", self.no_cache),
                ("pull", self.pull),
            ];
            ignored.extend(flags.iter().filter(|(_, set)| *set).map(|(n, _)| *n));
            Recipe::Files(FilesRecipe { base, add })
        } else {
            let context = PathBuf::from(self.context.as_deref().unwrap_or("."));
            if !context.is_dir() {
                return Err(InputError::new(
                    "context",
                    context.display().to_string(),
                    "must be an existing directory",
                ));
            }
            let dockerfile = self.file.as_ref().map_or_else(|| context.join("Dockerfile"), PathBuf::from);
            if !dockerfile.is_file() {
                return Err(InputError::new(
                    "file",
                    dockerfile.display().to_string(),
                    "must be an existing Dockerfile",
                ));
            }
            if platforms.len() > 1 {
                return Err(InputError::new(
                    "platforms",
                    self.platforms.join(","),
                    "lists several platforms: the docker builder builds one (use the files builder for multi-platform)",
                ));
            }
            let flags = [
                ("entrypoint", image.entrypoint.is_some()),
                ("cmd", image.cmd.is_some()),
                ("env", !image.env.is_empty()),
                ("workdir", image.workdir.is_some()),
                ("user", image.user.is_some()),
                ("exposed-ports", !image.exposed_ports.is_empty()),
            ];
            ignored.extend(flags.iter().filter(|(_, set)| *set).map(|(n, _)| *n));
            Recipe::Dockerfile(DockerfileRecipe {
                context,
                dockerfile,
                build_args: pairs("build-args", &self.build_args)?.into_iter().collect(),
                target: self.target.clone().filter(|t| !t.is_empty()),
                no_cache: self.no_cache,
                pull: self.pull,
            })
        };
        let spec = BuildSpec { recipe, platforms, image, output: output(&self.output)?, epoch: epoch(env)? };
        Ok(BuildSettings { kind, spec, ignored })
    }
}

/// Chooses the builder: `auto` takes `files` for `add` paths, else the engine if it answers
/// (a Dockerfile without an engine fails with the reason and the way out). `publish` uses it too.
pub fn choose(settings: &BuildSettings, env: &EnvMap, runner: &Runner) -> anyhow::Result<Box<dyn Builder>> {
    let files = matches!(settings.spec.recipe, Recipe::Files(_));
    if files {
        if settings.kind == BuilderKind::Auto {
            runner.info("builder auto: `add` paths given, building daemonless with the files builder");
        }
        return Ok(Box::new(FilesBuilder));
    }
    let engine = Engine::from_env(env)?;
    match engine.ping() {
        Ok(version) => {
            if settings.kind == BuilderKind::Auto {
                runner.info(&format!("builder auto: the Docker engine at {} answers (API {version}): docker builder", engine.host()));
            }
            Ok(Box::new(DockerBuilder::new(engine, version)))
        }
        Err(e) => Err(anyhow::Error::new(e).context(
            "a Dockerfile build needs a Docker engine, and Forgejo's runner gives job containers no Docker socket by \
             default: mount /var/run/docker.sock (or set DOCKER_HOST=unix://…), or build daemonless with \
             `builder: files` and `add` paths",
        )),
    }
}

/// Runs `build`.
pub fn run(args: &BuildArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let settings = args.settings(env)?;
    let builder = choose(&settings, env, runner)?;
    for name in &settings.ignored {
        runner.warning(&format!(
            "input `{name}` does not apply to the {} builder and is ignored",
            builder.name()
        ));
    }
    let dir = &settings.spec.output.dir;
    let existed = dir.exists();
    let started = std::time::Instant::now();
    let built = builder.build(&settings.spec, runner).inspect_err(|_| {
        if !existed {
            let _ = std::fs::remove_dir_all(dir);
        }
    })?;
    runner.info(&format!("built in {:.2?}", started.elapsed()));
    Ok(report(&built))
}

/// Outputs, summary and text of a build; the digest is the last line of the text.
pub fn report(built: &BuiltImage) -> Report {
    let mut r = Report::default();
    let layout = built.layout_dir.display().to_string();
    r.output("digest", built.digest.clone());
    r.output("layout", layout.clone());
    if let Some(id) = &built.image_id {
        r.output("image-id", id.clone());
    }
    let platforms: Vec<String> = built.platforms.iter().map(ToString::to_string).collect();
    r.summary = format!(
        "### Image build\n\n| Builder | Platform(s) | Digest | Size |\n|---|---|---|---|\n| {} | {} | `{}` | {} |\n",
        built.builder,
        platforms.join(", "),
        built.digest,
        human_size(built.size)
    );
    let tag = built.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
    r.text = format!("layout: oci:{layout}{tag}\n{}\n", built.digest);
    r.json = serde_json::json!({
        "builder": built.builder, "platforms": platforms, "digest": built.digest, "mediaType": built.media_type,
        "layout": layout, "tag": built.tag, "size": built.size, "imageId": built.image_id,
    });
    r
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Result<BuildSettings, InputError> {
        let cli = crate::cli::Cli::try_parse_from(["deploy-action", "build"].iter().chain(args)).unwrap();
        let crate::cli::Command::Build(a) = cli.command else { panic!() };
        a.settings(&EnvMap::default())
    }

    #[test]
    fn bad_inputs_name_the_input() {
        let d = tempfile::tempdir().unwrap();
        let out = format!("oci:{}/out", d.path().display());
        let cases: &[(&[&str], &str)] = &[
            (&["--builder", "podman"], "builder"),
            (&["--add", "/bin/sh:usr/bin/sh"], "add"),
            (&["--add", "/nonexistent/x:/x"], "add"),
            (&["--add", "/bin/sh:/bin/sh", "--platform", "linux"], "platforms"),
            (&["--builder", "files"], "add"),
            (&["--add", "/bin/sh:/bin/sh", "--env", "NOVALUE"], "env"),
            (&["--add", "/bin/sh:/bin/sh", "--expose", "http"], "exposed-ports"),
            (&["--add", "/bin/sh:/bin/sh", "--base", "alpine"], "base"),
            (&["--add", "/bin/sh:/bin/sh", "--base", "oci:/nonexistent"], "base"),
            (&["--builder", "docker", "--context", "/nonexistent"], "context"),
            (&["--builder", "docker", "--context", "/", "--file", "/nonexistent/Dockerfile"], "file"),
        ];
        for (args, input) in cases {
            let mut all = args.to_vec();
            all.extend(["--output", &out]);
            assert_eq!(settings(&all).unwrap_err().input, *input, "{args:?}");
        }
        let e = settings(&["--add", "/bin/sh:/bin/sh", "--output", "dir"]).unwrap_err();
        assert_eq!(e.input, "output");
        assert!(!d.path().join("out").exists());
    }

    #[test]
    fn lists_and_outputs_parse() {
        let d = tempfile::tempdir().unwrap();
        let out = format!("oci:{}/out:v1.2", d.path().display());
        let s = settings(&[
            "--add",
            "/bin/sh:/bin/,/bin/{os}:/x",
            "--platforms",
            "linux/amd64,linux/arm64",
            "--cmd",
            r#"["sh","-c","echo a, b"]"#,
            "--entrypoint",
            "/bin/sh",
            "--expose",
            "80,53/udp",
            "--output",
            &out,
        ])
        .unwrap_err();
        // `/bin/linux` does not exist: the error names the platform's path.
        assert!(s.rule.contains("/bin/linux"), "{s}");
        let s = settings(&[
            "--add",
            "/bin/sh:/bin/",
            "--cmd",
            r#"["sh","-c","echo a, b"]"#,
            "--expose",
            "80,53/udp",
            "--output",
            &out,
        ])
        .unwrap();
        assert_eq!(s.spec.output.tag.as_deref(), Some("v1.2"));
        assert_eq!(s.spec.image.cmd.unwrap(), ["sh", "-c", "echo a, b"]);
        assert_eq!(s.spec.image.exposed_ports, ["80/tcp", "53/udp"]);
    }
}
