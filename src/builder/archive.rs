//! A docker-archive stream (`GET /images/{id}/get`, `docker save`) into an OCI layout: layers
//! (uncompressed tars) are spooled to disk, gzipped in parallel, checked against the config's
//! `diff_ids`; the config is kept byte for byte (its digest stays the image id).

use super::layout_writer::{Layer, Layout};
use super::{BuildError, BuiltImage, LayoutTarget, Platform, parallel_map};
use crate::oci::{self, ImageManifest};
use crate::runner::Runner;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn malformed(detail: impl Into<String>) -> BuildError {
    BuildError::Malformed { what: "docker image archive", detail: detail.into() }
}

/// The one image of `manifest.json` that matters here.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    layers: Vec<String>,
}

/// Joins a symlink target to the directory of the entry holding it (archive-relative).
fn resolve(entry: &str, target: &str) -> String {
    let mut parts: Vec<&str> = entry.split('/').collect();
    parts.pop();
    for p in target.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Reads the archive from `stream` and writes its image into `target`.
pub(crate) fn to_layout(
    stream: impl Read,
    target: &LayoutTarget,
    runner: &Runner,
) -> Result<BuiltImage, BuildError> {
    let layout = Layout::create(&target.dir)?;
    let spool = TempDir(target.dir.join(format!(".spool-{:016x}", rand::random::<u64>())));
    std::fs::create_dir_all(&spool.0).map_err(BuildError::io("creating", &spool.0))?;
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(|e| malformed(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| malformed(e.to_string()))?;
        let name = entry.path().map_err(|e| malformed(e.to_string()))?.to_string_lossy().into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                links.insert(name.clone(), resolve(&name, &target));
            }
            tar::EntryType::Regular if name.ends_with(".json") => {
                let mut buf = Vec::new();
                entry.by_ref().take(64 << 20).read_to_end(&mut buf).map_err(|e| malformed(e.to_string()))?;
                small.insert(name, buf);
            }
            tar::EntryType::Regular => {
                let path = spool.0.join(format!("{}", files.len()));
                let mut f = std::fs::File::create(&path).map_err(BuildError::io("creating", &path))?;
                std::io::copy(&mut entry, &mut f).map_err(BuildError::io("writing", &path))?;
                files.insert(name, path);
            }
            _ => {}
        }
    }
    let lookup = |name: &str| -> Option<String> {
        let mut n = name.to_owned();
        for _ in 0..8 {
            match links.get(&n) {
                Some(t) => n = t.clone(),
                None => return Some(n),
            }
        }
        None
    };
    let manifest = small.get("manifest.json").ok_or_else(|| malformed("no manifest.json"))?;
    let mut manifests: Vec<ArchiveManifest> =
        serde_json::from_slice(manifest).map_err(|e| malformed(format!("manifest.json: {e}")))?;
    if manifests.len() != 1 {
        return Err(malformed(format!("{} images in manifest.json, expected 1", manifests.len())));
    }
    let m = manifests.remove(0);
    let config_name = lookup(&m.config).unwrap_or_default();
    let config_bytes = match small.get(&config_name) {
        Some(b) => b.clone(),
        None => {
            let p = files.get(&config_name).ok_or_else(|| malformed(format!("no config {}", m.config)))?;
            std::fs::read(p).map_err(BuildError::io("reading", p))?
        }
    };
    let config: serde_json::Value =
        serde_json::from_slice(&config_bytes).map_err(|e| malformed(format!("config: {e}")))?;
    let layer_files: Vec<PathBuf> = m
        .layers
        .iter()
        .map(|l| {
            lookup(l).and_then(|n| files.get(&n).cloned()).ok_or_else(|| malformed(format!("no layer {l}")))
        })
        .collect::<Result<_, _>>()?;
    let started = std::time::Instant::now();
    let layers = parallel_map(&layer_files, |p| compress(&layout, p))
        .into_iter()
        .collect::<Result<Vec<Layer>, _>>()?;
    runner.info(&format!("{} layer(s) gzipped in {:.2?}", layers.len(), started.elapsed()));
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let ours: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    if diff_ids != ours {
        return Err(malformed(format!(
            "layer digests {ours:?} differ from the config's diff_ids {diff_ids:?}"
        )));
    }
    let platform = Platform {
        os: config["os"].as_str().unwrap_or("linux").to_owned(),
        arch: config["architecture"].as_str().unwrap_or("amd64").to_owned(),
        variant: config["variant"].as_str().map(str::to_owned),
    };
    let config_desc = layout.write_blob(oci::OCI_CONFIG, &config_bytes)?;
    let size = config_desc.size + layers.iter().map(|l| l.descriptor.size).sum::<u64>();
    let manifest =
        ImageManifest::new(config_desc, layers.iter().map(|l| l.descriptor.clone()).collect(), None);
    let mut desc = layout.write_json(oci::OCI_MANIFEST, &manifest)?;
    desc.platform = Some((&platform).into());
    layout.set_index(desc.clone(), target.tag.as_deref())?;
    Ok(BuiltImage {
        builder: String::new(),
        layout_dir: layout.dir().to_owned(),
        tag: target.tag.clone(),
        digest: desc.digest,
        media_type: desc.media_type,
        platforms: vec![platform],
        size,
        image_id: None,
        base: None,
    })
}

fn compress(layout: &Layout, path: &Path) -> Result<Layer, BuildError> {
    let mut sink = layout.layer_sink()?;
    let mut f = std::fs::File::open(path).map_err(BuildError::io("reading", path))?;
    std::io::copy(&mut f, &mut sink).map_err(BuildError::io("compressing", path))?;
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_archive() {
        assert_eq!(resolve("abc/layer.tar", "../blobs/sha256/ff"), "blobs/sha256/ff");
        assert_eq!(resolve("abc/layer.tar", "./x"), "abc/x");
    }

    #[test]
    fn an_archive_becomes_a_layout_with_the_same_config() {
        let mut layer = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        layer.append_data(&mut h, "hi", &b"hi"[..]).unwrap();
        let layer = layer.into_inner().unwrap();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [oci::sha256_digest(&layer)]}
        }))
        .unwrap();
        let manifest = br#"[{"Config":"c.json","RepoTags":null,"Layers":["l1/layer.tar"]}]"#;
        let mut a = tar::Builder::new(Vec::new());
        for (name, data) in
            [("c.json", &config[..]), ("l1/layer.tar", &layer[..]), ("manifest.json", &manifest[..])]
        {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            a.append_data(&mut h, name, data).unwrap();
        }
        let d = tempfile::tempdir().unwrap();
        let target = LayoutTarget { dir: d.path().join("out"), tag: Some("t".into()) };
        let built = to_layout(&a.into_inner().unwrap()[..], &target, &Runner::cli()).unwrap();
        assert_eq!(built.platforms[0].to_string(), "linux/arm64");
        let m: ImageManifest = serde_json::from_slice(
            &std::fs::read(target.dir.join("blobs/sha256").join(&built.digest[7..])).unwrap(),
        )
        .unwrap();
        assert_eq!(m.config.digest, oci::sha256_digest(&config));
        assert_eq!(std::fs::read_dir(&target.dir).unwrap().count(), 3, "no spool left behind");
    }
}
