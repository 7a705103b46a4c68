//! Pulling a registry base for the files builder: the manifest of each requested platform
//! (picked from an index), its config, and its layers streamed into the output layout as they
//! are (no recompression), every byte checked against its digest. Blobs the layout already
//! holds are reused, so rebuilding into the same layout downloads nothing.

use super::base::{BaseImage, BaseSource, image_from};
use super::layout_writer::Layout;
use super::{BuildError, Platform};
use crate::oci::{self, Descriptor, ImageIndex, ImageManifest, sha256_digest};
use crate::registry::{RawManifest, Reference};
use crate::registry::{RegistryClient, RegistryError};
use crate::runner::Runner;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use tokio::io::AsyncWriteExt;

/// Configs larger than this are refused (a config is a few KiB).
const MAX_CONFIG: u64 = 4 << 20;
/// Layers downloaded at once.
const CONCURRENCY: usize = 4;

/// True when the index entry `p` serves `want`: same OS and architecture, and the same
/// variant (no variant asked: none, or the architecture's default, `v8` for arm64).
pub(crate) fn platform_matches(p: &oci::Platform, want: &Platform) -> bool {
    if p.os != want.os || p.architecture != want.arch {
        return false;
    }
    match (&want.variant, &p.variant) {
        (Some(w), Some(v)) => w == v,
        (Some(_), None) => false,
        (None, None) => true,
        (None, Some(v)) => (want.arch == "arm64" && v == "v8") || (want.arch == "arm" && v == "v7"),
    }
}

/// The platforms an index offers, for error messages (attestation entries left out).
fn offered(entries: &[Descriptor]) -> String {
    let list: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
}

fn unsupported(reference: &Reference, detail: String) -> BuildError {
    BuildError::Unsupported(format!("the base image {reference} {detail}"))
}

fn malformed(reference: &Reference, detail: String) -> BuildError {
    BuildError::Malformed { what: "base image", detail: format!("{reference}: {detail}") }
}

/// Pulls `reference` for every platform into `layout`'s blobs and returns one base image per
/// platform, in the order asked, each naming its source pinned by digest.
pub(crate) async fn pull_base(
    client: &RegistryClient,
    reference: &Reference,
    platforms: &[Platform],
    layout: &Layout,
    runner: &Runner,
) -> Result<Vec<BaseImage>, BuildError> {
    let repo = reference.repository.as_str();
    let pull_err = |source: RegistryError| BuildError::Pull {
        reference: reference.to_string(),
        source: Box::new(source),
    };
    let root = client.get_manifest(repo, reference.target()).await.map_err(pull_err)?;
    let source =
        BaseSource { name: reference.to_string(), repository: reference.name(), digest: root.digest.clone() };
    let mut chosen: Vec<(Platform, RawManifest)> = Vec::new();
    if root.is_index() {
        let index: ImageIndex = serde_json::from_slice(&root.bytes)
            .map_err(|e| malformed(reference, format!("index {}: {e}", root.digest)))?;
        for p in platforms {
            let Some(entry) = index
                .manifests
                .iter()
                .find(|d| d.platform.as_ref().is_some_and(|dp| platform_matches(dp, p)))
            else {
                return Err(unsupported(
                    reference,
                    format!("has no {p} image (it has: {})", offered(&index.manifests)),
                ));
            };
            let m = client.get_manifest(repo, &entry.digest).await.map_err(pull_err)?;
            if m.is_index() {
                return Err(malformed(reference, format!("{p} entry {} is another index", entry.digest)));
            }
            chosen.push((p.clone(), m));
        }
    } else {
        for p in platforms {
            chosen.push((p.clone(), root.clone()));
        }
    }

    let mut images = Vec::new();
    let mut layers: BTreeMap<String, Descriptor> = BTreeMap::new();
    for (p, m) in chosen {
        let image: ImageManifest = serde_json::from_slice(&m.bytes)
            .map_err(|e| malformed(reference, format!("manifest {}: {e}", m.digest)))?;
        if image.config.size > MAX_CONFIG {
            return Err(malformed(reference, format!("config of {} bytes", image.config.size)));
        }
        let bytes = read_all(client, repo, &image.config.digest).await.map_err(pull_err)?;
        if sha256_digest(&bytes) != image.config.digest {
            return Err(malformed(
                reference,
                format!("config {} does not match its digest", image.config.digest),
            ));
        }
        let config: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| malformed(reference, format!("config {}: {e}", image.config.digest)))?;
        let (os, arch) = (config["os"].as_str().unwrap_or_default(), config["architecture"].as_str());
        if !root.is_index() && (os != p.os || arch != Some(p.arch.as_str())) {
            return Err(unsupported(
                reference,
                format!("is {os}/{} only, not {p}: give `platforms: {os}/{0}`", arch.unwrap_or("?")),
            ));
        }
        for l in &image.layers {
            layers.entry(l.digest.clone()).or_insert_with(|| l.clone());
        }
        let mut base = image_from(Some(p), config, image.layers, |d| layout.blob_path(d))
            .map_err(|e| malformed(reference, format!("manifest {}: {e}", m.digest)))?;
        base.source = Some(source.clone());
        images.push(base);
    }

    let started = std::time::Instant::now();
    let fetched: Vec<u64> = futures::stream::iter(layers.values())
        .map(|d| fetch_blob(client, repo, d, layout))
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await
        .map_err(|e| match e {
            Fetch::Registry(e) => pull_err(e),
            Fetch::Build(e) => e,
        })?;
    let downloaded: u64 = fetched.iter().sum();
    let reused = fetched.iter().filter(|n| **n == 0).count();
    runner.info(&format!(
        "base {} pinned as {}: {} layer(s), {:.1} MiB downloaded ({} already in the layout) in {:.2?}",
        reference,
        source.pinned(),
        layers.len(),
        downloaded as f64 / f64::from(1u32 << 20),
        reused,
        started.elapsed()
    ));
    Ok(images)
}

/// A small blob into memory.
async fn read_all(client: &RegistryClient, repo: &str, digest: &str) -> Result<Vec<u8>, RegistryError> {
    let (_, stream) = client.get_blob(repo, digest).await?;
    stream
        .try_fold(Vec::new(), |mut all, b| async move {
            all.extend_from_slice(&b);
            Ok(all)
        })
        .await
        .map_err(|e| RegistryError::Transport {
            registry: client.registry().to_owned(),
            operation: format!("download blob {digest}"),
            source: e,
        })
}

enum Fetch {
    Registry(RegistryError),
    Build(BuildError),
}

/// Streams one layer into the layout (temporary file, hashed, renamed to its digest);
/// returns the bytes downloaded, 0 when the layout had it.
async fn fetch_blob(
    client: &RegistryClient,
    repo: &str,
    desc: &Descriptor,
    layout: &Layout,
) -> Result<u64, Fetch> {
    let dest = layout.blob_path(&desc.digest);
    if std::fs::metadata(&dest).is_ok_and(|m| m.len() == desc.size) {
        return Ok(0);
    }
    let (_, mut stream) = client.get_blob(repo, &desc.digest).await.map_err(Fetch::Registry)?;
    let tmp = dest.with_file_name(format!(".tmp-{:016x}", rand::random::<u64>()));
    let io = |action: &'static str, path: &std::path::Path| {
        let path = path.to_owned();
        move |source| Fetch::Build(BuildError::Io { action, path, source })
    };
    let mut file = tokio::fs::File::create(&tmp).await.map_err(io("creating", &tmp))?;
    let mut hash = Sha256::new();
    let mut len = 0u64;
    let result: Result<(), Fetch> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Fetch::Registry(RegistryError::Transport {
                    registry: client.registry().to_owned(),
                    operation: format!("download blob {}", desc.digest),
                    source: e,
                })
            })?;
            hash.update(&chunk);
            len += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io("writing", &tmp))?;
        }
        file.flush().await.map_err(io("writing", &tmp))
    }
    .await;
    let actual = format!("sha256:{}", hex::encode(hash.finalize()));
    let checked = result.and_then(|()| {
        if actual != desc.digest || len != desc.size {
            return Err(Fetch::Registry(RegistryError::DigestMismatch {
                registry: client.registry().to_owned(),
                repository: repo.to_owned(),
                what: format!("blob {} ({len} of {} bytes)", desc.digest, desc.size),
                expected: desc.digest.clone(),
                actual,
            }));
        }
        std::fs::rename(&tmp, &dest).map_err(io("writing", &dest))
    });
    if checked.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    checked.map(|()| len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_with_default_variants() {
        let pj = |os: &str, arch: &str, v: Option<&str>| oci::Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: v.map(Into::into),
            extra: Default::default(),
        };
        let p = |s: &str| Platform::parse(s).unwrap();
        assert!(platform_matches(&pj("linux", "amd64", None), &p("linux/amd64")));
        assert!(platform_matches(&pj("linux", "arm64", Some("v8")), &p("linux/arm64")));
        assert!(platform_matches(&pj("linux", "arm", Some("v7")), &p("linux/arm/v7")));
        assert!(!platform_matches(&pj("linux", "arm", Some("v6")), &p("linux/arm/v7")));
        assert!(platform_matches(&pj("linux", "arm", Some("v7")), &p("linux/arm")));
        assert!(!platform_matches(&pj("linux", "arm64", None), &p("linux/amd64")));
        assert!(!platform_matches(&pj("unknown", "unknown", None), &p("linux/amd64")));
        let mut entry = Descriptor::new("", String::new(), 0);
        entry.platform = Some(pj("linux", "arm", Some("v7")));
        let entries = vec![entry];
        assert_eq!(offered(&entries), "linux/arm/v7");
    }
}
