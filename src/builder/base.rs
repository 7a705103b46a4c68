//! Base images for daemonless builds: layers + config already on disk, from an OCI layout
//! (`--base oci:DIR[:TAG]`, e.g. made by `skopeo copy` or a previous build) or pulled from a
//! registry into the output layout ([`super::pull`]).

use super::layout_writer::Layer;
use super::{BuildError, Platform};
use crate::oci::{self, Descriptor, ImageIndex, ImageManifest};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A base image for one platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseImage {
    /// Its platform.
    pub platform: Platform,
    /// Its image config JSON (`config`, `rootfs`, `history`, …).
    pub config: Value,
    /// Its layers, base first, with the file holding each compressed blob.
    pub layers: Vec<(Layer, PathBuf)>,
    /// Where it came from, when pulled from a registry.
    pub source: Option<BaseSource>,
}

/// A registry base pinned by digest: recorded as the built manifests'
/// `org.opencontainers.image.base.name` / `.base.digest` annotations and the build's outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseSource {
    /// The reference as given, fully qualified (`registry/repository:tag`).
    pub name: String,
    /// `registry/repository` (what a push to the same registry mounts from).
    pub repository: String,
    /// The digest the reference resolved to (of the index, for a multi-platform base).
    pub digest: String,
}

impl BaseSource {
    /// `registry/repository@sha256:…`.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }

    /// The OCI annotations naming the base.
    pub fn annotations(&self) -> std::collections::BTreeMap<String, String> {
        [(oci::BASE_NAME.to_owned(), self.name.clone()), (oci::BASE_DIGEST.to_owned(), self.digest.clone())]
            .into()
    }
}

/// One platform's image from its config and layer descriptors; `blob` says where a digest's
/// file is. An error message when the config does not match the layers.
pub(crate) fn image_from(
    platform: Option<Platform>,
    config: Value,
    layers: Vec<Descriptor>,
    blob: impl Fn(&str) -> PathBuf,
) -> Result<BaseImage, String> {
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(format!("{} layers but {} diff_ids", layers.len(), diff_ids.len()));
    }
    let layers = layers
        .into_iter()
        .zip(diff_ids)
        .map(|(mut descriptor, diff_id)| {
            let path = blob(&descriptor.digest);
            if descriptor.media_type == oci::DOCKER_LAYER_GZIP {
                descriptor.media_type = oci::OCI_LAYER_GZIP.to_owned();
            }
            (Layer { descriptor, diff_id }, path)
        })
        .collect();
    let platform = platform.unwrap_or_else(|| Platform {
        os: config["os"].as_str().unwrap_or("linux").to_owned(),
        arch: config["architecture"].as_str().unwrap_or("amd64").to_owned(),
        variant: config["variant"].as_str().map(str::to_owned),
    });
    Ok(BaseImage { platform, config, layers, source: None })
}

fn malformed(dir: &Path, detail: impl Into<String>) -> BuildError {
    BuildError::Malformed {
        what: "base image layout",
        detail: format!("{}: {}", dir.display(), detail.into()),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, path: &Path) -> Result<T, BuildError> {
    let bytes = std::fs::read(path).map_err(BuildError::io("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|e| malformed(dir, format!("{}: {e}", path.display())))
}

impl BaseImage {
    /// Reads the image named `tag` (or the only one) from the OCI layout `dir`: one entry per
    /// platform of an image index, or the one image of a manifest.
    pub fn from_layout(dir: &Path, tag: Option<&str>) -> Result<Vec<BaseImage>, BuildError> {
        let blob = |d: &str| dir.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
        let index: ImageIndex = read_json(dir, &dir.join("index.json"))?;
        let chosen: Vec<&Descriptor> = match tag {
            Some(t) => index.manifests.iter().filter(|d| d.annotation(oci::REF_NAME) == Some(t)).collect(),
            None => index.manifests.iter().collect(),
        };
        let [top] = chosen.as_slice() else {
            let detail = match tag {
                Some(t) => format!("{} images are named {t}", chosen.len()),
                None => format!("{} images in index.json: name one with oci:DIR:TAG", chosen.len()),
            };
            return Err(malformed(dir, detail));
        };
        let manifests: Vec<Descriptor> =
            if top.media_type.contains("index") || top.media_type.contains("manifest.list") {
                read_json::<ImageIndex>(dir, &blob(&top.digest))?.manifests
            } else {
                vec![(*top).clone()]
            };
        let mut out = Vec::new();
        for m in manifests {
            let manifest: ImageManifest = read_json(dir, &blob(&m.digest))?;
            let config: Value = read_json(dir, &blob(&manifest.config.digest))?;
            out.push(image_from(None, config, manifest.layers, blob).map_err(|e| malformed(dir, e))?);
        }
        Ok(out)
    }
}
