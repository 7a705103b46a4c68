//! `copy`: copy an image (by tag or digest) to other tags, repositories or registries,
//! keeping the manifest bytes (and so the digest) unchanged.

use super::push::{RegistryArgs, destinations, report};
use crate::env::EnvMap;
use crate::registry::Reference;
use crate::registry::transfer::{self, Source};
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use anyhow::Context as _;

/// Arguments of `copy` (and the inputs of `command: copy`).
#[derive(Debug, Clone, clap::Args)]
pub struct CopyArgs {
    /// The image to copy: `registry/repository:tag` or `…@sha256:…`.
    #[arg(value_name = "SRC_REF")]
    pub source: String,
    /// Destinations `registry/repository:tag` (one per line or comma).
    #[arg(value_name = "DST_REF", required = true)]
    pub destinations: Vec<String>,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `copy`.
pub(crate) async fn run(args: &CopyArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let src = Reference::parse(args.source.trim())
        .map_err(|e| InputError::new("source", &args.source, e.to_string()))?;
    let dests = destinations("destinations", &args.destinations)?;
    // The `username`/`password` pair: for the first destination's registry, not the source's.
    let regs = args.registry.registries(env, runner, dests.first().map(|d| d.registry.as_str()))?;
    async {
        let client = regs.client(&src.registry)?;
        let root = client
            .get_manifest(&src.repository, src.target())
            .await
            .with_context(|| format!("reading {src}"))?;
        let source = Source::Registry(&client, &src.repository);
        let graph = if dests.iter().all(|d| d.registry == src.registry && d.repository == src.repository) {
            // A new tag in the same repository: only the root manifest moves.
            transfer::Graph { manifests: vec![root], blobs: Vec::new() }
        } else {
            transfer::graph(source, root).await.with_context(|| format!("reading {src}"))?
        };
        runner.info(&format!("copying {src} ({})", graph.root().digest));
        let reports =
            transfer::send_everywhere(&regs, source, &graph, &dests).await.context("copy failed")?;
        Ok(report("copy", &graph.root().digest, &graph.root().media_type, &dests, &reports))
    }
    .await
}
