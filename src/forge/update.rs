//! Read, edit, write with the blob sha as precondition; on a conflict (or Forgejo's racy
//! 500, or a dropped connection) read again, re-apply and retry, bounded in count and time.

use super::Forge;
use super::error::ForgeError;
use super::http::RetryPolicy;
use super::model::*;
use crate::envfile::{Change, EnvFile};
use crate::settings::InputError;

/// What an update did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvUpdate {
    /// The commit made; `None` when the file already held every value.
    pub commit: Option<FileCommit>,
    /// The changes, with each key's previous value.
    pub changes: Vec<Change>,
    /// Write attempts made (1 when nothing raced).
    pub attempts: u32,
    /// The file's text after the update (as written, or as found when nothing changed).
    pub text: String,
}

/// Why an update failed; nothing was written unless a write's answer was lost.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// An edit is invalid; nothing was sent.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The forge refused (bad token, missing scope, not found, …).
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// The file as read no longer satisfies what the caller planned on; nothing was written.
    #[error("{path}: {why}; nothing was written")]
    Changed {
        /// The file.
        path: String,
        /// What changed, from the caller's check.
        why: String,
    },
    /// Every attempt raced another writer or failed transiently.
    #[error("gave up updating {path} after {attempts} attempts in {secs}s; last error: {last}")]
    GaveUp {
        /// The file.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// Seconds spent.
        secs: u64,
        /// The last error.
        last: ForgeError,
    },
}

/// Applies `edits` to `path` on `branch` of `repo`, creating the file when missing.
/// `message` builds the commit message from the changes of the attempt that is written.
pub async fn update_env_file<F: Forge>(
    forge: &F,
    repo: &RepoId,
    branch: &str,
    path: &str,
    edits: &[(String, String)],
    message: impl Fn(&[Change]) -> String,
    policy: &RetryPolicy,
) -> Result<EnvUpdate, UpdateError> {
    update_env_file_if(forge, repo, branch, path, edits, |_| Ok(()), message, policy).await
}

/// [`update_env_file`], writing only while `check` accepts the file as read (every attempt
/// reads it afresh); a refusal ends the update with [`UpdateError::Changed`].
#[allow(clippy::too_many_arguments)]
pub async fn update_env_file_if<F: Forge>(
    forge: &F,
    repo: &RepoId,
    branch: &str,
    path: &str,
    edits: &[(String, String)],
    check: impl Fn(&EnvFile) -> Result<(), String>,
    message: impl Fn(&[Change]) -> String,
    policy: &RetryPolicy,
) -> Result<EnvUpdate, UpdateError> {
    // Validate once before any request.
    EnvFile::parse("").apply(edits)?;
    let mut backoff = policy.backoff();
    let mut attempt = 0u32;
    // Writes whose answer was lost (they may have landed): message and changes.
    let mut unanswered: Vec<(String, Vec<Change>)> = Vec::new();
    loop {
        attempt += 1;
        let current = forge.get_file(repo, path, Some(branch)).await?;
        let (text, sha) = match &current {
            Some(f) => (f.text.as_str(), Some(f.sha.clone())),
            None => ("", None),
        };
        let mut file = EnvFile::parse(text);
        check(&file).map_err(|why| UpdateError::Changed { path: path.to_owned(), why })?;
        let changes = file.apply(edits)?;
        if changes.is_empty() && current.is_some() {
            let text = file.render();
            // The file holds every value: when one of our writes went unanswered, it may be
            // that write that put them there. Its commit is found by its message (this run's
            // own: it names the run and the time), and the outputs describe it.
            if !unanswered.is_empty()
                && let Some(found) =
                    own_commit(forge, repo, branch, path, &unanswered, current.as_ref()).await
            {
                let (commit, changes) = found;
                return Ok(EnvUpdate { commit: Some(commit), changes, attempts: attempt, text });
            }
            return Ok(EnvUpdate { commit: None, changes, attempts: attempt, text });
        }
        let rendered = file.render();
        let write = FileWrite {
            path: path.to_owned(),
            branch: branch.to_owned(),
            text: rendered.clone(),
            message: message(&changes),
            sha,
        };
        let err = match forge.write_file(repo, &write).await {
            Ok(commit) => {
                return Ok(EnvUpdate { commit: Some(commit), changes, attempts: attempt, text: rendered });
            }
            Err(e) if e.is_retryable_write() => e,
            Err(e) => return Err(e.into()),
        };
        if !matches!(err, ForgeError::Conflict { .. }) {
            unanswered.push((write.message.clone(), changes));
        }
        let Some(delay) = backoff.next_wait(None) else {
            return Err(UpdateError::GaveUp {
                path: path.to_owned(),
                attempts: attempt,
                secs: backoff.elapsed().as_secs(),
                last: err,
            });
        };
        tokio::time::sleep(delay).await;
    }
}

/// The newest of the file's recent commits whose message is one of `unanswered`'s, with that
/// write's changes; `None` when none is found (another writer set the same values).
async fn own_commit<F: Forge>(
    forge: &F,
    repo: &RepoId,
    branch: &str,
    path: &str,
    unanswered: &[(String, Vec<Change>)],
    current: Option<&RemoteFile>,
) -> Option<(FileCommit, Vec<Change>)> {
    let commits = forge.list_commits(repo, path, branch, 20).await.ok()?;
    commits.into_iter().find_map(|c| {
        let (_, changes) = unanswered.iter().find(|(m, _)| m.trim() == c.message.trim())?;
        let commit = FileCommit {
            commit_sha: c.sha,
            blob_sha: current.map(|f| f.sha.clone()).unwrap_or_default(),
            html_url: None,
        };
        Some((commit, changes.clone()))
    })
}
