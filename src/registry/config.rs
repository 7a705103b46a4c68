//! An image's config (labels, created time) read through its manifest: what the release's
//! downgrade guard compares.

use super::client::RegistryClient;
use super::error::RegistryError;
use futures::TryStreamExt;

/// Config blobs larger than this are not read (a config is a few KiB).
const MAX_CONFIG: u64 = 4 << 20;

impl RegistryClient {
    /// The image config JSON of `reference` (tag or digest); for an index, that of its
    /// `linux/amd64` entry, else its first. `None` when the reference does not exist.
    pub async fn image_config(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<serde_json::Value>, RegistryError> {
        let mut manifest = match self.get_manifest(repository, reference).await {
            Ok(m) => m,
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let malformed = |reason: String| RegistryError::Manifest {
            registry: self.registry().to_owned(),
            repository: repository.to_owned(),
            reference: reference.to_owned(),
            reason,
        };
        if manifest.is_index() {
            let index: serde_json::Value =
                serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(format!("index: {e}")))?;
            let entries = index["manifests"].as_array().cloned().unwrap_or_default();
            let amd64 = entries.iter().find(|m| {
                m.pointer("/platform/os").and_then(|v| v.as_str()) == Some("linux")
                    && m.pointer("/platform/architecture").and_then(|v| v.as_str()) == Some("amd64")
            });
            let Some(digest) = amd64.or(entries.first()).and_then(|m| m["digest"].as_str()) else {
                return Err(malformed("index without manifests".into()));
            };
            manifest = self.get_manifest(repository, digest).await?;
        }
        let children = manifest.children().map_err(|e| malformed(format!("manifest: {e}")))?;
        let Some(config) = children.blobs.first().filter(|_| !manifest.is_index()) else {
            return Err(malformed("manifest without config".into()));
        };
        if config.size > MAX_CONFIG {
            return Err(malformed(format!("config of {} bytes", config.size)));
        }
        let (_, stream) = self.get_blob(repository, &config.digest).await?;
        let bytes: Vec<u8> = stream
            .try_fold(Vec::new(), |mut all, b| async move {
                all.extend_from_slice(&b);
                Ok(all)
            })
            .await
            .map_err(|e| RegistryError::Transport {
                registry: self.registry().to_owned(),
                operation: format!("download config {}", config.digest),
                source: e,
            })?;
        if crate::oci::sha256_digest(&bytes) != config.digest {
            return Err(malformed(format!("config {} does not match its digest", config.digest)));
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|e| malformed(format!("config: {e}")))
    }
}
