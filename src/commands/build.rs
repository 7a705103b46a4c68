//! `build`: build an image with the docker or files builder into an OCI image layout.

use super::push::{RegistryArgs, runtime};
use crate::build::base::BaseImage;
use crate::build::docker::{DockerBuilder, Engine, Ping};
use crate::build::files::FilesBuilder;
use crate::build::layout::Layout;
use crate::build::{
    AddPath, Base, BuildSpec, Builder, BuiltImage, DockerfileRecipe, FilesRecipe, ImageSettings,
    LayoutTarget, Platform, Recipe,
};
use crate::env::{EnvMap, vars};
use crate::registry::{Reference, Registries};
use crate::runner::{Report, Runner};
use crate::settings::{InputError, split_list};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Arguments of `build` (and the inputs of `command: build`).
#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// What to build and how (shared with `publish`).
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Image labels, `KEY=VALUE` one per line.
    #[arg(long, visible_alias = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Where the image goes: an OCI layout `oci:DIR` or `oci:DIR:TAG`, and/or registry
    /// references `registry/repository:tag` (one per line or comma) it is pushed to.
    #[arg(long, value_name = "oci:DIR[:TAG]|REF")]
    pub output: String,
    /// Registry access (to pull a registry `base`).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The builder and its recipe: every build input but the labels and the output.
#[derive(Debug, Clone, clap::Args)]
pub struct RecipeArgs {
    /// `docker` (a Dockerfile through the Docker engine), `files` (daemonless, from `add`
    /// paths) or `auto` (`docker` when the engine answers and there is a Dockerfile, else `files`).
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
    /// Build without the engine's cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Pull newer versions of base images.
    #[arg(long)]
    pub pull: bool,
    /// Target platforms, `os/arch[/variant]`, comma-separated (default: this machine's).
    #[arg(long = "platforms", visible_alias = "platform", value_name = "PLATFORMS")]
    pub platforms: Vec<String>,
    /// Base of a files build: `scratch`, a registry image `registry/repository:tag` or
    /// `…@sha256:…` (pulled, pinned by digest), or an OCI layout `oci:DIR[:TAG]`.
    #[arg(long, value_name = "IMAGE", default_value = "scratch")]
    pub base: String,
    /// `SRC:DST` paths to add (files builder), one layer each; `{os}`, `{arch}`, `{variant}`,
    /// `{platform}` in SRC pick each platform's file; DST is absolute, `/` at the end: into it.
    #[arg(long, value_name = "SRC:DST")]
    pub add: Vec<String>,
    /// Entrypoint, comma-separated or a JSON array (files builder). The input is
    /// `image-entrypoint`: runners take a container action's `with.entrypoint` as its own.
    #[arg(long = "image-entrypoint", visible_alias = "entrypoint", value_name = "ARGV")]
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

/// Validated settings: the requested builder and what each builder would build.
#[derive(Clone, Debug)]
pub struct BuildSettings {
    /// The requested builder.
    pub kind: BuilderKind,
    /// The Dockerfile build, when one is asked for or (with `auto`) present.
    pub dockerfile: Option<DockerfileRecipe>,
    /// The files build, when `add` paths are given.
    pub files: Option<FilesRecipe>,
    /// Target platforms.
    pub platforms: Vec<Platform>,
    /// Image config settings.
    pub image: ImageSettings,
    /// Where the layout goes.
    pub output: LayoutTarget,
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: Option<i64>,
}

impl BuildSettings {
    /// The spec for one recipe.
    pub fn spec(&self, recipe: Recipe) -> BuildSpec {
        BuildSpec {
            recipe,
            platforms: self.platforms.clone(),
            image: self.image.clone(),
            output: self.output.clone(),
            epoch: self.epoch,
        }
    }
}

/// `KEY=VALUE` lines into pairs.
pub fn pairs(input: &str, raw: &[String]) -> Result<Vec<(String, String)>, InputError> {
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
pub fn output(raw: &str) -> Result<LayoutTarget, InputError> {
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

/// `scratch`; a registry reference (pulled when the build runs; the platforms default to
/// this machine's, as `FROM` does); or `oci:DIR[:TAG]` read now (the platforms default to
/// the layout's).
fn base(raw: &str, platforms: &mut Vec<Platform>) -> Result<Base, InputError> {
    let raw = raw.trim();
    if raw == "scratch" || raw.is_empty() {
        return Ok(Base::Scratch);
    }
    let Some(rest) = raw.strip_prefix("oci:") else {
        return Reference::parse(raw).map(Base::Registry).map_err(|e| {
            let why = match e {
                crate::registry::RegistryError::InvalidReference { reason, .. } => reason,
                other => other.to_string(),
            };
            InputError::new(
                "base",
                raw,
                format!("{why}: use scratch, registry/repository:tag (or @sha256:…), or oci:DIR[:TAG]"),
            )
        });
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

/// Splits `output` into the layout to write (given, or a temporary one when only registry
/// references are named) and the references to push to.
fn outputs(raw: &str) -> Result<(Option<String>, Vec<Reference>), InputError> {
    let items = split_list(raw, false);
    let (layouts, refs): (Vec<String>, Vec<String>) = items.into_iter().partition(|i| i.starts_with("oci:"));
    if layouts.len() > 1 {
        return Err(InputError::new("output", raw, "names more than one oci: layout"));
    }
    if layouts.is_empty() && refs.is_empty() {
        return Err(InputError::new(
            "output",
            raw,
            "must be oci:DIR, oci:DIR:TAG or registry/repository:tag",
        ));
    }
    let refs = if refs.is_empty() { Vec::new() } else { super::push::destinations("output", &refs)? };
    Ok((layouts.into_iter().next(), refs))
}

impl BuildArgs {
    /// Validates every input without writing anything; `layout` replaces a missing `oci:`
    /// output (a temporary directory when only registry references are given).
    pub fn settings_with(&self, env: &EnvMap, layout: Option<&str>) -> Result<BuildSettings, InputError> {
        let labels = pairs("labels", &self.labels)?.into_iter().collect();
        let (given, _) = outputs(&self.output)?;
        let spec = given
            .or_else(|| layout.map(str::to_owned))
            .ok_or_else(|| InputError::new("output", &self.output, "must name an oci: layout"))?;
        self.recipe.settings(labels, output(&spec)?, env)
    }

    /// Validates every input without writing anything.
    pub fn settings(&self, env: &EnvMap) -> Result<BuildSettings, InputError> {
        self.settings_with(env, None)
    }
}

impl RecipeArgs {
    /// Validates every input without writing anything; `labels` go on the image, which is
    /// written to `output`.
    pub fn settings(
        &self,
        labels: std::collections::BTreeMap<String, String>,
        output: LayoutTarget,
        env: &EnvMap,
    ) -> Result<BuildSettings, InputError> {
        let kind = match self.builder.trim() {
            "docker" => BuilderKind::Docker,
            "files" => BuilderKind::Files,
            "auto" | "" => BuilderKind::Auto,
            other => return Err(InputError::new("builder", other, "must be docker, files or auto")),
        };
        let mut platforms = platforms(&self.platforms)?;
        let wants_files = kind != BuilderKind::Docker && !self.add.is_empty();
        let base = if wants_files { Some(base(&self.base, &mut platforms)?) } else { None };
        if platforms.is_empty() {
            platforms.push(Platform::host());
        }
        let files = match base {
            Some(base) => Some(FilesRecipe { base, add: add_paths(&self.add, &platforms)? }),
            None if kind == BuilderKind::Files => {
                return Err(InputError::new("add", "", "is needed by the files builder: give SRC:DST paths"));
            }
            None => None,
        };
        let dockerfile = match kind {
            BuilderKind::Files => None,
            // With `add` paths to fall back on, `auto` only uses a Dockerfile that is there.
            _ => self.dockerfile_recipe(kind == BuilderKind::Auto && files.is_some())?,
        };
        if files.is_none() && platforms.len() > 1 {
            return Err(InputError::new(
                "platforms",
                self.platforms.join(","),
                "lists several platforms: the docker builder builds one (use the files builder for multi-platform)",
            ));
        }
        let image = ImageSettings {
            entrypoint: argv("image-entrypoint", &self.entrypoint)?,
            cmd: argv("cmd", &self.cmd)?,
            env: pairs("env", &self.env)?,
            workdir: self.workdir.clone().filter(|w| !w.is_empty()),
            user: self.user.clone().filter(|u| !u.is_empty()),
            exposed_ports: ports(&self.exposed_ports)?,
            labels,
        };
        if let Some(w) = image.workdir.as_ref().filter(|w| !w.starts_with('/')) {
            return Err(InputError::new("workdir", w, "must be an absolute path"));
        }
        Ok(BuildSettings { kind, dockerfile, files, platforms, image, output, epoch: epoch(env)? })
    }

    /// The Dockerfile build; `None` when `optional` and neither `context` nor `file` is given
    /// and there is no `./Dockerfile`.
    fn dockerfile_recipe(&self, optional: bool) -> Result<Option<DockerfileRecipe>, InputError> {
        let optional = optional && self.context.is_none() && self.file.is_none();
        let context = PathBuf::from(self.context.as_deref().unwrap_or("."));
        let dockerfile = self.file.as_ref().map_or_else(|| context.join("Dockerfile"), PathBuf::from);
        if optional && !dockerfile.is_file() {
            return Ok(None);
        }
        if !context.is_dir() {
            return Err(InputError::new(
                "context",
                context.display().to_string(),
                "must be an existing directory",
            ));
        }
        if !dockerfile.is_file() {
            return Err(InputError::new(
                "file",
                dockerfile.display().to_string(),
                "must be an existing Dockerfile",
            ));
        }
        Ok(Some(DockerfileRecipe {
            context,
            dockerfile,
            build_args: pairs("build-args", &self.build_args)?.into_iter().collect(),
            target: self.target.clone().filter(|t| !t.is_empty()),
            no_cache: self.no_cache,
            pull: self.pull,
        }))
    }

    /// Inputs given that the chosen builder does not use.
    pub fn ignored_by(&self, files: bool) -> Vec<&'static str> {
        let flags = if files {
            vec![
                ("context", self.context.is_some()),
                ("file", self.file.is_some()),
                ("build-args", !self.build_args.is_empty()),
                ("target", self.target.is_some()),
                ("no-cache", self.no_cache),
                ("pull", self.pull),
            ]
        } else {
            vec![
                ("add", !self.add.is_empty()),
                ("image-entrypoint", self.entrypoint.is_some()),
                ("cmd", self.cmd.is_some()),
                ("env", !self.env.is_empty()),
                ("workdir", self.workdir.is_some()),
                ("user", self.user.is_some()),
                ("exposed-ports", !self.exposed_ports.is_empty()),
            ]
        };
        flags.into_iter().filter(|(_, set)| *set).map(|(n, _)| n).collect()
    }
}

/// Why a Dockerfile build found no engine, and the ways out.
const NO_ENGINE: &str = "a Dockerfile build needs a Docker engine, and Forgejo's runner gives job containers no \
     Docker socket by default: mount /var/run/docker.sock (or set DOCKER_HOST=unix://…), or build daemonless \
     with `builder: files` and `add` paths";

/// Chooses the builder and its spec. `auto` takes the engine when it answers and there is a
/// Dockerfile, else the files builder when `add` paths are given, and logs why; a Dockerfile
/// without an engine fails with the reason and the ways out. `publish` uses it too.
pub fn choose(
    settings: &BuildSettings,
    env: &EnvMap,
    runner: &Runner,
) -> anyhow::Result<(Box<dyn Builder>, BuildSpec)> {
    let files = || -> (Box<dyn Builder>, BuildSpec) {
        let recipe = settings.files.clone().expect("validated: files recipe");
        (Box::new(FilesBuilder), settings.spec(Recipe::Files(recipe)))
    };
    let docker = |engine: Engine, ping: Ping| -> (Box<dyn Builder>, BuildSpec) {
        let recipe = settings.dockerfile.clone().expect("validated: Dockerfile recipe");
        (Box::new(DockerBuilder::new(engine, ping)), settings.spec(Recipe::Dockerfile(recipe)))
    };
    let ping = || Engine::from_env(env).and_then(|e| e.ping_info().map(|p| (e, p)));
    let auto = |why: &str| runner.info(&format!("builder auto: {why}"));
    match settings.kind {
        BuilderKind::Files => Ok(files()),
        BuilderKind::Docker => {
            let (engine, version) = ping().context(NO_ENGINE)?;
            Ok(docker(engine, version))
        }
        BuilderKind::Auto if settings.dockerfile.is_none() => {
            auto("no Dockerfile, `add` paths given: files builder (daemonless)");
            Ok(files())
        }
        BuilderKind::Auto if settings.files.is_some() && settings.platforms.len() > 1 => {
            auto("several platforms: files builder (the classic docker builder builds one)");
            Ok(files())
        }
        BuilderKind::Auto => match ping() {
            Ok((engine, ping)) => {
                auto(&format!(
                    "the Docker engine at {} answers (API {}): docker builder",
                    engine.host(),
                    ping.api
                ));
                Ok(docker(engine, ping))
            }
            Err(e) if settings.files.is_some() => {
                auto(&format!("{e}: files builder (daemonless) from the `add` paths"));
                Ok(files())
            }
            Err(e) => Err(anyhow::Error::new(e).context(NO_ENGINE)),
        },
    }
}

impl BuildSettings {
    /// The registry base a files build would pull, if any.
    pub fn registry_base(&self) -> Option<&Reference> {
        match self.files.as_ref().map(|f| &f.base) {
            Some(Base::Registry(r)) => Some(r),
            _ => None,
        }
    }
}

/// Runs `build`.
pub fn run(args: &BuildArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let (_, dests) = outputs(&args.output)?;
    // Only registry references: build into a temporary layout, then push it.
    let temp = tempfile::Builder::new().prefix("deploy-action-build-").tempdir()?;
    let temp_spec = format!("oci:{}", temp.path().join("layout").display());
    let settings = args.settings_with(env, Some(&temp_spec))?;
    let mut hosts: Vec<&str> = settings.registry_base().map(|r| r.registry.as_str()).into_iter().collect();
    hosts.extend(dests.iter().map(|d| d.registry.as_str()));
    let regs = args.registry.registries(env, runner, &hosts)?;
    let rt = runtime()?;
    let built = build_image(&args.recipe, &settings, &regs, &rt, env, runner)?;
    let mut r = report(&built);
    if !dests.is_empty() {
        let tag = built.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        let layout = crate::registry::OciLayout::open(&format!("oci:{}{tag}", built.layout_dir.display()))?;
        let pushed = rt.block_on(super::push::push_layout(&regs, &layout, &dests, runner))?;
        let images: Vec<String> = dests.iter().map(ToString::to_string).collect();
        r.output("images", images.join("\n"));
        r.summary.push_str(&format!(
            "\nPushed to: {}\n",
            images.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
        ));
        r.json["images"] = images.clone().into();
        r.text = format!("{}\n", pushed.digest);
    }
    Ok(r)
}

/// Pulls a registry base into the output layout (the spec then holds it as images on disk).
fn pull_base(
    spec: &mut BuildSpec,
    regs: &Registries,
    rt: &tokio::runtime::Runtime,
    runner: &Runner,
) -> anyhow::Result<()> {
    let Recipe::Files(FilesRecipe { base: base @ Base::Registry(_), .. }) = &mut spec.recipe else {
        return Ok(());
    };
    let Base::Registry(reference) = base.clone() else { unreachable!("matched above") };
    let layout = Layout::create(&spec.output.dir)?;
    let client = regs.client(&reference.registry).map_err(|source| crate::build::BuildError::Pull {
        reference: reference.to_string(),
        source: Box::new(source),
    })?;
    let images =
        rt.block_on(crate::build::pull::pull_base(&client, &reference, &spec.platforms, &layout, runner))?;
    *base = Base::Images(images);
    Ok(())
}

/// Chooses the builder, warns about inputs it ignores, pulls a registry base with `regs` on
/// `rt`, and builds; a failed build leaves no new layout directory behind. `publish` builds
/// each service with it.
pub fn build_image(
    recipe: &RecipeArgs,
    settings: &BuildSettings,
    regs: &Registries,
    rt: &tokio::runtime::Runtime,
    env: &EnvMap,
    runner: &Runner,
) -> anyhow::Result<BuiltImage> {
    let (builder, mut spec) = choose(settings, env, runner)?;
    if settings.kind != BuilderKind::Auto {
        for name in recipe.ignored_by(matches!(spec.recipe, Recipe::Files(_))) {
            runner.warning(&format!(
                "input `{name}` does not apply to the {} builder and is ignored",
                builder.name()
            ));
        }
    }
    let dir = spec.output.dir.clone();
    let existed = dir.exists();
    let started = std::time::Instant::now();
    let built = pull_base(&mut spec, regs, rt, runner)
        .and_then(|()| Ok(builder.build(&spec, runner)?))
        .inspect_err(|_| {
            if !existed {
                let _ = std::fs::remove_dir_all(&dir);
            }
        })?;
    runner.info(&format!("built in {:.2?}", started.elapsed()));
    Ok(built)
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
    if let Some(b) = &built.base {
        r.output("base-digest", b.digest.clone());
        r.output("base-image", b.pinned());
    }
    let platforms: Vec<String> = built.platforms.iter().map(ToString::to_string).collect();
    r.summary = format!(
        "### Image build\n\n| Builder | Platform(s) | Digest | Size |\n|---|---|---|---|\n| {} | {} | `{}` | {} |\n",
        built.builder,
        platforms.join(", "),
        built.digest,
        human_size(built.size)
    );
    if let Some(b) = &built.base {
        r.summary.push_str(&format!(
            "\nBase: `{}` pinned as `{}`\n",
            super::tags::md_cell(&b.name),
            super::tags::md_cell(&b.pinned())
        ));
    }
    let tag = built.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
    r.text = format!("layout: oci:{layout}{tag}\n{}\n", built.digest);
    r.json = serde_json::json!({
        "builder": built.builder, "platforms": platforms, "digest": built.digest, "mediaType": built.media_type,
        "layout": layout, "tag": built.tag, "size": built.size, "imageId": built.image_id,
        "base": built.base.as_ref().map(|b| serde_json::json!({"name": b.name, "digest": b.digest, "image": b.pinned()})),
    });
    r
}

/// `1.5 MiB`, `12.0 KiB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
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
            (&["--add", "/bin/sh:/bin/sh", "--base", "Alpine:latest"], "base"),
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
        assert_eq!(s.output.tag.as_deref(), Some("v1.2"));
        assert_eq!(s.image.cmd.unwrap(), ["sh", "-c", "echo a, b"]);
        assert_eq!(s.image.exposed_ports, ["80/tcp", "53/udp"]);
    }
}
