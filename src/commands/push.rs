//! `push`: push an OCI image layout (directory or tar) to one or more references.
//! Also holds the registry arguments shared by `push`, `copy` and `inspect`.

use super::registry_auth;
use crate::env::EnvMap;
use crate::registry::transfer::{self, DestinationReport, Source};
use crate::registry::{ClientOptions, Credentials, OciLayout, Reference, Registries};
use crate::runner::{Report, Runner};
use crate::settings::{InputError, split_list};
use anyhow::Context as _;

/// Registry access: credentials and plain-HTTP exceptions (inputs of the same names).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Credentials per registry, one `registry=HOST,username=USER,password=SECRET` per line
    /// (or a docker `config.json`, `{"auths": …}`); each is sent to its own registry only.
    #[arg(long, value_name = "LINE", hide_env_values = true)]
    pub registry_auth: Vec<String>,
    /// The registry the `username`/`password` pair is for (or several, paired by position).
    /// Empty: the command's first destination registry.
    #[arg(long, value_name = "HOST")]
    pub registry: Vec<String>,
    /// User name for `registry` (one, or one per `registry`).
    #[arg(long, value_name = "USER")]
    pub username: Vec<String>,
    /// Password or token for `registry` (one, or one per `registry`). Prefer the action
    /// input or `~/.docker/config.json` to the command line.
    #[arg(long, value_name = "SECRET", hide_env_values = true)]
    pub password: Vec<String>,
    /// Registries (`host:port`) reached over plain HTTP; loopback ones always are.
    #[arg(long, value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Blobs transferred at once per repository.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// Blobs larger than this many bytes are uploaded in chunks of this size (tuning, tests).
    #[arg(long, value_name = "BYTES", hide = true)]
    pub chunk_size: Option<u64>,
}

fn list(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| split_list(v, false)).collect()
}

impl RegistryArgs {
    /// Builds the clients: docker config and runner tokens first, explicit credentials over
    /// them. `first_destination` is the registry the `username`/`password` pair goes to when
    /// `registry` is empty (never a base image's or another destination's). Logs which
    /// registry each credential goes to (host and source only).
    pub fn registries(
        &self,
        env: &EnvMap,
        runner: &Runner,
        first_destination: Option<&str>,
    ) -> Result<Registries, InputError> {
        for p in self.password.iter().flat_map(|v| split_list(v, true)) {
            runner.mask(&p);
        }
        registry_auth::register_secrets(&self.registry_auth);
        runner.announce_masks();
        let explicit = registry_auth::explicit_credentials(
            &registry_auth::Explicit {
                auth: &self.registry_auth,
                registry: &self.registry,
                username: &self.username,
                password: &self.password,
            },
            first_destination,
        )?;
        let credentials = registry_auth::merged(Credentials::from_env(env), explicit);
        runner.announce_masks();
        for (host, source) in credentials.sources() {
            runner.info(&format!("registry credentials for {host}: {source}"));
        }
        let mut opts = ClientOptions {
            credentials,
            insecure: list(&self.insecure_registries),
            concurrency: self.concurrency.clamp(1, 32),
            ..ClientOptions::default()
        };
        if let Some(size) = self.chunk_size {
            opts.monolithic_max = size;
            opts.chunk_size = size;
        }
        Ok(Registries::new(opts))
    }
}

/// Arguments of `push` (and the inputs of `command: push`).
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// The image: `oci:DIR[:NAME]`, `oci-archive:FILE[:NAME]`, or a directory or tar path.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Destinations `registry/repository:tag` (one per line or comma); without a tag the
    /// image is pushed by digest only.
    #[arg(value_name = "REF", required = true)]
    pub destinations: Vec<String>,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Parses destination references; a digest is refused (the content decides it).
pub(crate) fn destinations(input: &str, raw: &[String]) -> Result<Vec<Reference>, InputError> {
    let refs = list(raw)
        .into_iter()
        .map(|r| {
            let parsed = Reference::parse(&r).map_err(|e| InputError::new(input, &r, e.to_string()))?;
            if parsed.digest.is_some() {
                return Err(InputError::new(
                    input,
                    &r,
                    "must not contain a digest: the image's content decides it",
                ));
            }
            Ok(parsed)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if refs.is_empty() {
        return Err(InputError::new(input, "", "needs at least one image reference"));
    }
    Ok(refs)
}

/// Runs `push`.
pub(crate) async fn run(args: &PushArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let dests = destinations("destinations", &args.destinations)?;
    // The `username`/`password` pair: for the first destination's registry.
    let regs = args.registry.registries(env, runner, dests.first().map(|d| d.registry.as_str()))?;
    let layout = OciLayout::open(&args.source).context("reading the image to push")?;
    let pushed = push_layout(&regs, &layout, &dests, runner).await?;
    Ok(report("push", &pushed.digest, &pushed.media_type, &dests, &pushed.destinations))
}

/// An image pushed to its destinations.
#[derive(Clone, Debug)]
pub(crate) struct Pushed {
    /// Digest of the root manifest or index.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// What happened at each destination repository.
    pub destinations: Vec<DestinationReport>,
}

/// Pushes the image of `layout` to every destination (registries in parallel, blobs read once).
/// `publish` pushes each service with it.
pub(crate) async fn push_layout(
    regs: &Registries,
    layout: &OciLayout,
    dests: &[Reference],
    runner: &Runner,
) -> anyhow::Result<Pushed> {
    let graph = transfer::graph(Source::Layout(layout), layout.root.clone()).await?;
    let root = graph.root();
    runner.info(&format!(
        "pushing {} ({} manifests, {} blobs)",
        root.digest,
        graph.manifests.len(),
        graph.blobs.len()
    ));
    let destinations = transfer::send_everywhere(regs, Source::Layout(layout), &graph, dests)
        .await
        .context("push failed")?;
    Ok(Pushed { digest: root.digest.clone(), media_type: root.media_type.clone(), destinations })
}

/// The report of `push` and `copy`: outputs `digest`, `images`; a summary table; the digest last.
pub(crate) fn report(
    verb: &str,
    digest: &str,
    media_type: &str,
    dests: &[Reference],
    reports: &[DestinationReport],
) -> Report {
    let images: Vec<String> = dests.iter().map(|d| format!("{}@{digest}", d.name())).collect::<Vec<_>>();
    let tagged: Vec<String> = dests.iter().map(ToString::to_string).collect();
    let mut r = Report::default();
    r.output("digest", digest);
    r.output("images", tagged.join("\n"));
    r.output("media-type", media_type);
    let mut text = String::new();
    let mut summary = format!(
        "### Image {verb}\n\nDigest: `{digest}`\n\n| Repository | Tags | Uploaded | Mounted | Existing | Bytes uploaded |\n|---|---|---|---|---|---|\n"
    );
    for d in reports {
        let tags = d.tags.join(", ");
        text.push_str(&format!(
            "{} {} [{}]: {} uploaded, {} mounted, {} existing\n",
            verb, d.repository, tags, d.uploaded, d.mounted, d.existing
        ));
        summary.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            super::tags::md_cell(&d.repository),
            super::tags::md_cell(&tags),
            d.uploaded,
            d.mounted,
            d.existing,
            d.bytes_uploaded
        ));
    }
    text.push_str(digest);
    r.text = text;
    r.summary = summary;
    r.json = serde_json::json!({
        "digest": digest,
        "mediaType": media_type,
        "images": tagged,
        "pinned": images,
        "destinations": reports,
    });
    r
}
