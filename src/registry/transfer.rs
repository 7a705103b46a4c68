//! Moving images: push an OCI layout, or copy an image between repositories and registries.
//! Order per destination: blobs (in parallel, bounded), child manifests, the root by digest,
//! then tags; so a tag never points at content the registry does not have.

use super::blob::BlobOutcome;
use super::client::{Registries, RegistryClient};
use super::error::RegistryError;
use super::layout_source::OciLayout;
use super::manifest::RawManifest;
use super::reference::Reference;
use crate::oci::{self, Descriptor};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Where an image's content comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// An OCI layout on disk.
    Layout(&'a OciLayout),
    /// A repository of a registry.
    Registry(&'a RegistryClient, &'a str),
}

/// An image's manifests (children first, root last) and its distinct blobs.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Child manifests of an index, then the root.
    pub manifests: Vec<RawManifest>,
    /// Config and layer blobs, each once.
    pub blobs: Vec<Descriptor>,
}

impl Graph {
    /// The root manifest (image or index).
    pub fn root(&self) -> &RawManifest {
        self.manifests.last().expect("a graph has a root")
    }
}

/// What happened at one destination repository.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DestinationReport {
    /// `registry/repository`.
    pub repository: String,
    /// Tags set to the image.
    pub tags: Vec<String>,
    /// Blobs that were there already.
    pub existing: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Blobs uploaded (or streamed from another registry).
    pub uploaded: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
}

async fn manifest_of(source: Source<'_>, desc: &Descriptor) -> Result<RawManifest, RegistryError> {
    match source {
        Source::Layout(l) => l.read_manifest(desc),
        Source::Registry(c, repo) => c.get_manifest(repo, &desc.digest).await,
    }
}

/// Collects the graph under `root`: an index's children (one level) and every blob.
pub async fn graph(source: Source<'_>, root: RawManifest) -> Result<Graph, RegistryError> {
    let malformed = |m: &RawManifest, reason: String| match source {
        Source::Layout(l) => {
            RegistryError::Layout { path: l.path.clone(), reason: format!("manifest {}: {reason}", m.digest) }
        }
        Source::Registry(c, repo) => RegistryError::Manifest {
            registry: c.registry().to_owned(),
            repository: repo.to_owned(),
            reference: m.digest.clone(),
            reason,
        },
    };
    let children = root.children().map_err(|e| malformed(&root, e))?;
    let mut manifests = Vec::new();
    let mut blobs = children.blobs;
    for desc in &children.manifests {
        let child = manifest_of(source, desc).await?;
        blobs.extend(child.children().map_err(|e| malformed(&child, e))?.blobs);
        manifests.push(child);
    }
    manifests.push(root);
    let mut seen = HashSet::new();
    blobs.retain(|b| seen.insert(b.digest.clone()));
    Ok(Graph { manifests, blobs })
}

/// The repositories (per registry) the image's manifests name as their base
/// (`org.opencontainers.image.base.name`): where a push can mount the base's layers from.
pub fn base_repositories(graph: &Graph) -> BTreeMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Annotated {
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    graph
        .manifests
        .iter()
        .filter_map(|m| serde_json::from_slice::<Annotated>(&m.bytes).ok())
        .filter_map(|a| a.annotations.get(oci::BASE_NAME).cloned())
        .filter_map(|name| Reference::parse(&name).ok())
        .map(|r| (r.registry, r.repository))
        .collect()
}

/// Existence checks run this many at once: they are cheap, and a warm push is mostly them.
const CHECK_CONCURRENCY: usize = 16;

/// Sends one missing blob to `dst/repo`: mounted when `mount_from` (same registry) has it,
/// else uploaded from disk or streamed from the source registry.
async fn send_blob(
    regs: &Registries,
    source: Source<'_>,
    dst: &RegistryClient,
    repo: &str,
    mount_from: Option<&str>,
    blob: &Descriptor,
) -> Result<BlobOutcome, RegistryError> {
    if let Some(from) = mount_from
        && from != repo
        && dst.mount_blob(repo, &blob.digest, from).await?
    {
        return Ok(BlobOutcome::Mounted);
    }
    let opts = regs.options();
    match source {
        Source::Layout(l) => {
            dst.upload_blob(repo, &blob.digest, &l.blob(&blob.digest)?, opts.monolithic_max, opts.chunk_size)
                .await?
        }
        Source::Registry(src, src_repo) => dst.copy_blob_from(src, src_repo, repo, &blob.digest).await?,
    }
    Ok(BlobOutcome::Uploaded)
}

/// Sends the graph to one repository and sets `tags` last.
pub async fn send_graph(
    regs: &Registries,
    source: Source<'_>,
    graph: &Graph,
    dst: &RegistryClient,
    repo: &str,
    tags: &[String],
    mount_from: Option<&str>,
) -> Result<DestinationReport, RegistryError> {
    let mut report = DestinationReport {
        repository: format!("{}/{repo}", dst.registry()),
        tags: tags.to_vec(),
        ..Default::default()
    };
    let same_repo = matches!(source, Source::Registry(c, r) if c.registry() == dst.registry() && r == repo);
    if !same_repo {
        let present: Vec<bool> = futures::stream::iter(graph.blobs.iter())
            .map(|b| async move { dst.blob_exists(repo, &b.digest).await.map(|s| s.is_some()) })
            .buffered(CHECK_CONCURRENCY)
            .try_collect()
            .await?;
        report.existing = present.iter().filter(|p| **p).count();
        let missing = graph.blobs.iter().zip(present).filter(|(_, p)| !p).map(|(b, _)| b);
        let outcomes: Vec<(BlobOutcome, u64)> =
            futures::stream::iter(missing)
                .map(|b| async move {
                    send_blob(regs, source, dst, repo, mount_from, b).await.map(|o| (o, b.size))
                })
                .buffer_unordered(regs.options().concurrency.max(1))
                .try_collect()
                .await?;
        for (o, size) in outcomes {
            match o {
                BlobOutcome::Exists => report.existing += 1,
                BlobOutcome::Mounted => report.mounted += 1,
                BlobOutcome::Uploaded => {
                    report.uploaded += 1;
                    report.bytes_uploaded += size;
                }
            }
        }
        // Children by digest; the root by digest only when no tag will carry it.
        let children = graph.manifests.len() - usize::from(!tags.is_empty());
        for m in &graph.manifests[..children] {
            dst.put_manifest(repo, &m.digest, m).await?;
        }
    }
    let root = graph.root();
    if tags.is_empty() && same_repo {
        return Ok(report);
    }
    for tag in tags {
        dst.put_manifest(repo, tag, root).await?;
    }
    Ok(report)
}

/// Sends an image to every destination: repositories of one registry one after the other
/// (later ones mount from the first, or from the source when it is on that registry),
/// registries in parallel. Destinations without a tag get the image by digest only.
pub async fn send_everywhere(
    regs: &Registries,
    source: Source<'_>,
    graph: &Graph,
    destinations: &[Reference],
) -> Result<Vec<DestinationReport>, RegistryError> {
    let mut by_registry: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for d in destinations {
        let tags =
            by_registry.entry(d.registry.clone()).or_default().entry(d.repository.clone()).or_default();
        if let Some(t) = &d.tag
            && !tags.contains(t)
        {
            tags.push(t.clone());
        }
    }
    // Several registries from disk: blobs missing in more than one are read once for all.
    let primed = match source {
        Source::Layout(layout) if by_registry.len() > 1 => {
            let firsts: Vec<(String, String)> = by_registry
                .iter()
                .filter_map(|(reg, repos)| repos.keys().next().map(|r| (reg.clone(), r.clone())))
                .collect();
            super::fanout::prime_registries(regs, layout, &graph.blobs, &firsts).await?
        }
        _ => Default::default(),
    };
    let primed = &primed;
    let bases = match source {
        Source::Layout(_) => base_repositories(graph),
        Source::Registry(..) => BTreeMap::new(),
    };
    let bases = &bases;
    let jobs = by_registry.into_iter().map(|(registry, repos)| async move {
        let dst: Arc<RegistryClient> = regs.client(&registry)?;
        // A layout built on a base from this registry: its layers are mounted from there.
        let mut mount_from = match source {
            Source::Registry(c, r) if c.registry() == registry => Some(r.to_owned()),
            _ => bases.get(&registry).cloned(),
        };
        let source_here = matches!(source, Source::Registry(c, _) if c.registry() == registry);
        let mut reports = Vec::new();
        for (i, (repo, tags)) in repos.into_iter().enumerate() {
            let mut report =
                send_graph(regs, source, graph, &dst, &repo, &tags, mount_from.as_deref()).await?;
            if i == 0
                && !source_here
                && let Some(&(n, bytes)) = primed.get(&registry)
            {
                // Uploaded by the shared read just before: count them as uploads here.
                report.existing -= n.min(report.existing);
                report.uploaded += n;
                report.bytes_uploaded += bytes;
            }
            reports.push(report);
            if i == 0 && !source_here {
                // The first repository now has every blob: later ones mount from it.
                mount_from = Some(repo);
            }
        }
        Ok::<_, RegistryError>(reports)
    });
    let results = futures::future::join_all(jobs).await;
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_annotations_name_the_repositories_to_mount_from() {
        let m = |json: &str| RawManifest::new(bytes::Bytes::from(json.to_owned()), None);
        let graph = Graph {
            manifests: vec![
                m(
                    r#"{"schemaVersion":2,"layers":[],"annotations":{"org.opencontainers.image.base.name":"127.0.0.1:5000/base/busybox:1"}}"#,
                ),
                m(r#"{"schemaVersion":2,"layers":[]}"#),
                m(
                    r#"{"schemaVersion":2,"layers":[],"annotations":{"org.opencontainers.image.base.name":"not a reference"}}"#,
                ),
            ],
            blobs: Vec::new(),
        };
        let bases = base_repositories(&graph);
        assert_eq!(
            bases.into_iter().collect::<Vec<_>>(),
            [("127.0.0.1:5000".to_owned(), "base/busybox".to_owned())]
        );
    }
}
