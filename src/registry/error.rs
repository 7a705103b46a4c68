//! Typed errors of the registry client: each names the registry, the repository and what failed.

use std::path::PathBuf;
use std::time::Duration;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The image reference does not follow the distribution grammar.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as written.
        reference: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The registry answered with an unexpected HTTP status.
    #[error("{registry}/{repository}: {operation}: HTTP {status}{}", server_message(.body))]
    Status {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// What we were doing (`upload blob sha256:…`).
        operation: String,
        /// HTTP status code.
        status: u16,
        /// The server's error body (`CODE: message`), redacted.
        body: String,
    },
    /// A manifest or tag does not exist.
    #[error("{registry}/{repository}{}{reference} does not exist", if reference.contains(':') { "@" } else { ":" })]
    NotFound {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// Tag or digest.
        reference: String,
    },
    /// The connection failed (refused, reset, timed out) after all retries.
    #[error("{registry}: {operation}: {source}")]
    Transport {
        /// Registry host.
        registry: String,
        /// What we were doing.
        operation: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// Retries ran out (count or total time).
    #[error("{registry}: {operation}: gave up after {attempts} attempts in {elapsed:.1?}: {last}")]
    RetriesExhausted {
        /// Registry host.
        registry: String,
        /// What we were doing.
        operation: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last failure.
        last: String,
    },
    /// Content does not hash to the digest that names it.
    #[error("{registry}/{repository}: digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// What was checked (`manifest latest`, `blob sha256:…`).
        what: String,
        /// Digest we asked for.
        expected: String,
        /// Digest of what we got.
        actual: String,
    },
    /// Authentication was refused or the token service misbehaved.
    #[error("{registry}: authentication failed: {reason}")]
    Auth {
        /// Registry host.
        registry: String,
        /// What went wrong (never a credential).
        reason: String,
    },
    /// A local file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An OCI image layout is missing or malformed.
    #[error("OCI layout {path}: {reason}")]
    Layout {
        /// Directory or tar file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A manifest's JSON is malformed.
    #[error("{registry}/{repository}: malformed manifest {reference}: {reason}")]
    Manifest {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// Tag or digest.
        reference: String,
        /// Parser message.
        reason: String,
    },
}

fn server_message(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(" ({body})") }
}

/// Summarises a distribution error body (`{"errors":[{"code","message"}]}`) as `CODE: message`,
/// or the first 200 characters of another body; secrets are redacted.
pub fn summarize_body(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let text = match serde_json::from_slice::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => {
            e.errors.iter().map(|i| format!("{}: {}", i.code, i.message)).collect::<Vec<_>>().join("; ")
        }
        _ => String::from_utf8_lossy(body).trim().chars().take(200).collect(),
    };
    crate::secret::redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_summarised() {
        let body =
            br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        assert_eq!(summarize_body(body), "DENIED: requested access to the resource is denied");
        let e = RegistryError::Status {
            registry: "r".into(),
            repository: "a/b".into(),
            operation: "put manifest".into(),
            status: 403,
            body: summarize_body(body),
        };
        assert_eq!(
            e.to_string(),
            "r/a/b: put manifest: HTTP 403 (DENIED: requested access to the resource is denied)"
        );
    }
}
