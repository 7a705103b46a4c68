//! Manifests kept as the exact bytes the registry or layout holds, so digests never change;
//! get/head/put by tag or digest, and tag listing with `Link` pagination.

use super::client::{RegistryClient, pull_scope, push_scope};
use super::error::RegistryError;
use crate::oci::{Descriptor, OCI_INDEX, OCI_MANIFEST, is_index_type, sha256_digest};
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index as stored: its exact bytes (what a push sends, so its digest never
/// changes), media type and digest. [`crate::oci`] has the parsed types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawManifest {
    /// Media type (Content-Type when putting it).
    pub media_type: String,
    /// `sha256:` of `bytes`.
    pub digest: String,
    /// The exact bytes.
    pub bytes: Bytes,
}

/// What a manifest points at.
#[derive(Clone, Debug, Default)]
pub struct Children {
    /// Child manifests (of an index).
    pub manifests: Vec<Descriptor>,
    /// Config and layers (of an image manifest).
    pub blobs: Vec<Descriptor>,
}

impl RawManifest {
    /// Wraps bytes; the media type comes from `hint`, else the JSON's `mediaType`, else its shape.
    pub fn new(bytes: Bytes, hint: Option<&str>) -> Self {
        let digest = sha256_digest(&bytes);
        let media_type = hint
            .filter(|h| !h.is_empty() && *h != "application/json")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                v.get("mediaType").and_then(|m| m.as_str()).map(str::to_owned).unwrap_or_else(|| {
                    if v.get("manifests").is_some() { OCI_INDEX.to_owned() } else { OCI_MANIFEST.to_owned() }
                })
            });
        RawManifest { media_type, digest, bytes }
    }

    /// True for an index or manifest list.
    pub fn is_index(&self) -> bool {
        is_index_type(&self.media_type)
    }

    /// The descriptors it references; an error message when the JSON is malformed.
    pub fn children(&self) -> Result<Children, String> {
        #[derive(serde::Deserialize)]
        struct Raw {
            config: Option<Descriptor>,
            #[serde(default)]
            layers: Vec<Descriptor>,
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let raw: Raw = serde_json::from_slice(&self.bytes).map_err(|e| e.to_string())?;
        let mut blobs: Vec<Descriptor> = raw.config.into_iter().collect();
        blobs.extend(raw.layers);
        Ok(Children { manifests: raw.manifests, blobs })
    }
}

impl RegistryClient {
    /// Fetches a manifest by tag or digest, verifying its bytes against the digest.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest, RegistryError> {
        let url = self.url(&format!("{repository}/manifests/{reference}"));
        let op = format!("get manifest {reference}");
        let resp = self
            .send(repository, &op, &[pull_scope(repository)], |c| {
                c.get(url.clone()).header(ACCEPT, ACCEPT_ALL)
            })
            .await?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(self.not_found(repository, reference)),
            _ => return Err(self.fail(repository, &op, resp).await),
        }
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_owned());
        let header_digest =
            resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = resp.bytes().await.map_err(|e| RegistryError::Transport {
            registry: self.registry.clone(),
            operation: op.clone(),
            source: e,
        })?;
        let m = RawManifest::new(bytes, ct.as_deref());
        let expected = if reference.contains(':') {
            Some(reference.to_owned())
        } else {
            header_digest.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected
            && expected != m.digest
        {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                repository: repository.to_owned(),
                what: format!("manifest {reference}"),
                expected,
                actual: m.digest,
            });
        }
        Ok(m)
    }

    /// The digest a tag (or digest) resolves to, or `None` when it does not exist.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, RegistryError> {
        let url = self.url(&format!("{repository}/manifests/{reference}"));
        let op = format!("check manifest {reference}");
        let resp = self
            .send(repository, &op, &[pull_scope(repository)], |c| {
                c.head(url.clone()).header(ACCEPT, ACCEPT_ALL)
            })
            .await?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.fail(repository, &op, resp).await),
        }
        match resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
            Some(d) => Ok(Some(d.to_owned())),
            // Some registries omit the header on HEAD: fall back to GET and hash.
            None => Ok(Some(self.get_manifest(repository, reference).await?.digest)),
        }
    }

    /// Puts a manifest under a tag or its digest; checks the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        m: &RawManifest,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("{repository}/manifests/{reference}"));
        let op = format!("put manifest {reference}");
        let resp = self
            .send(repository, &op, &[push_scope(repository)], |c| {
                c.put(url.clone()).header(CONTENT_TYPE, &m.media_type).body(m.bytes.clone())
            })
            .await?;
        if resp.status().as_u16() != 201 {
            return Err(self.fail(repository, &op, resp).await);
        }
        if let Some(d) = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok())
            && d != m.digest
        {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                repository: repository.to_owned(),
                what: op,
                expected: m.digest.clone(),
                actual: d.to_owned(),
            });
        }
        Ok(())
    }

    /// All tags of a repository, following `Link` pages (at most 1000 pages).
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let op = "list tags";
        let mut url = self.url(&format!("{repository}/tags/list"));
        url.query_pairs_mut().append_pair("n", "1000");
        let mut tags = Vec::new();
        for _ in 0..1000 {
            let resp = self.send(repository, op, &[pull_scope(repository)], |c| c.get(url.clone())).await?;
            match resp.status().as_u16() {
                200 => {}
                404 => return Err(self.not_found(repository, "*")),
                _ => return Err(self.fail(repository, op, resp).await),
            }
            let next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .and_then(|l| resp.url().join(&l).ok());
            let page: Page = resp.json().await.map_err(|e| RegistryError::Transport {
                registry: self.registry.clone(),
                operation: op.into(),
                source: e,
            })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) if n != url => url = n,
                _ => return Ok(tags),
            }
        }
        Ok(tags)
    }

    fn not_found(&self, repository: &str, reference: &str) -> RegistryError {
        RegistryError::NotFound {
            registry: self.registry.clone(),
            repository: repository.to_owned(),
            reference: reference.to_owned(),
        }
    }
}

/// The target of a `Link: <url>; rel="next"` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find(|p| p.contains("rel=\"next\"") || p.contains("rel=next")).and_then(|p| {
        let start = p.find('<')? + 1;
        let end = p.find('>')?;
        Some(p[start..end].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_and_media_types() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        let m = RawManifest::new(Bytes::from_static(br#"{"schemaVersion":2,"manifests":[]}"#), None);
        assert!(m.is_index());
        assert_eq!(m.digest, sha256_digest(br#"{"schemaVersion":2,"manifests":[]}"#));
    }
}
