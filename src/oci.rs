//! The OCI image-spec JSON types, once, for the builder (which writes them) and the registry
//! client (which reads them; it pushes manifests as the bytes it read, never re-serialized).
//!
//! Our own types rather than `oci-spec`'s: serialization is byte-stable (fields in spec order,
//! annotations in a `BTreeMap`, so equal input gives equal digests), media types are plain
//! strings (Docker's round-trip as they are), and fields we do not model are kept in `extra`
//! so rewriting a layout's `index.json` loses nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Gzip-compressed OCI layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker image manifest v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's gzip layer: the same bytes as [`OCI_LAYER_GZIP`].
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Annotation naming an image inside a layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation: the reference of the image this one is based on.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// Annotation: the digest of that image.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// Annotations, sorted so they serialize the same way every time.
pub type Annotations = BTreeMap<String, String>;

/// Fields a type does not model, kept as read (serialized after the modelled ones, sorted).
pub type Extra = BTreeMap<String, Value>;

fn two() -> u32 {
    2
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// True for an index or a Docker manifest list.
pub fn is_index_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// A content descriptor: media type, digest, size, and for an index entry its platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// `urls`, `artifactType`, `data`, …
    #[serde(flatten)]
    pub extra: Extra,
}

impl Descriptor {
    /// A descriptor of `size` bytes of `media_type` content with `digest`.
    pub fn new(media_type: &str, digest: String, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            platform: None,
            annotations: None,
            extra: Extra::new(),
        }
    }

    /// The value of annotation `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// A platform as the image JSON spells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// Variant (`v7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `os.version`, `os.features`, …
    #[serde(flatten)]
    pub extra: Extra,
}

impl From<&crate::builder::Platform> for Platform {
    fn from(p: &crate::builder::Platform) -> Self {
        Platform {
            architecture: p.arch.clone(),
            os: p.os.clone(),
            variant: p.variant.clone(),
            extra: Extra::new(),
        }
    }
}

/// An image manifest (OCI, or Docker v2 schema 2: the same shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    #[serde(default = "two")]
    pub schema_version: u32,
    /// [`OCI_MANIFEST`] or [`DOCKER_MANIFEST`]; optional in OCI.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// The image config.
    pub config: Descriptor,
    /// Layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations (`org.opencontainers.image.base.name`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// `subject`, `artifactType`, …
    #[serde(flatten)]
    pub extra: Extra,
}

/// An image index (a layout's `index.json`, a multi-platform image, a Docker manifest list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    #[serde(default = "two")]
    pub schema_version: u32,
    /// [`OCI_INDEX`] or [`DOCKER_LIST`]; optional in OCI.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// The manifests (or indexes) it references.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// `subject`, `artifactType`, …
    #[serde(flatten)]
    pub extra: Extra,
}

impl ImageIndex {
    /// An OCI index of `manifests`.
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: OCI_INDEX.to_owned(),
            manifests,
            annotations: None,
            extra: Extra::new(),
        }
    }
}

impl ImageManifest {
    /// An OCI image manifest of `config` and `layers`.
    pub fn new(
        config: Descriptor,
        layers: Vec<Descriptor>,
        annotations: Option<Annotations>,
    ) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST.to_owned(),
            config,
            layers,
            annotations,
            extra: Extra::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_is_stable_and_in_spec_order() {
        let mut config = Descriptor::new(OCI_CONFIG, sha256_digest(b"c"), 1);
        config.annotations =
            Some([("b".to_owned(), "2".to_owned()), ("a".to_owned(), "1".to_owned())].into());
        let ann: Annotations =
            [(BASE_NAME.to_owned(), "r/b:1".to_owned()), (BASE_DIGEST.to_owned(), "d".to_owned())].into();
        let m = ImageManifest::new(config, vec![], Some(ann));
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":1,"annotations":{{"a":"1","b":"2"}}}},"layers":[],"annotations":{{"{BASE_DIGEST}":"d","{BASE_NAME}":"r/b:1"}}}}"#,
                sha256_digest(b"c")
            )
        );
        for _ in 0..20 {
            assert_eq!(serde_json::to_string(&m.clone()).unwrap(), json, "the same bytes every time");
        }
    }

    #[test]
    fn docker_types_and_unknown_fields_round_trip() {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:aa","size":7,"platform":{{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1"}},"urls":["https://x"]}}],"annotations":{{"k":"v"}},"subject":{{"digest":"sha256:bb"}}}}"#
        );
        let index: ImageIndex = serde_json::from_str(&list).unwrap();
        assert_eq!(index.media_type, DOCKER_LIST);
        assert!(is_index_type(&index.media_type));
        let entry = &index.manifests[0];
        assert_eq!(entry.media_type, DOCKER_MANIFEST);
        assert_eq!(entry.platform.as_ref().unwrap().extra["os.version"], "10.0.17763.1");
        assert_eq!(entry.extra["urls"], serde_json::json!(["https://x"]));
        let again: Value = serde_json::from_slice(&serde_json::to_vec(&index).unwrap()).unwrap();
        assert_eq!(again, serde_json::from_str::<Value>(&list).unwrap(), "nothing lost");

        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:cc","size":3}},"layers":[{{"mediaType":"{DOCKER_LAYER_GZIP}","digest":"sha256:dd","size":4}}]}}"#
        );
        let m: ImageManifest = serde_json::from_str(&manifest).unwrap();
        assert_eq!(m.layers[0].media_type, DOCKER_LAYER_GZIP);
        assert_eq!(serde_json::to_string(&m).unwrap(), manifest, "byte for byte");
    }

    #[test]
    fn lenient_where_the_spec_is_optional() {
        let m: ImageManifest =
            serde_json::from_str(r#"{"schemaVersion":2,"config":{"digest":"sha256:cc","size":3}}"#).unwrap();
        assert!(m.media_type.is_empty() && m.layers.is_empty() && m.config.media_type.is_empty());
        let err = serde_json::from_str::<ImageManifest>(r#"{"schemaVersion":2,"layers":[]}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `config`"), "{err}");
    }
}
