//! Secrets that cannot be printed by accident, and the process-wide redaction list.
//!
//! A [`Secret`] has no `Display` and a redacted `Debug`. Every secret value is also
//! registered so that [`redact`] can scrub it from any text (error chains, server
//! bodies) before it reaches a log, an annotation or a summary.

use std::fmt;
use std::sync::{Mutex, OnceLock};

/// Text shown in place of a secret.
pub const REDACTED: &str = "***";

/// A secret string (token, password, key). Exposes its value only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it for redaction.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The raw value, for the one place that must send it (an HTTP header, a child's stdin).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str("Secret(\"\")") } else { write!(f, "Secret({REDACTED})") }
    }
}

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Adds a value (and each of its lines) to the redaction list. Values shorter than
/// four characters are ignored: masking `a` would garble every message.
pub fn register(value: &str) {
    let mut list = registry().lock().unwrap_or_else(|e| e.into_inner());
    for part in std::iter::once(value).chain(value.lines()) {
        let part = part.trim_end_matches('\r');
        if part.len() >= 4 && !list.iter().any(|s| s == part) {
            list.push(part.to_owned());
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Every registered secret, longest first (for `::add-mask::`).
pub fn registered() -> Vec<String> {
    registry().lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Replaces every registered secret in `text` with [`REDACTED`].
pub fn redact(text: &str) -> String {
    let list = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_owned();
    for s in list.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

/// Masks the password (and a user-info token) of a URL for display.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() || !u.username().is_empty() => {
            let _ = u.set_password(None);
            if !u.username().is_empty() {
                let _ = u.set_username(REDACTED);
            }
            redact(u.as_str())
        }
        _ => redact(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_redact_scrubs() {
        let s = Secret::new("ghp_supersecretvalue");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(redact("auth failed for ghp_supersecretvalue at x"), "auth failed for *** at x");
        assert_eq!(s.expose(), "ghp_supersecretvalue");
    }

    #[test]
    fn multi_line_secret_lines_are_registered() {
        register("-----BEGIN KEY-----\nline-two-of-key\n-----END KEY-----");
        assert_eq!(redact("oops line-two-of-key"), "oops ***");
    }

    #[test]
    fn url_credentials_are_hidden() {
        assert_eq!(redact_url("https://user:pa55word@example.com/x"), "https://***@example.com/x");
    }
}
