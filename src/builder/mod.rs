//! Image builders. One [`Builder`] trait; `docker` builds a Dockerfile through the Engine API,
//! `files` assembles layers from workspace paths without a daemon. Both end in an OCI image
//! layout on disk ([`layout`]) that the registry client pushes.

pub(crate) mod archive;
pub(crate) mod base;
pub(crate) mod build_context;
pub(crate) mod docker;
pub(crate) mod engine_http;
pub(crate) mod files;
pub(crate) mod layout_writer;
pub(crate) mod pull;
pub(crate) mod tarball;

use crate::runner::Runner;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A target platform, `os/arch[/variant]` (`linux/amd64`, `linux/arm/v7`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture in Go's naming (`amd64`, `arm64`).
    pub arch: String,
    /// Variant (`v7` for `arm`), if any.
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`; `None` when the string has another shape.
    pub fn parse(s: &str) -> Option<Platform> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Some(Platform::new(os, arch, None)),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => Some(Platform::new(os, arch, Some(v))),
            _ => None,
        }
    }

    fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform { os: os.to_owned(), arch: arch.to_owned(), variant: variant.map(str::to_owned) }
    }

    /// The platform of this process (`linux/amd64` on x86-64 Linux).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform::new("linux", arch, None)
    }

    /// Replaces `{os}`, `{arch}`, `{variant}` and `{platform}` (`os/arch[/variant]`) in `template`.
    pub fn substitute(&self, template: &str) -> String {
        template
            .replace("{platform}", &self.to_string())
            .replace("{os}", &self.os)
            .replace("{arch}", &self.arch)
            .replace("{variant}", self.variant.as_deref().unwrap_or(""))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Where the OCI image layout goes: a directory and an optional tag recorded as
/// `org.opencontainers.image.ref.name` in `index.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutTarget {
    /// The layout directory (created if missing; an existing layout is added to).
    pub dir: PathBuf,
    /// The reference name of the image inside the layout.
    pub tag: Option<String>,
}

/// The image configuration a build sets (`ENTRYPOINT`, `CMD`, `ENV`, …). Empty fields keep
/// the base image's values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSettings {
    /// Entrypoint argv.
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments.
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE` environment entries, in order.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub workdir: Option<String>,
    /// User (`1000`, `1000:1000`, `nobody`).
    pub user: Option<String>,
    /// Exposed ports (`8080/tcp`).
    pub exposed_ports: Vec<String>,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
}

/// One `--add SRC:DST`: a workspace path (with `{arch}`-style placeholders) and where it goes
/// in the image (absolute; a trailing `/` means "into this directory").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddPath {
    /// Source path template on the build machine.
    pub src: String,
    /// Absolute destination in the image.
    pub dst: String,
}

/// A Dockerfile build for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerfileRecipe {
    /// Build context directory.
    pub context: PathBuf,
    /// The Dockerfile (inside or outside the context).
    pub dockerfile: PathBuf,
    /// `--build-arg` pairs.
    pub build_args: BTreeMap<String, String>,
    /// Target stage.
    pub target: Option<String>,
    /// Do not use the build cache.
    pub no_cache: bool,
    /// Pull newer base images.
    pub pull: bool,
}

/// A daemonless build: a base plus one layer per added path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilesRecipe {
    /// The base image.
    pub base: Base,
    /// Paths to add, one layer each, in order.
    pub add: Vec<AddPath>,
}

/// The base of a daemonless build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// No base: only our layers.
    Scratch,
    /// Images already on disk (an OCI layout, or pulled by the registry client), one per platform.
    Images(Vec<base::BaseImage>),
    /// An image in a registry, pulled into the output layout before the build
    /// ([`pull::pull_base`] turns it into [`Base::Images`]).
    Registry(crate::registry::Reference),
}

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// Build a Dockerfile (docker builder).
    Dockerfile(DockerfileRecipe),
    /// Assemble files (files builder).
    Files(FilesRecipe),
}

/// Everything a builder needs, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildSpec {
    /// What to build.
    pub recipe: Recipe,
    /// Target platforms (at least one).
    pub platforms: Vec<Platform>,
    /// Image config settings (labels apply to both builders).
    pub image: ImageSettings,
    /// Where the layout goes.
    pub output: LayoutTarget,
    /// `SOURCE_DATE_EPOCH`: fixes file times and `created` for reproducible builds.
    pub epoch: Option<i64>,
}

/// A finished build: an OCI layout on disk and the digest to push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BuiltImage {
    /// Which builder ran (`files`, `docker (classic builder, API 1.41)`).
    pub builder: String,
    /// The layout directory.
    pub layout_dir: PathBuf,
    /// Reference name inside the layout, if tagged.
    pub tag: Option<String>,
    /// Digest of the manifest (one platform) or of the image index (several).
    pub digest: String,
    /// Media type of what `digest` names.
    pub media_type: String,
    /// Platforms built.
    pub platforms: Vec<Platform>,
    /// Total size of the distinct configs and (compressed) layers, in bytes.
    pub size: u64,
    /// The engine's image id (docker builder only).
    pub image_id: Option<String>,
    /// The registry base the image was built on, pinned by digest (files builder).
    pub base: Option<base::BaseSource>,
}

/// Builds images. Blocking; from async code, call it in `spawn_blocking`.
pub(crate) trait Builder: Send + Sync {
    /// Short name for logs and the summary.
    fn name(&self) -> String;
    /// Builds `spec` into its OCI layout, logging progress to `runner`.
    fn build(&self, spec: &BuildSpec, runner: &Runner) -> Result<BuiltImage, BuildError>;
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `writing`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The registry base could not be pulled.
    #[error("pulling the base image {reference}: {source}")]
    Pull {
        /// The base as given.
        reference: String,
        /// What the registry client reported.
        #[source]
        source: Box<crate::registry::RegistryError>,
    },
    /// The Docker engine could not be reached or refused a request.
    #[error(transparent)]
    Engine(#[from] docker::EngineError),
    /// A Dockerfile instruction failed.
    #[error("{step} failed: {message}")]
    Step {
        /// The failing instruction as the engine logged it (`Step 2/3 : RUN false`).
        step: String,
        /// The engine's `errorDetail` message.
        message: String,
    },
    /// The recipe does not suit this builder (a Dockerfile for `files`, several platforms
    /// for the classic builder, a base without this platform).
    #[error("{0}")]
    Unsupported(String),
    /// An image archive or base image is not what it claims to be.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was read (`docker image archive`).
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl BuildError {
    /// An I/O error on `path`.
    pub fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BuildError + 'a {
        move |source| BuildError::Io { action, path: path.to_owned(), source }
    }
}

/// Runs `f` on every item using up to one thread per core, keeping the order of results.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    parallel_map_with(cores, items, f)
}

/// Runs `f` on every item using up to `workers` threads, keeping the order of results.
pub(crate) fn parallel_map_with<T: Sync, R: Send>(
    workers: usize,
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = workers.min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results.into_inner().unwrap().into_iter().map(|r| r.expect("every item ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_substitute() {
        let p = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(p.to_string(), "linux/arm/v7");
        assert_eq!(p.substitute("target/{arch}{variant}/{os}"), "target/armv7/linux");
        assert_eq!(Platform::parse("linux/arm64").unwrap().substitute("{platform}"), "linux/arm64");
        for bad in ["linux", "linux/", "/amd64", "linux/amd64/v8/x", "linux amd64"] {
            assert_eq!(Platform::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..20).collect();
        assert_eq!(parallel_map(&items, |i| i * 2), items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }
}

/// Which builder the inputs ask for (the `builder` input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BuilderKind {
    /// The Docker engine.
    Docker,
    /// Daemonless.
    Files,
    /// Choose from the inputs and the engine.
    Auto,
}
