//! Blob operations: existence checks, cross-repository mounts, monolithic and chunked
//! uploads that resume from the registry's offset, and streamed copies between registries.

use super::client::{RegistryClient, pull_scope, push_scope};
use super::error::RegistryError;
use crate::retry::RetryPolicy;
use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Where a blob's bytes are on disk: a file, or a region of a tar file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobSource {
    /// The file.
    pub path: PathBuf,
    /// Offset of the first byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

const READ_BUF: u64 = 256 << 10;

/// Streams `len` bytes of `path` from `offset`, opening the file lazily (so a request can be rebuilt).
pub fn file_stream(
    path: PathBuf,
    offset: u64,
    len: u64,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::try_unfold(
        (None::<tokio::fs::File>, path, offset, len),
        |(file, path, offset, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let mut f = match file {
                Some(f) => f,
                None => {
                    let mut f = tokio::fs::File::open(&path).await?;
                    f.seek(std::io::SeekFrom::Start(offset)).await?;
                    f
                }
            };
            // Uninitialised capacity filled by reads: no zeroing of every buffer.
            let want = remaining.min(READ_BUF);
            let mut buf = bytes::BytesMut::with_capacity(want as usize);
            let mut limited = (&mut f).take(want);
            while (buf.len() as u64) < want {
                if limited.read_buf(&mut buf).await? == 0 {
                    let msg = format!("{} is shorter than expected", path.display());
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, msg));
                }
            }
            let n = buf.len() as u64;
            Ok(Some((buf.freeze(), (Some(f), path, offset + n, remaining - n))))
        },
    )
}

fn file_body(src: &BlobSource, from: u64, to: u64) -> reqwest::Body {
    reqwest::Body::wrap_stream(file_stream(src.path.clone(), src.offset + from, to - from))
}

/// How a blob reached the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobOutcome {
    /// It was there already.
    Exists,
    /// Mounted from another repository of the same registry.
    Mounted,
    /// Uploaded.
    Uploaded,
}

impl RegistryClient {
    /// The blob's size when `repository` has it.
    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("{repository}/blobs/{digest}"));
        let op = format!("check blob {digest}");
        let resp = self.send(repository, &op, &[pull_scope(repository)], |c| c.head(url.clone())).await?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp.content_length().unwrap_or(0))),
            404 => Ok(None),
            _ => Err(self.fail(repository, &op, resp).await),
        }
    }

    /// Tries to mount `digest` from `from`; returns true when mounted. A registry that
    /// cannot mount opens an upload session instead, which is cancelled.
    pub async fn mount_blob(
        &self,
        repository: &str,
        digest: &str,
        from: &str,
    ) -> Result<bool, RegistryError> {
        let mut url = self.url(&format!("{repository}/blobs/uploads/"));
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        let op = format!("mount blob {digest} from {from}");
        let scopes = [push_scope(repository), pull_scope(from)];
        let resp =
            self.send(repository, &op, &scopes, |c| c.post(url.clone()).header(CONTENT_LENGTH, 0)).await?;
        match resp.status().as_u16() {
            201 => Ok(true),
            202 => {
                if let Ok(loc) = self.location(&resp, repository, &op) {
                    let _ = self.send(repository, "cancel upload", &scopes, |c| c.delete(loc.clone())).await;
                }
                Ok(false)
            }
            _ => Err(self.fail(repository, &op, resp).await),
        }
    }

    /// Opens an upload session; returns its URL.
    pub(super) async fn start_upload(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<url::Url, RegistryError> {
        let url = self.url(&format!("{repository}/blobs/uploads/"));
        let op = format!("start upload of {digest}");
        let resp = self
            .send(repository, &op, &[push_scope(repository)], |c| {
                c.post(url.clone()).header(CONTENT_LENGTH, 0)
            })
            .await?;
        if resp.status().as_u16() != 202 {
            return Err(self.fail(repository, &op, resp).await);
        }
        self.location(&resp, repository, &op)
    }

    /// Uploads a blob from disk: one request up to `monolithic_max`, chunks beyond.
    pub async fn upload_blob(
        &self,
        repository: &str,
        digest: &str,
        src: &BlobSource,
        monolithic_max: u64,
        chunk: u64,
    ) -> Result<(), RegistryError> {
        if src.len <= monolithic_max {
            self.upload_monolithic(repository, digest, src).await
        } else {
            self.upload_chunked(repository, digest, src, chunk.max(64 << 10)).await
        }
    }

    async fn upload_monolithic(
        &self,
        repository: &str,
        digest: &str,
        src: &BlobSource,
    ) -> Result<(), RegistryError> {
        let op = format!("upload blob {digest}");
        let mut backoff = self.retry.backoff();
        loop {
            let mut url = self.start_upload(repository, digest).await?;
            url.query_pairs_mut().append_pair("digest", digest);
            let once = RetryPolicy::once();
            let result = self
                .send_with(&once, repository, &op, &[push_scope(repository)], |c| {
                    c.put(url.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, src.len)
                        .body(file_body(src, 0, src.len))
                })
                .await;
            let err = match result {
                Ok(resp) if resp.status().as_u16() == 201 => return Ok(()),
                Ok(resp) => self.fail(repository, &op, resp).await,
                Err(e) => e,
            };
            match backoff.next_wait(None) {
                Some(wait) if transient(&err) => tokio::time::sleep(wait).await,
                _ => return Err(err),
            }
        }
    }

    /// The offset a session has received (`Range: 0-<last>`), and its current URL.
    async fn upload_offset(
        &self,
        repository: &str,
        url: &url::Url,
    ) -> Result<(url::Url, u64), RegistryError> {
        let op = "check upload progress";
        let resp = self.send(repository, op, &[push_scope(repository)], |c| c.get(url.clone())).await?;
        if resp.status().as_u16() != 204 {
            return Err(self.fail(repository, op, resp).await);
        }
        let next = self.location(&resp, repository, op).unwrap_or_else(|_| url.clone());
        let offset = resp
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.trim_start_matches("bytes=").split_once('-'))
            .and_then(|(_, end)| end.parse::<u64>().ok())
            // `0-0` is what distribution reports for an empty session.
            .map_or(0, |end| if end == 0 { 0 } else { end + 1 });
        Ok((next, offset))
    }

    async fn upload_chunked(
        &self,
        repository: &str,
        digest: &str,
        src: &BlobSource,
        chunk: u64,
    ) -> Result<(), RegistryError> {
        let op = format!("upload blob {digest}");
        let scopes = [push_scope(repository)];
        let once = RetryPolicy::once();
        let mut backoff = self.retry.backoff();
        let mut url = self.start_upload(repository, digest).await?;
        let mut offset = 0u64;
        while offset < src.len {
            let end = (offset + chunk).min(src.len);
            let result = self
                .send_with(&once, repository, &op, &scopes, |c| {
                    c.patch(url.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_RANGE, format!("{offset}-{}", end - 1))
                        .header(CONTENT_LENGTH, end - offset)
                        .body(file_body(src, offset, end))
                })
                .await;
            let err = match result {
                Ok(resp) if resp.status().as_u16() == 202 => {
                    url = self.location(&resp, repository, &op)?;
                    offset = end;
                    continue;
                }
                Ok(resp) => self.fail(repository, &op, resp).await,
                Err(e) => e,
            };
            // A 416 (the session lost our range) is retried on a new session.
            let range_lost = matches!(err, RegistryError::Status { status: 416, .. });
            match backoff.next_wait(None) {
                Some(wait) if range_lost || transient(&err) => tokio::time::sleep(wait).await,
                _ => return Err(err),
            }
            // Resume where the registry says it is, not where we think we were.
            match self.upload_offset(repository, &url).await {
                Ok((next, got)) if !range_lost && got <= src.len => (url, offset) = (next, got),
                _ => (url, offset) = (self.start_upload(repository, digest).await?, 0),
            }
        }
        let mut put = url.clone();
        put.query_pairs_mut().append_pair("digest", digest);
        let resp =
            self.send(repository, &op, &scopes, |c| c.put(put.clone()).header(CONTENT_LENGTH, 0)).await?;
        if resp.status().as_u16() != 201 {
            return Err(self.fail(repository, &op, resp).await);
        }
        Ok(())
    }

    /// Opens a blob for reading: its size and a byte stream.
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<(u64, impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static), RegistryError> {
        let url = self.url(&format!("{repository}/blobs/{digest}"));
        let op = format!("download blob {digest}");
        let resp = self.send(repository, &op, &[pull_scope(repository)], |c| c.get(url.clone())).await?;
        if resp.status().as_u16() != 200 {
            return Err(self.fail(repository, &op, resp).await);
        }
        Ok((resp.content_length().unwrap_or(0), resp.bytes_stream()))
    }

    /// Streams a blob from another registry into `repository` here, without touching disk.
    pub async fn copy_blob_from(
        &self,
        from: &RegistryClient,
        from_repo: &str,
        repository: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let op = format!("copy blob {digest} from {}", from.registry());
        let mut backoff = self.retry.backoff();
        loop {
            let (len, stream) = from.get_blob(from_repo, digest).await?;
            let mut url = self.start_upload(repository, digest).await?;
            url.query_pairs_mut().append_pair("digest", digest);
            let body = std::sync::Mutex::new(Some(reqwest::Body::wrap_stream(
                stream.map_err(std::io::Error::other),
            )));
            let once = RetryPolicy::once();
            let result = self
                .send_with(&once, repository, &op, &[push_scope(repository)], |c| {
                    let b = body
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take()
                        .unwrap_or_else(|| reqwest::Body::from(Vec::new()));
                    c.put(url.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, len)
                        .body(b)
                })
                .await;
            let err = match result {
                Ok(resp) if resp.status().as_u16() == 201 => return Ok(()),
                Ok(resp) => self.fail(repository, &op, resp).await,
                Err(e) => e,
            };
            match backoff.next_wait(None) {
                Some(wait) if transient(&err) => tokio::time::sleep(wait).await,
                _ => return Err(err),
            }
        }
    }
}

/// True for a failure a new attempt at the whole upload may get past.
fn transient(err: &RegistryError) -> bool {
    match err {
        RegistryError::Status { status, .. } => crate::retry::is_retryable_status(*status),
        RegistryError::RetriesExhausted { .. } | RegistryError::Transport { .. } => true,
        _ => false,
    }
}
