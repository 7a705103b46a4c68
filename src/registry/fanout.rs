//! One blob to several registries, read from disk once: each chunk read is handed to every
//! destination's upload. Best effort: a destination that fails here is uploaded again the
//! ordinary way (retries, resumable chunks) by the caller.

use super::blob::{BlobSource, file_stream};
use super::client::{Registries, RegistryClient, push_scope};
use super::error::RegistryError;
use crate::oci::Descriptor;
use crate::retry::RetryPolicy;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use std::collections::HashMap;
use std::sync::Arc;

/// Chunks buffered per destination: memory stays at a few chunks whatever the blob size.
const CHANNEL_CHUNKS: usize = 4;

impl RegistryClient {
    /// Puts a blob whose bytes arrive on `rx` into the session at `url` (one attempt).
    async fn put_channel(
        &self,
        repository: &str,
        digest: &str,
        url: url::Url,
        len: u64,
        rx: mpsc::Receiver<std::io::Result<Bytes>>,
    ) -> Result<(), RegistryError> {
        let op = format!("upload blob {digest}");
        let body = std::sync::Mutex::new(Some(reqwest::Body::wrap_stream(rx)));
        let resp = self
            .send_with(&RetryPolicy::once(), repository, &op, &[push_scope(repository)], |c| {
                let b = body
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .unwrap_or_else(|| Vec::new().into());
                c.put(url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, len)
                    .body(b)
            })
            .await?;
        if resp.status().as_u16() != 201 {
            return Err(self.fail(repository, &op, resp).await);
        }
        Ok(())
    }
}

/// Uploads `src` to every `(client, repository)` at once, reading it once; one result each.
pub async fn upload_to_all(
    targets: &[(Arc<RegistryClient>, String)],
    digest: &str,
    src: &BlobSource,
) -> Vec<Result<(), RegistryError>> {
    let mut senders = Vec::new();
    let mut puts = Vec::new();
    for (client, repo) in targets {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        senders.push(Some(tx));
        puts.push(async move {
            let mut url = client.start_upload(repo, digest).await?;
            url.query_pairs_mut().append_pair("digest", digest);
            client.put_channel(repo, digest, url, src.len, rx).await
        });
    }
    let feed = async move {
        let mut chunks = std::pin::pin!(file_stream(src.path.clone(), src.offset, src.len));
        while let Some(chunk) = chunks.next().await {
            let failed = chunk.is_err();
            for slot in senders.iter_mut() {
                let item = match &chunk {
                    Ok(b) => Ok(b.clone()),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                };
                // A destination whose request ended stops receiving; the others go on.
                if let Some(tx) = slot
                    && tx.send(item).await.is_err()
                {
                    *slot = None;
                }
            }
            if failed {
                break;
            }
        }
        // Dropping the senders ends every body.
    };
    let (_, results) = futures::join!(feed, futures::future::join_all(puts));
    results
}

/// For a layout pushed to several registries: checks each registry's first repository and
/// uploads every blob missing in two or more of them once from disk. Returns the blobs and
/// bytes uploaded per registry; failures are left to the ordinary upload.
pub async fn prime_registries(
    regs: &Registries,
    layout: &super::layout_source::OciLayout,
    blobs: &[Descriptor],
    first_repos: &[(String, String)],
) -> Result<HashMap<String, (usize, u64)>, RegistryError> {
    let mut clients = Vec::new();
    for (registry, repo) in first_repos {
        clients.push((regs.client(registry)?, repo.clone()));
    }
    let mut done: HashMap<String, (usize, u64)> = HashMap::new();
    let work = futures::stream::iter(blobs.iter())
        .map(|b| {
            let clients = &clients;
            async move {
                let mut targets = Vec::new();
                for (c, repo) in clients {
                    if c.blob_exists(repo, &b.digest).await?.is_none() {
                        targets.push((c.clone(), repo.clone()));
                    }
                }
                if targets.len() < 2 {
                    return Ok::<_, RegistryError>(Vec::new());
                }
                let results = upload_to_all(&targets, &b.digest, &layout.blob(&b.digest)?).await;
                Ok(targets
                    .into_iter()
                    .zip(results)
                    .filter(|(_, r)| r.is_ok())
                    .map(|((c, _), _)| (c.registry().to_owned(), b.size))
                    .collect())
            }
        })
        .buffer_unordered(regs.options().concurrency.max(1));
    let mut work = std::pin::pin!(work);
    while let Some(uploaded) = work.next().await {
        for (registry, size) in uploaded? {
            let e = done.entry(registry).or_default();
            e.0 += 1;
            e.1 += size;
        }
    }
    Ok(done)
}
