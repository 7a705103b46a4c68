//! Writing an OCI image layout: `oci-layout`, `blobs/sha256/<hex>` and `index.json`.
//! Blobs are streamed to a temporary file while hashed, then renamed to their digest.

use super::{BuildError, Platform};
use crate::oci::{self, Annotations, Descriptor, ImageIndex, ImageManifest};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A layer written into a layout: its blob and the digest of its uncompressed tar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// The compressed blob.
    pub descriptor: Descriptor,
    /// `sha256:` of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
}

/// An OCI layout directory being written.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// Opens `dir` as a layout: creates it (and `oci-layout`, `blobs/sha256`) if missing;
    /// a non-empty directory must already be a layout.
    pub(crate) fn create(dir: &Path) -> Result<Layout, BuildError> {
        let marker = dir.join("oci-layout");
        let non_empty = fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
        if non_empty && !marker.exists() {
            return Err(BuildError::Unsupported(format!(
                "{} is not empty and not an OCI layout: choose a new or empty directory",
                dir.display()
            )));
        }
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(BuildError::io("creating", &blobs))?;
        fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(BuildError::io("writing", &marker))?;
        Ok(Layout { dir: dir.to_owned() })
    }

    /// The layout directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `digest` lives.
    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
    }

    /// Writes `bytes` as a blob.
    pub(crate) fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, BuildError> {
        let digest = oci::sha256_digest(bytes);
        let path = self.blob_path(&digest);
        fs::write(&path, bytes).map_err(BuildError::io("writing", &path))?;
        Ok(Descriptor::new(media_type, digest, bytes.len() as u64))
    }

    /// Serializes `value` and writes it as a blob.
    pub(crate) fn write_json<T: Serialize>(
        &self,
        media_type: &str,
        value: &T,
    ) -> Result<Descriptor, BuildError> {
        let bytes = serde_json::to_vec(value).expect("OCI JSON serializes");
        self.write_blob(media_type, &bytes)
    }

    /// Starts a gzip-compressed layer blob; write the uncompressed tar into it. Its blocks are
    /// compressed on every core.
    pub(crate) fn layer_sink(&self) -> Result<LayerSink, BuildError> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        self.layer_sink_with(cores)
    }

    /// [`layer_sink`](Self::layer_sink) compressing up to `workers` blocks at once (the bytes
    /// written do not depend on it).
    pub(crate) fn layer_sink_with(&self, workers: usize) -> Result<LayerSink, BuildError> {
        let tmp = self.dir.join("blobs/sha256").join(format!(".tmp-{:016x}", rand::random::<u64>()));
        let file = fs::File::create(&tmp).map_err(BuildError::io("creating", &tmp))?;
        let mut out = HashingWriter::new(io::BufWriter::new(file));
        out.write_all(&GZIP_HEADER).map_err(BuildError::io("writing", &tmp))?;
        Ok(LayerSink {
            out,
            workers: workers.max(1),
            pending: Vec::new(),
            current: Vec::with_capacity(BLOCK),
            crc: flate2::Crc::new(),
            uncompressed: Sha256::new(),
            tmp,
            blobs: self.dir.join("blobs/sha256"),
        })
    }

    /// Records `desc` in `index.json` under `tag` (replacing an entry of the same name;
    /// without a tag, replacing untagged entries), atomically.
    pub(crate) fn set_index(&self, mut desc: Descriptor, tag: Option<&str>) -> Result<(), BuildError> {
        let path = self.dir.join("index.json");
        let mut index = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<ImageIndex>(&bytes)
                .map_err(|e| BuildError::Malformed { what: "index.json", detail: e.to_string() })?,
            Err(_) => ImageIndex::new(Vec::new()),
        };
        index.manifests.retain(|d| d.annotation(oci::REF_NAME) != tag);
        desc.annotations = tag.map(|t| BTreeMap::from([(oci::REF_NAME.to_owned(), t.to_owned())]));
        index.manifests.push(desc);
        index.media_type = oci::OCI_INDEX.to_owned();
        let tmp = self.dir.join(".index.json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(&index).expect("index serializes"))
            .map_err(BuildError::io("writing", &tmp))?;
        fs::rename(&tmp, &path).map_err(BuildError::io("writing", &path))
    }
}

/// A `Write` that hashes and counts what passes through.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter { inner, hash: Sha256::new(), len: 0 }
    }
    /// The digest and byte count so far, and the inner writer.
    pub(crate) fn finish(self) -> (String, u64, W) {
        (format!("sha256:{}", hex::encode(self.hash.finalize())), self.len, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Fixed gzip header: no name, mtime 0, default level, OS byte 255 ("unknown"), so equal
/// input gives equal bytes.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
/// Uncompressed bytes per block. Blocks are deflated independently (as pigz and pgzip do: each
/// ends on a byte boundary with a sync flush) and joined into one gzip member, so a large
/// layer uses every core; the block size is fixed, so the bytes do not depend on the core count.
const BLOCK: usize = 1 << 20;

/// Pieces of a block compressed at the fastest level to tell whether it compresses at all.
const SAMPLES: usize = 8;
/// Bytes per piece.
const SAMPLE: usize = 8 << 10;

/// True when `data` looks incompressible (random, already compressed): none of [`SAMPLES`]
/// pieces spread over it shrinks by 2 % at the fastest level. Such blocks are stored, not
/// deflated (as klauspost/compress does), which makes them nearly free.
fn incompressible(data: &[u8]) -> bool {
    if data.len() < SAMPLES * SAMPLE {
        return false;
    }
    (0..SAMPLES).all(|k| {
        let at = k * (data.len() - SAMPLE) / (SAMPLES - 1);
        let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
        let mut out = Vec::with_capacity(SAMPLE + 1024);
        let _ = c.compress_vec(&data[at..at + SAMPLE], &mut out, flate2::FlushCompress::Finish);
        c.total_in() as usize == SAMPLE && out.len() * 100 >= SAMPLE * 98
    })
}

/// Deflates one block (raw deflate); the last one ends the stream.
fn deflate_block(data: &[u8], last: bool) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let level = if incompressible(data) { Compression::none() } else { Compression::default() };
    let mut c = Compress::new(level, false);
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    // Each round either consumes input, writes output or grows the buffer: bounded.
    for _ in 0..1_000_000 {
        let done = c.total_in() as usize;
        let status = c.compress_vec(&data[done..], &mut out, flush).expect("deflating memory cannot fail");
        let all_in = c.total_in() as usize == data.len();
        if status == Status::StreamEnd || (!last && all_in && out.len() < out.capacity()) {
            return out;
        }
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64 << 10));
        }
    }
    unreachable!("deflate made no progress")
}

/// Receives an uncompressed layer tar; hashes it (diff id), gzips it in parallel blocks,
/// hashes and stores the result.
pub(crate) struct LayerSink {
    out: HashingWriter<io::BufWriter<fs::File>>,
    workers: usize,
    pending: Vec<Vec<u8>>,
    current: Vec<u8>,
    crc: flate2::Crc,
    uncompressed: Sha256,
    tmp: PathBuf,
    blobs: PathBuf,
}

impl LayerSink {
    /// Compresses the pending blocks (the last of the stream too when `finish`) and writes them in order.
    fn compress_pending(&mut self, finish: bool) -> io::Result<()> {
        let blocks = std::mem::take(&mut self.pending);
        let last = blocks.len().saturating_sub(1);
        let indexed: Vec<(usize, &Vec<u8>)> = blocks.iter().enumerate().collect();
        let compressed =
            super::parallel_map_with(self.workers, &indexed, |(i, b)| deflate_block(b, finish && *i == last));
        for c in compressed {
            self.out.write_all(&c)?;
        }
        Ok(())
    }
}

impl Write for LayerSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK - self.current.len());
        self.current.extend_from_slice(&buf[..n]);
        self.uncompressed.update(&buf[..n]);
        self.crc.update(&buf[..n]);
        if self.current.len() == BLOCK {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(BLOCK));
            self.pending.push(full);
            if self.pending.len() >= self.workers {
                self.compress_pending(false)?;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LayerSink {
    /// Finishes the gzip stream and moves the blob to its digest.
    pub(crate) fn finish(mut self) -> Result<Layer, BuildError> {
        let tmp = self.tmp.clone();
        let io_err = BuildError::io("writing", &tmp);
        let last = std::mem::take(&mut self.current);
        self.pending.push(last);
        let trailer = [self.crc.sum().to_le_bytes(), self.crc.amount().to_le_bytes()].concat();
        self.compress_pending(true).and_then(|()| self.out.write_all(&trailer)).map_err(io_err)?;
        let (digest, size, buf) = self.out.finish();
        buf.into_inner().map_err(|e| BuildError::Io {
            action: "writing",
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        let path = self.blobs.join(digest.trim_start_matches("sha256:"));
        fs::rename(&self.tmp, &path).map_err(BuildError::io("writing", &path))?;
        Ok(Layer {
            descriptor: Descriptor::new(oci::OCI_LAYER_GZIP, digest, size),
            diff_id: format!("sha256:{}", hex::encode(self.uncompressed.finalize())),
        })
    }
}

/// Writes one image (config + manifest with `annotations`) for `layers`, returning the
/// manifest's descriptor (with its platform set) and the config's.
pub(crate) fn write_image(
    layout: &Layout,
    config: &serde_json::Value,
    layers: &[Layer],
    platform: &Platform,
    annotations: Option<Annotations>,
) -> Result<(Descriptor, Descriptor), BuildError> {
    let config_desc = layout.write_json(oci::OCI_CONFIG, config)?;
    let layers = layers.iter().map(|l| l.descriptor.clone()).collect();
    let manifest = ImageManifest::new(config_desc.clone(), layers, annotations);
    let mut desc = layout.write_json(oci::OCI_MANIFEST, &manifest)?;
    desc.platform = Some(platform.into());
    Ok((desc, config_desc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::sha256_digest as sha256;

    #[test]
    fn layers_are_gzip_with_fixed_header_and_both_digests() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let write = || {
            let mut sink = layout.layer_sink().unwrap();
            sink.write_all(b"not really a tar").unwrap();
            sink.finish().unwrap()
        };
        let (a, b) = (write(), write());
        assert_eq!(a, b);
        assert_eq!(a.diff_id, sha256(b"not really a tar"));
        let blob = fs::read(layout.blob_path(&a.descriptor.digest)).unwrap();
        assert_eq!(sha256(&blob), a.descriptor.digest);
        assert_eq!(&blob[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut out = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut out).unwrap();
        assert_eq!(out, b"not really a tar");
    }

    #[test]
    fn large_layers_are_one_gzip_member_of_parallel_blocks_whatever_the_core_count() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        // 3.5 blocks: random, then text, written in odd-sized pieces.
        let mut data: Vec<u8> = (0..BLOCK + 300_000).map(|_| rand::random::<u8>()).collect();
        data.extend(b"lorem ipsum dolor sit amet\n".iter().copied().cycle().take(2 * BLOCK + 200_000));
        let write = |workers: usize| {
            let mut sink = layout.layer_sink_with(workers).unwrap();
            for piece in data.chunks(777_777) {
                sink.write_all(piece).unwrap();
            }
            sink.finish().unwrap()
        };
        let (one, three) = (write(1), write(3));
        assert_eq!(one, three, "the bytes do not depend on the workers");
        assert_eq!(one.diff_id, sha256(&data));
        let blob = fs::read(layout.blob_path(&one.descriptor.digest)).unwrap();
        assert_eq!(sha256(&blob), one.descriptor.digest);
        assert!(blob.len() < BLOCK + 400_000, "the text compressed: {}", blob.len());
        assert!(incompressible(&data[..BLOCK]) && !incompressible(&data[2 * BLOCK..3 * BLOCK]));
        let mut out = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut out).unwrap();
        assert!(out == data, "round trip");
        // An empty layer is a valid empty gzip stream.
        let empty = layout.layer_sink().unwrap().finish().unwrap();
        let blob = fs::read(layout.blob_path(&empty.descriptor.digest)).unwrap();
        let mut out = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn index_entries_are_replaced_by_tag() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let desc = |n: &[u8]| layout.write_blob(oci::OCI_MANIFEST, n).unwrap();
        layout.set_index(desc(b"1"), Some("v1")).unwrap();
        layout.set_index(desc(b"2"), Some("v2")).unwrap();
        layout.set_index(desc(b"3"), Some("v1")).unwrap();
        let index: ImageIndex =
            serde_json::from_slice(&fs::read(d.path().join("index.json")).unwrap()).unwrap();
        let digests: Vec<_> = index.manifests.iter().map(|m| m.digest.clone()).collect();
        assert_eq!(digests, [sha256(b"2"), sha256(b"3")]);
        fs::write(d.path().join("other"), "x").unwrap();
        let not_layout = tempfile::tempdir().unwrap();
        fs::write(not_layout.path().join("x"), "x").unwrap();
        assert!(Layout::create(not_layout.path()).is_err());
    }

    #[test]
    fn index_json_keeps_what_other_tools_wrote() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let other = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"annotations":{"org.opencontainers.image.ref.name":"keep","io.x":"y"},"artifactType":"application/x"}],"annotations":{"io.z":"w"}}"#;
        fs::write(d.path().join("index.json"), other).unwrap();
        layout.set_index(layout.write_blob(oci::OCI_MANIFEST, b"1").unwrap(), Some("new")).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(d.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index["annotations"]["io.z"], "w");
        assert_eq!(index["manifests"][0]["artifactType"], "application/x");
        assert_eq!(index["manifests"][0]["annotations"]["io.x"], "y");
        assert_eq!(index["manifests"][1]["annotations"][oci::REF_NAME], "new");
    }

    /// The bytes of what a build writes, pinned: a change of a type or its field order would
    /// change every image's digest (these were written before the OCI types were shared).
    #[test]
    fn written_images_keep_their_digests() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let mut sink = layout.layer_sink_with(1).unwrap();
        sink.write_all(b"layer").unwrap();
        let layer = sink.finish().unwrap();
        let config = serde_json::json!({"architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.clone()]}});
        let ann: Annotations =
            [(oci::BASE_NAME.to_owned(), "r/b:1".to_owned()), (oci::BASE_DIGEST.to_owned(), sha256(b"x"))]
                .into();
        let amd = Platform::parse("linux/amd64").unwrap();
        let arm = Platform::parse("linux/arm/v7").unwrap();
        let (a, _) = write_image(&layout, &config, std::slice::from_ref(&layer), &amd, Some(ann)).unwrap();
        let (b, _) = write_image(&layout, &config, std::slice::from_ref(&layer), &arm, None).unwrap();
        let top = layout.write_json(oci::OCI_INDEX, &ImageIndex::new(vec![a.clone(), b.clone()])).unwrap();
        layout.set_index(top.clone(), Some("t")).unwrap();
        assert_eq!(a.digest, "sha256:f6cd041b26360164c23fdb5a68e219213e7b8837c4e0bd776925b3da46085274");
        assert_eq!(b.digest, "sha256:d07db9ad8acbdc766c8f3564e993dde0240cc2d66a2ebe3ae4efee3ce7d5570d");
        assert_eq!(top.digest, "sha256:de16b4eb21156a20759bd1e7e5a0143a6265666386eb08c3af3719675a7215bb");
        assert_eq!(
            sha256(&fs::read(d.path().join("index.json")).unwrap()),
            "sha256:89a829e6b56f539eee19160fd4c0ea4774bb357dee015c661888818d958367c8"
        );
    }
}
