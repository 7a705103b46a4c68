//! `build`: build an image with the docker or files builder into an OCI image layout (and
//! push it where `output` names registries). The inputs are parsed in [`recipe`].

use super::build_inputs as recipe;

use recipe::outputs;
pub(crate) use recipe::{BuildSettings, BuilderKind, RecipeArgs, output, pairs};

use super::push::RegistryArgs;
use crate::builder::docker::{DockerBuilder, Engine, Ping};
use crate::builder::files::FilesBuilder;
use crate::builder::layout_writer::Layout;
use crate::builder::{Base, BuildSpec, Builder, BuiltImage, FilesRecipe, Recipe};
use crate::env::EnvMap;
use crate::registry::{Reference, Registries};
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use anyhow::Context as _;

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

/// Why a Dockerfile build found no engine, and the ways out.
const NO_ENGINE: &str = "a Dockerfile build needs a Docker engine, and Forgejo's runner gives job containers no \
     Docker socket by default: mount /var/run/docker.sock (or set DOCKER_HOST=unix://…), or build daemonless \
     with `builder: files` and `add` paths";

/// Chooses the builder and its spec. `auto` takes the engine when it answers and there is a
/// Dockerfile, else the files builder when `add` paths are given, and logs why; a Dockerfile
/// without an engine fails with the reason and the ways out. `publish` uses it too.
pub(crate) fn choose(
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
pub(crate) async fn run(args: &BuildArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let (_, dests) = outputs(&args.output)?;
    // Only registry references: build into a temporary layout, then push it.
    let temp = tempfile::Builder::new().prefix("deploy-action-build-").tempdir()?;
    let temp_spec = format!("oci:{}", temp.path().join("layout").display());
    let settings = args.settings_with(env, Some(&temp_spec))?;
    // The `username`/`password` pair: for the first registry `output`, never the base's registry.
    let regs = args.registry.registries(env, runner, dests.first().map(|d| d.registry.as_str()))?;
    let built = build_image(&args.recipe, &settings, &regs, env, runner).await?;
    let mut r = report(&built);
    if !dests.is_empty() {
        let tag = built.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        let layout = crate::registry::OciLayout::open(&format!("oci:{}{tag}", built.layout_dir.display()))?;
        let pushed = super::push::push_layout(&regs, &layout, &dests, runner).await?;
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
async fn pull_base(spec: &mut BuildSpec, regs: &Registries, runner: &Runner) -> anyhow::Result<()> {
    let Recipe::Files(FilesRecipe { base: base @ Base::Registry(_), .. }) = &mut spec.recipe else {
        return Ok(());
    };
    let Base::Registry(reference) = base.clone() else { unreachable!("matched above") };
    let layout = Layout::create(&spec.output.dir)?;
    let client = regs.client(&reference.registry).map_err(|source| crate::builder::BuildError::Pull {
        reference: reference.to_string(),
        source: Box::new(source),
    })?;
    let images =
        crate::builder::pull::pull_base(&client, &reference, &spec.platforms, &layout, runner).await?;
    *base = Base::Images(images);
    Ok(())
}

/// Chooses the builder, warns about inputs it ignores, pulls a registry base with `regs`, and
/// builds (on a blocking thread: builds hash and compress); a failed build leaves no new
/// layout directory behind. `publish` builds each service with it.
pub(crate) async fn build_image(
    recipe: &RecipeArgs,
    settings: &BuildSettings,
    regs: &Registries,
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
    let built = async {
        pull_base(&mut spec, regs, runner).await?;
        let log = runner.clone();
        let built = tokio::task::spawn_blocking(move || builder.build(&spec, &log))
            .await
            .context("the build thread failed")??;
        anyhow::Ok(built)
    }
    .await
    .inspect_err(|_| {
        if !existed {
            let _ = std::fs::remove_dir_all(&dir);
        }
    })?;
    runner.info(&format!("built in {:.2?}", started.elapsed()));
    Ok(built)
}

/// Outputs, summary and text of a build; the digest is the last line of the text.
pub(crate) fn report(built: &BuiltImage) -> Report {
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
pub(crate) fn human_size(bytes: u64) -> String {
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
