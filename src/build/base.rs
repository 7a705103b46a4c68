//! Base images for daemonless builds: layers + config already on disk. Today they come from
//! an OCI layout (`--base oci:DIR[:TAG]`, e.g. made by `skopeo copy` or a previous build);
//! the registry client will pull into a layout and hand it over the same way.

use super::layout::{self, Descriptor, Index, Layer, Manifest};
use super::{BuildError, Platform};
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
        let index: Index = read_json(dir, &dir.join("index.json"))?;
        let name = |d: &Descriptor| d.annotations.as_ref().and_then(|a| a.get(layout::REF_NAME)).cloned();
        let chosen: Vec<&Descriptor> = match tag {
            Some(t) => index.manifests.iter().filter(|d| name(d).as_deref() == Some(t)).collect(),
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
                read_json::<Index>(dir, &blob(&top.digest))?.manifests
            } else {
                vec![(*top).clone()]
            };
        let mut out = Vec::new();
        for m in manifests {
            let manifest: Manifest = read_json(dir, &blob(&m.digest))?;
            let config: Value = read_json(dir, &blob(&manifest.config.digest))?;
            let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if diff_ids.len() != manifest.layers.len() {
                return Err(malformed(
                    dir,
                    format!("{} layers but {} diff_ids", manifest.layers.len(), diff_ids.len()),
                ));
            }
            let layers = manifest
                .layers
                .into_iter()
                .zip(diff_ids)
                .map(|(mut descriptor, diff_id)| {
                    let path = blob(&descriptor.digest);
                    // Docker's gzip layer type names the same bytes as OCI's.
                    if descriptor.media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip" {
                        descriptor.media_type = layout::LAYER_GZIP.to_owned();
                    }
                    (Layer { descriptor, diff_id }, path)
                })
                .collect();
            let platform = Platform {
                os: config["os"].as_str().unwrap_or("linux").to_owned(),
                arch: config["architecture"].as_str().unwrap_or("amd64").to_owned(),
                variant: config["variant"].as_str().map(str::to_owned),
            };
            out.push(BaseImage { platform, config, layers });
        }
        Ok(out)
    }
}
