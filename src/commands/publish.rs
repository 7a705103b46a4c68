//! `publish`: tags → build → push → (optional) dispatch in one step, for one service (from the
//! build inputs) or many (the `services` input or file), built and pushed in parallel.

use super::build::{RecipeArgs, build_image, pairs};
use super::dispatch::DispatchTarget;
use super::push::{RegistryArgs, destinations, push_layout};
use super::tags::TagRulesArgs;
use crate::builder::LayoutTarget;
use crate::context::RunContext;
use crate::env::{EnvMap, vars};
use crate::publish::changes::{self, ChangeSet};
use crate::publish::services::{self, ServiceSpec};
use crate::publish::{Published, dispatch_inputs, services_json, summary, tag_inputs};
use crate::registry::{OciLayout, Reference, Registries};
use crate::runner::{Report, Runner};
use crate::settings::{InputError, split_list};
use crate::tags::{TagsOptions, compute};
use anyhow::{Context as _, bail};
use futures::StreamExt;
use std::path::{Path, PathBuf};

/// Arguments of `publish` (and the inputs of `command: publish`). The run context comes from
/// `GITHUB_*` also on the command line: `--ref` is the dispatch's ref.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// Tag rules and labels (as `tags`); `images` are the single service's images.
    #[command(flatten)]
    pub tags: TagRulesArgs,
    /// The build (as `build`); with `services`, the defaults every service line overrides.
    #[command(flatten)]
    pub build: RecipeArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Workflow to dispatch after pushing (`deploy.yml`) with `<service>_image_tag` inputs;
    /// empty: no dispatch.
    #[arg(long, value_name = "FILE")]
    pub workflow: Option<String>,
    /// Where and how to dispatch.
    #[command(flatten)]
    pub dispatch: DispatchTarget,
    /// Name of the single service (default: the last path segment of the first image).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Services, one per line: `NAME images=REF[,REF] [context=DIR] [file=DOCKERFILE]
    /// [add=SRC:DST] [target=STAGE] [builder=B] [entrypoint=…] [cmd=…]`.
    #[arg(long, value_name = "LINES")]
    pub services: Option<String>,
    /// A workspace file holding `services` lines.
    #[arg(long, value_name = "FILE")]
    pub services_file: Option<String>,
    /// Services built and pushed at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub parallel: usize,
    /// Only services whose paths changed between the push's `before` and `after`.
    #[arg(long)]
    pub changed_only: bool,
}

/// One service, validated: what to build, where to push.
struct Job {
    spec: ServiceSpec,
    recipe: RecipeArgs,
    settings: crate::commands::build::BuildSettings,
    version: String,
    /// The environment of the first matching `environments` line, or empty.
    environment: String,
    dests: Vec<Reference>,
}

/// `path` under `workspace` unless absolute.
fn in_workspace(workspace: &Path, path: &str) -> String {
    if Path::new(path).is_absolute() { path.to_owned() } else { workspace.join(path).display().to_string() }
}

impl PublishArgs {
    /// The services: from `services`/`services-file`, or the single one of the build inputs.
    fn specs(&self, ws: &Path) -> Result<Vec<ServiceSpec>, InputError> {
        let lines = match (&self.services, &self.services_file) {
            (Some(s), _) if !s.trim().is_empty() => Some(("services", s.clone())),
            (_, Some(f)) if !f.trim().is_empty() => {
                let path = in_workspace(ws, f.trim());
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| InputError::new("services-file", f, format!("cannot be read: {e}")))?;
                Some(("services-file", text))
            }
            _ => None,
        };
        if let Some((input, text)) = lines {
            return services::parse(input, &text);
        }
        let images: Vec<String> = self.tags.images.iter().flat_map(|i| split_list(i, true)).collect();
        let Some(first) = images.first() else {
            return Err(InputError::new(
                "images",
                "",
                "needs at least one image to push (or give `services`)",
            ));
        };
        let name = self
            .service
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| services::name_from_image(first));
        if !services::valid_name(&name) {
            return Err(InputError::new(
                "service",
                name,
                "must be [a-z0-9][a-z0-9_-]* (at most 63 characters)",
            ));
        }
        let b = &self.build;
        Ok(vec![ServiceSpec {
            name,
            images,
            context: b.context.clone(),
            file: b.file.clone(),
            add: b.add.iter().flat_map(|a| split_list(a, false)).collect(),
            ..Default::default()
        }])
    }

    /// The step's build inputs with a service line's overrides (paths in the workspace).
    fn recipe(&self, spec: &ServiceSpec, ws: &Path, single: bool) -> RecipeArgs {
        let mut r = self.build.clone();
        if single {
            return r;
        }
        let path = |p: &Option<String>| p.as_deref().map(|p| in_workspace(ws, p));
        r.context = path(&spec.context).or(r.context);
        r.file = path(&spec.file).or(r.file);
        if !spec.add.is_empty() {
            r.add = spec
                .add
                .iter()
                .map(|a| match a.split_once(':') {
                    Some((src, dst)) => format!("{}:{dst}", in_workspace(ws, src)),
                    None => a.clone(),
                })
                .collect();
        }
        for (field, value) in
            [(&mut r.target, &spec.target), (&mut r.entrypoint, &spec.entrypoint), (&mut r.cmd, &spec.cmd)]
        {
            if value.is_some() {
                field.clone_from(value);
            }
        }
        if let Some(b) = spec.builder {
            r.builder = b;
        }
        r
    }

    /// Validates a service: tags for its images, its build settings (layout under `tmp`).
    fn job(
        &self,
        spec: ServiceSpec,
        ctx: &RunContext,
        opts: &TagsOptions,
        tmp: &Path,
        single: bool,
        env: &EnvMap,
    ) -> Result<Job, InputError> {
        let mut input = self.tags.input();
        input.images = spec.images.join("\n");
        let meta = compute(&input, ctx, opts)?;
        if meta.tags.is_empty() || meta.version.is_empty() {
            return Err(InputError::new(
                "tags",
                self.tags.tags.join("\n"),
                format!("give no tag for this {} of {}: nothing to publish", ctx.event_name, ctx.git_ref),
            ));
        }
        let labels = pairs("labels", &meta.labels)?.into_iter().collect();
        let recipe = self.recipe(&spec, &ctx.workspace, single);
        let output = LayoutTarget { dir: tmp.join(&spec.name), tag: None };
        let settings = recipe.settings(labels, output, env)?;
        let dests = destinations("images", &meta.tags)?;
        Ok(Job { spec, recipe, settings, version: meta.version, environment: meta.environment, dests })
    }
}

/// Builds and pushes one service; a failed build pushes nothing.
async fn publish_one(
    job: &Job,
    regs: &Registries,
    env: &EnvMap,
    runner: &Runner,
) -> anyhow::Result<Published> {
    let name = &job.spec.name;
    runner.info(&format!("{name}: building"));
    let built = build_image(&job.recipe, &job.settings, regs, env, runner).await.context("build failed")?;
    runner.info(&format!(
        "{name}: built {} ({}), pushing to {} references",
        built.digest,
        built.builder,
        job.dests.len()
    ));
    let layout =
        OciLayout::open(&built.layout_dir.display().to_string()).context("reading the built image")?;
    let pushed = push_layout(regs, &layout, &job.dests, runner).await?;
    Ok(Published {
        name: name.clone(),
        version: job.version.clone(),
        tags: job.dests.iter().map(ToString::to_string).collect(),
        digest: pushed.digest,
        size: built.size,
    })
}

/// Keeps the jobs whose paths this push changed, logging why.
fn changed_jobs(jobs: Vec<Job>, ctx: &RunContext, runner: &Runner) -> (Vec<Job>, Vec<String>) {
    match changes::detect(&ctx.event_name, &ctx.event, &ctx.workspace) {
        ChangeSet::All(why) => {
            runner.info(&format!("changed-only: building every service: {why}"));
            (jobs, Vec::new())
        }
        ChangeSet::Paths { paths, source } => {
            runner.info(&format!("changed-only: {} files changed (from {source})", paths.len()));
            let (keep, skip): (Vec<Job>, Vec<Job>) =
                jobs.into_iter().partition(|j| services::touches(&j.spec.watched(), &paths));
            (keep, skip.into_iter().map(|j| j.spec.name).collect())
        }
    }
}

/// Runs `publish`.
pub(crate) async fn run(args: &PublishArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    let mut ctx = RunContext::from_env(env)?;
    if ctx.event_name.is_empty() {
        ctx.event_name = "push".to_owned();
    }
    let opts = TagsOptions::from_env(env)?;
    let specs = args.specs(&ctx.workspace)?;
    let single = args.services.as_deref().unwrap_or_default().trim().is_empty()
        && args.services_file.as_deref().unwrap_or_default().trim().is_empty();
    let tmp_root = env.non_empty(vars::RUNNER_TEMP).map_or_else(std::env::temp_dir, PathBuf::from);
    let tmp = tempfile::Builder::new()
        .prefix("deploy-action-publish-")
        .tempdir_in(&tmp_root)
        .with_context(|| format!("creating a temporary directory in {}", tmp_root.display()))?;
    let jobs = specs
        .into_iter()
        .map(|s| args.job(s, &ctx, &opts, tmp.path(), single, env))
        .collect::<Result<Vec<_>, _>>()?;
    if !single {
        for (name, set) in [("images", !args.tags.images.is_empty()), ("service", args.service.is_some())] {
            if set {
                runner.warning(&format!("input `{name}` is ignored: the `services` lines name the services"));
            }
        }
    }
    // Every service shares the tag rules, so they share the environment.
    let environment = jobs.first().map(|j| j.environment.clone()).unwrap_or_default();
    let has_env_rules = args.tags.environments.iter().any(|e| !e.trim().is_empty());
    let mut workflow = args.workflow.as_deref().map(str::trim).filter(|w| !w.is_empty());
    if let Some(w) = workflow {
        // Repository, inputs and token are checked before anything is built.
        let tags = tag_inputs(jobs.iter().map(|j| (j.spec.name.as_str(), j.version.as_str())));
        let req = args.dispatch.request_for(w, tags, &environment, &ctx)?;
        // With a GitHub App this mints a token: an App not installed fails before the build.
        args.dispatch
            .forge
            .connect(&ctx, env, runner, &req.repo, crate::forge::app::Access::Dispatch)
            .await?;
        if has_env_rules && environment.is_empty() {
            runner.info(&format!(
                "{} matches no `environments` line: the images are built and pushed, `{w}` is not dispatched",
                ctx.git_ref
            ));
            workflow = None;
        }
    }
    // The `username`/`password` pair: for the first service's first destination registry.
    let first = jobs.iter().flat_map(|j| j.dests.first()).next().map(|d| d.registry.as_str());
    let regs = args.registry.registries(env, runner, first)?;
    let (jobs, skipped) =
        if args.changed_only { changed_jobs(jobs, &ctx, runner) } else { (jobs, Vec::new()) };

    // Services built at once log into their own buffers, each printed as one group when it
    // ends, so their lines do not interleave.
    let parallel = args.parallel.clamp(1, 16);
    let grouped = parallel > 1 && jobs.len() > 1;
    let regs = &regs;
    let results: Vec<anyhow::Result<Published>> = futures::stream::iter(&jobs)
        .map(|j| async move {
            if !grouped {
                return publish_one(j, regs, env, runner).await;
            }
            let log = runner.buffered();
            let result = publish_one(j, regs, env, &log).await;
            let outcome = if result.is_ok() { "published" } else { "failed" };
            log.flush_group(&format!("{} ({outcome})", j.spec.name));
            result
        })
        .buffered(parallel)
        .collect()
        .await;
    let mut published = Vec::new();
    let mut failed = Vec::new();
    for (job, r) in jobs.iter().zip(results) {
        match r {
            Ok(p) => published.push(p),
            Err(e) => failed.push((job.spec.name.clone(), format!("{e:#}"))),
        }
    }
    if !failed.is_empty() {
        let _ = runner.append_summary(&summary(&published, &skipped, &failed));
        let why: Vec<String> = failed.iter().map(|(n, e)| format!("service {n}: {e}")).collect();
        let ok: Vec<String> = published.iter().map(|p| format!("{} ({})", p.name, p.digest)).collect();
        let ok = if ok.is_empty() { String::new() } else { format!("; published: {}", ok.join(", ")) };
        bail!("{}{ok}; nothing was dispatched", why.join("; "));
    }
    let mut r = report(&published, &args.tags.sep_tags, single);
    r.output("environment", environment.clone());
    r.summary = summary(&published, &skipped, &failed);
    match workflow {
        Some(w) if !published.is_empty() => {
            let req = args.dispatch.request_for(w, dispatch_inputs(&published), &environment, &ctx)?;
            let out = args.dispatch.send(&req, &ctx, env, runner).await?;
            super::dispatch::outcome_outputs(&out, &mut r);
            let run = if out.url.is_empty() { out.state.clone() } else { out.url.clone() };
            r.summary.push_str(&format!(
                "\nDispatched `{w}` on `{}` at `{}`: {run}\n",
                req.repo, req.dispatch.git_ref
            ));
        }
        Some(_) => runner.info("no service changed: nothing to dispatch"),
        None => {}
    }
    runner.info(&format!("published {} services in {:.2?}", published.len(), started.elapsed()));
    Ok(r)
}

/// Outputs (`digest` and `images` of a single service, `<name>-digest`, `<name>-tag`, `tags`,
/// `version`, `services`) and CLI text (the digest last for one service).
fn report(published: &[Published], sep_tags: &str, single: bool) -> Report {
    let mut r = Report::default();
    let all_tags: Vec<String> = published.iter().flat_map(|p| p.tags.clone()).collect();
    let version = published.first().map(|p| p.version.clone()).unwrap_or_default();
    if single && let Some(p) = published.first() {
        r.output("digest", p.digest.clone());
    }
    r.output("version", version);
    r.output("tags", all_tags.join(sep_tags));
    r.output("images", all_tags.join("\n"));
    for p in published {
        r.output(&format!("{}-digest", p.name), p.digest.clone());
        r.output(&format!("{}-tag", p.name), p.version.clone());
    }
    let json = services_json(published);
    r.output("services", json.to_string());
    let mut text: String =
        published.iter().map(|p| format!("{} {} {}\n", p.name, p.version, p.digest)).collect();
    if single && let Some(p) = published.first() {
        text.push_str(&p.digest);
    }
    r.text = text;
    r.json = serde_json::json!({ "services": json, "published": published });
    r
}
