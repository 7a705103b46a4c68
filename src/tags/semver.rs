//! Semantic versions parsed like npm's `semver` (strict `valid`, leading `v` allowed),
//! which is what metadata-action's `type=semver` uses.

use regex::Regex;
use std::sync::LazyLock;

static FULL: LazyLock<Regex> = LazyLock::new(|| {
    let num = r"0|[1-9]\d*";
    let pre_id = format!(r"(?:{num}|\d*[a-zA-Z-][a-zA-Z0-9-]*)");
    let build_id = r"[0-9A-Za-z-]+";
    Regex::new(&format!(
        r"^v?({num})\.({num})\.({num})(?:-({pre_id}(?:\.{pre_id})*))?(?:\+({build_id}(?:\.{build_id})*))?$"
    ))
    .unwrap()
});

/// A parsed semantic version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SemVer {
    /// The input as given (trimmed), e.g. `v1.2.3-rc.1+b5`.
    pub raw: String,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Patch number.
    pub patch: u64,
    /// Pre-release identifiers (`["rc", "1"]`).
    pub prerelease: Vec<String>,
    /// Build metadata identifiers.
    pub build: Vec<String>,
}

impl SemVer {
    /// Parses `input` as npm's `semver.valid` would accept it; `None` when it is not a version.
    pub fn parse(input: &str) -> Option<SemVer> {
        let raw = input.trim();
        if raw.len() > 256 {
            return None;
        }
        let caps = FULL.captures(raw)?;
        let number = |i: usize| caps.get(i)?.as_str().parse::<u64>().ok().filter(|n| *n < (1 << 53));
        let ids = |i: usize| {
            caps.get(i).map(|m| m.as_str().split('.').map(str::to_owned).collect()).unwrap_or_default()
        };
        Some(SemVer {
            raw: raw.to_owned(),
            major: number(1)?,
            minor: number(2)?,
            patch: number(3)?,
            prerelease: ids(4),
            build: ids(5),
        })
    }

    /// npm's `version` property: `major.minor.patch[-prerelease]`, without build metadata.
    pub fn version(&self) -> String {
        let mut v = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.prerelease.is_empty() {
            v.push('-');
            v.push_str(&self.prerelease.join("."));
        }
        v
    }

    /// True for pre-releases (`1.2.3-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        !self.prerelease.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_npm_semver() {
        let v = SemVer::parse("v1.2.3").unwrap();
        assert_eq!((v.major, v.minor, v.patch, v.version()), (1, 2, 3, "1.2.3".to_owned()));
        assert_eq!(v.raw, "v1.2.3");
        let v = SemVer::parse("v9.5.7-alpha.2+fork.3.1.8").unwrap();
        assert_eq!(v.version(), "9.5.7-alpha.2");
        assert_eq!(v.build, ["fork", "3", "1", "8"]);
        assert!(v.is_prerelease());
        assert_eq!(SemVer::parse("2.0.8-beta.67").unwrap().prerelease, ["beta", "67"]);
    }

    #[test]
    fn rejects_what_npm_rejects() {
        for bad in
            ["1.2", "v1.2.3rc2", "1.2.3.4", "01.2.3", "1.2.3-", "release1", "1.2.3-beta.01", "p1-v1.0.0"]
        {
            assert_eq!(SemVer::parse(bad), None, "{bad}");
        }
    }
}
