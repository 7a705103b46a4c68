//! Image references (`registry/namespace/name:tag@digest`) by the distribution grammar,
//! with Docker Hub's defaults.

use super::error::RegistryError;
use regex::Regex;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's API host.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port), `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path (`library/nginx`, `org/api`).
    pub repository: String,
    /// Tag, if given.
    pub tag: Option<String>,
    /// Digest (`sha256:…`), if given.
    pub digest: Option<String>,
}

fn component_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$").unwrap())
}

/// True for a Docker image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. The one check of the tag
/// grammar: tag computation, `.env.versions` values and references all use it.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn domain_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$").unwrap()
    })
}

/// True when `digest` is `sha256:` followed by 64 lower-case hex digits (or another
/// algorithm with an encoded part of at least 32 characters).
pub fn is_valid_digest(digest: &str) -> bool {
    match digest.split_once(':') {
        Some(("sha256", hex)) => {
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        Some((alg, enc)) => {
            !alg.is_empty()
                && alg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && enc.len() >= 32
                && enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
        }
        None => false,
    }
}

impl Reference {
    /// Parses a reference; Docker Hub names get `docker.io` and `library/`.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        let bad = |reason: &str| RegistryError::InvalidReference {
            reference: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.is_empty() || s.len() > 4096 {
            return Err(bad("is empty or too long"));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !is_valid_digest(d) {
                    return Err(bad("has an invalid digest (expected sha256: and 64 hex digits)"));
                }
                (n, Some(d.to_owned()))
            }
            None => (s, None),
        };
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (&name_tag[..last_slash + i], Some(name_tag[last_slash + i + 1..].to_owned())),
            None => (name_tag, None),
        };
        if let Some(t) = &tag
            && !is_valid_tag(t)
        {
            return Err(bad("has an invalid tag (letters, digits, `_`, `.`, `-`; at most 128)"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[') =>
            {
                if !domain_re().is_match(first) {
                    return Err(bad("has an invalid registry host"));
                }
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = if registry == "index.docker.io" { DOCKER_HUB.to_owned() } else { registry };
        let repository =
            if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path };
        if repository.len() > 255 || !repository.split('/').all(|c| component_re().is_match(c)) {
            return Err(bad("has an invalid repository (lower-case letters, digits and separators)"));
        }
        Ok(Reference { registry, repository, tag, digest })
    }

    /// The host the API is served from (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }

    /// What to ask the registry for: the digest if given, else the tag, else `latest`.
    pub fn target(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_owned()), digest: None, ..self.clone() }
    }
}

impl FromStr for Reference {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_defaults() {
        let r = Reference::parse("nginx").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "library/nginx", None)
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.target(), "latest");
        assert_eq!(Reference::parse("org/api:1.2").unwrap().repository, "org/api");
    }

    #[test]
    fn registry_port_tag_and_digest() {
        let r = Reference::parse(&format!("localhost:5000/a/b/c:v1.2.3@{D}")).unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "a/b/c");
        assert_eq!(r.tag.as_deref(), Some("v1.2.3"));
        assert_eq!(r.target(), D);
        assert_eq!(r.to_string(), format!("localhost:5000/a/b/c:v1.2.3@{D}"));
        let r = Reference::parse("127.0.0.1:5000/x").unwrap();
        assert_eq!((r.registry.as_str(), r.tag), ("127.0.0.1:5000", None));
        assert_eq!(Reference::parse("[::1]:5000/x:t").unwrap().registry, "[::1]:5000");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in ["", "Upper/case", "a/b:bad tag", "a@sha256:short", "ghcr.io/", "a//b", "a/b:"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
