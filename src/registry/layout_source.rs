//! OCI image layouts (a directory, or a tar of one) as written by `docker buildx build
//! --output type=oci` and `skopeo copy … oci:`: the root manifest and where each blob is on disk.

use super::blob::BlobSource;
use super::error::RegistryError;
use super::manifest::RawManifest;
use crate::oci::{Descriptor, ImageIndex, REF_NAME};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Manifests are read into memory; anything larger is refused.
const MAX_MANIFEST: u64 = 4 << 20;

/// An opened layout: its root manifest (image or index) and its blobs.
#[derive(Debug)]
pub struct OciLayout {
    /// Directory or tar file.
    pub path: PathBuf,
    /// The selected image's manifest or index.
    pub root: RawManifest,
    /// Tar entries by path (`blobs/sha256/<hex>`); empty for a directory.
    tar_entries: Option<HashMap<String, (u64, u64)>>,
}

impl OciLayout {
    /// Opens `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]` or a bare path (directory or tar).
    pub fn open(spec: &str) -> Result<Self, RegistryError> {
        let raw = spec.strip_prefix("oci-archive:").or_else(|| spec.strip_prefix("oci:")).unwrap_or(spec);
        let (path, tag) = if Path::new(raw).exists() {
            (PathBuf::from(raw), None)
        } else {
            match raw.rsplit_once(':') {
                Some((p, t)) if !t.contains('/') && Path::new(p).exists() => {
                    (PathBuf::from(p), Some(t.to_owned()))
                }
                _ => return Err(RegistryError::Layout { path: raw.into(), reason: "does not exist".into() }),
            }
        };
        let tar_entries = if path.is_dir() { None } else { Some(index_tar(&path)?) };
        let mut layout = OciLayout { path, root: RawManifest::new(Default::default(), None), tar_entries };
        let index = layout.read_small("index.json")?;
        let root = layout.select(&index, tag.as_deref())?;
        layout.root = layout.read_manifest(&root)?;
        Ok(layout)
    }

    fn bad(&self, reason: impl Into<String>) -> RegistryError {
        RegistryError::Layout { path: self.path.clone(), reason: reason.into() }
    }

    fn select(&self, index: &[u8], tag: Option<&str>) -> Result<Descriptor, RegistryError> {
        let index: ImageIndex =
            serde_json::from_slice(index).map_err(|e| self.bad(format!("index.json is malformed: {e}")))?;
        let mut entries = index.manifests;
        match tag {
            Some(t) => entries
                .into_iter()
                .find(|e| e.annotation(REF_NAME).is_some_and(|n| n == t || n.ends_with(&format!(":{t}"))))
                .ok_or_else(|| self.bad(format!("has no image named {t:?} in index.json"))),
            None if entries.len() == 1 => Ok(entries.remove(0)),
            None if entries.is_empty() => Err(self.bad("index.json lists no image")),
            None => {
                Err(self.bad(format!("index.json lists {} images: name one as oci:PATH:NAME", entries.len())))
            }
        }
    }

    /// Where blob `digest` is, or an error naming the layout.
    pub fn blob(&self, digest: &str) -> Result<BlobSource, RegistryError> {
        let (alg, hex) =
            digest.split_once(':').ok_or_else(|| self.bad(format!("invalid digest {digest:?}")))?;
        if !super::reference::is_valid_digest(digest) {
            return Err(self.bad(format!("invalid digest {digest:?}")));
        }
        let rel = format!("blobs/{alg}/{hex}");
        match &self.tar_entries {
            Some(entries) => entries
                .get(&rel)
                .map(|&(offset, len)| BlobSource { path: self.path.clone(), offset, len })
                .ok_or_else(|| self.bad(format!("is missing blob {digest}"))),
            None => {
                let path = self.path.join(&rel);
                let len = std::fs::metadata(&path)
                    .map_err(|_| self.bad(format!("is missing blob {digest}")))?
                    .len();
                Ok(BlobSource { path, offset: 0, len })
            }
        }
    }

    /// Reads a manifest blob, checking its digest and size against the descriptor.
    pub fn read_manifest(&self, desc: &Descriptor) -> Result<RawManifest, RegistryError> {
        let src = self.blob(&desc.digest)?;
        if src.len > MAX_MANIFEST {
            return Err(self.bad(format!("manifest {} is larger than 4 MiB", desc.digest)));
        }
        let bytes = read_region(&src)?;
        let m = RawManifest::new(bytes.into(), Some(&desc.media_type));
        if m.digest != desc.digest {
            return Err(self.bad(format!("manifest {} hashes to {}", desc.digest, m.digest)));
        }
        Ok(m)
    }

    fn read_small(&self, rel: &str) -> Result<Vec<u8>, RegistryError> {
        let src = match &self.tar_entries {
            Some(entries) => {
                let &(offset, len) = entries.get(rel).ok_or_else(|| self.bad(format!("has no {rel}")))?;
                BlobSource { path: self.path.clone(), offset, len }
            }
            None => {
                let path = self.path.join(rel);
                let len = std::fs::metadata(&path).map_err(|_| self.bad(format!("has no {rel}")))?.len();
                BlobSource { path, offset: 0, len }
            }
        };
        if src.len > MAX_MANIFEST {
            return Err(self.bad(format!("{rel} is larger than 4 MiB")));
        }
        read_region(&src)
    }
}

fn read_region(src: &BlobSource) -> Result<Vec<u8>, RegistryError> {
    let io = |source| RegistryError::Io { path: src.path.clone(), source };
    let mut f = std::fs::File::open(&src.path).map_err(io)?;
    f.seek(SeekFrom::Start(src.offset)).map_err(io)?;
    let mut buf = Vec::with_capacity(src.len as usize);
    f.take(src.len).read_to_end(&mut buf).map_err(io)?;
    Ok(buf)
}

/// Lists a tar's regular files: path (without `./`) to (offset, length) in the file.
fn index_tar(path: &Path) -> Result<HashMap<String, (u64, u64)>, RegistryError> {
    let io = |source| RegistryError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut archive = tar::Archive::new(file);
    let mut out = HashMap::new();
    for entry in archive.entries().map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(io)?.to_string_lossy().trim_start_matches("./").to_owned();
        out.insert(name, (entry.raw_file_position(), entry.size()));
    }
    if out.is_empty() {
        return Err(RegistryError::Layout {
            path: path.to_owned(),
            reason: "is neither a directory nor a tar of an OCI layout".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::sha256_digest;

    fn put(dir: &Path, bytes: &[u8]) -> String {
        let d = sha256_digest(bytes);
        let p = dir.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
        d
    }

    #[test]
    fn selects_by_name_and_explains_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let m1 =
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
        let m2 =
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[] }"#;
        let (d1, d2) = (put(dir.path(), m1), put(dir.path(), m2));
        let entry = |d: &str, n: &str, size: usize| serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": size, "annotations": {REF_NAME: n}});
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [entry(&d1, "a", m1.len()), entry(&d2, "b", m2.len())]});
        std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
        let p = dir.path().display().to_string();

        let err = OciLayout::open(&format!("oci:{p}")).unwrap_err().to_string();
        assert!(err.contains("lists 2 images: name one as oci:PATH:NAME"), "{err}");
        assert_eq!(OciLayout::open(&format!("oci:{p}:b")).unwrap().root.digest, d2);
        let err = OciLayout::open(&format!("oci:{p}:c")).unwrap_err().to_string();
        assert!(err.contains("has no image named \"c\""), "{err}");
        let layout = OciLayout::open(&format!("oci:{p}:a")).unwrap();
        let missing = format!("sha256:{}", "0".repeat(64));
        assert!(layout.blob(&missing).unwrap_err().to_string().contains("is missing blob"));
        assert!(OciLayout::open("oci:/nonexistent/dir").unwrap_err().to_string().contains("does not exist"));
    }
}
