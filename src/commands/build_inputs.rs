//! The build inputs shared by `build` and `publish` (builder, Dockerfile or files recipe,
//! image config, platforms), parsed and validated into [`BuildSettings`] without I/O beyond
//! checking that the named paths exist.

pub(crate) use crate::builder::BuilderKind;
use crate::builder::base::BaseImage;
use crate::builder::{
    AddPath, Base, BuildSpec, DockerfileRecipe, FilesRecipe, ImageSettings, LayoutTarget, Platform, Recipe,
};
use crate::env::{EnvMap, vars};
use crate::registry::Reference;
use crate::settings::{InputError, split_list};
use std::path::{Path, PathBuf};

/// The builder and its recipe: every build input but the labels and the output.
#[derive(Debug, Clone, clap::Args)]
pub struct RecipeArgs {
    /// `docker` (a Dockerfile through the Docker engine), `files` (daemonless, from `add`
    /// paths) or `auto` (`docker` when the engine answers and there is a Dockerfile, else `files`).
    #[arg(long, value_name = "BUILDER", value_enum, default_value_t = BuilderKind::Auto)]
    pub builder: BuilderKind,
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
pub(crate) fn pairs(input: &str, raw: &[String]) -> Result<Vec<(String, String)>, InputError> {
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
pub(crate) fn output(raw: &str) -> Result<LayoutTarget, InputError> {
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
pub(super) fn outputs(raw: &str) -> Result<(Option<String>, Vec<Reference>), InputError> {
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
    let refs =
        if refs.is_empty() { Vec::new() } else { crate::commands::push::destinations("output", &refs)? };
    Ok((layouts.into_iter().next(), refs))
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
        let kind = self.builder;
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
