//! PEP 440 versions parsed and normalized like `@renovate/pep440`, which metadata-action's
//! `type=pep440` uses.

use regex::Regex;
use std::sync::LazyLock;

static PEP440: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*v?
        (?:(?P<epoch>[0-9]+)!)?
        (?P<release>[0-9]+(?:\.[0-9]+)*)
        (?P<pre>[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>[0-9]+)?)?
        (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
        (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
        (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
        \s*$",
    )
    .unwrap()
});

/// A parsed PEP 440 version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pep440 {
    /// Epoch (`1!` prefix), 0 when absent.
    pub epoch: u64,
    /// Release numbers (`[1, 2, 3]`).
    pub release: Vec<u64>,
    /// Normalized pre-release (`("rc", 1)`), if any.
    pub pre: Option<(&'static str, u64)>,
    /// Post-release number, if any.
    pub post: Option<u64>,
    /// Dev-release number, if any.
    pub dev: Option<u64>,
    /// Normalized local label (`ubuntu.1`), if any.
    pub local: Option<String>,
}

impl Pep440 {
    /// Parses `input`; `None` when it does not conform to PEP 440.
    pub fn parse(input: &str) -> Option<Pep440> {
        let c = PEP440.captures(input)?;
        let num = |name: &str| c.name(name).map(|m| m.as_str().parse::<u64>().ok());
        let release = c["release"].split('.').map(|n| n.parse().ok()).collect::<Option<Vec<u64>>>()?;
        let pre = match c.name("pre_l") {
            Some(l) => {
                let label = match l.as_str().to_ascii_lowercase().as_str() {
                    "a" | "alpha" => "a",
                    "b" | "beta" => "b",
                    _ => "rc",
                };
                Some((label, num("pre_n").unwrap_or(Some(0))?))
            }
            None => None,
        };
        let post = if c.name("post").is_some() {
            Some(num("post_n1").or_else(|| num("post_n2")).unwrap_or(Some(0))?)
        } else {
            None
        };
        let dev = if c.name("dev").is_some() { Some(num("dev_n").unwrap_or(Some(0))?) } else { None };
        Some(Pep440 {
            epoch: num("epoch").unwrap_or(Some(0))?,
            release,
            pre,
            post,
            dev,
            local: c.name("local").map(|l| l.as_str().to_ascii_lowercase().replace(['-', '_'], ".")),
        })
    }

    /// The normalized form (`pep440.clean`): `1.1b2`, `1.0.dev4`, `1.2.post1`.
    pub fn normalized(&self) -> String {
        let mut s = String::new();
        if self.epoch != 0 {
            s.push_str(&format!("{}!", self.epoch));
        }
        s.push_str(&self.release.iter().map(u64::to_string).collect::<Vec<_>>().join("."));
        if let Some((l, n)) = self.pre {
            s.push_str(&format!("{l}{n}"));
        }
        if let Some(n) = self.post {
            s.push_str(&format!(".post{n}"));
        }
        if let Some(n) = self.dev {
            s.push_str(&format!(".dev{n}"));
        }
        if let Some(l) = &self.local {
            s.push_str(&format!("+{l}"));
        }
        s
    }

    /// The `n`-th release number, 0 when the release is shorter.
    pub fn part(&self, n: usize) -> u64 {
        self.release.get(n).copied().unwrap_or(0)
    }

    /// Pre-, post- and dev-releases get only the full version and never `latest`.
    pub fn is_special(&self) -> bool {
        self.pre.is_some() || self.post.is_some() || self.dev.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_renovate_pep440() {
        let n = |s: &str| Pep440::parse(s).map(|v| v.normalized());
        assert_eq!(n("v1.1.1").as_deref(), Some("1.1.1"));
        assert_eq!(n("1.2.3rc2").as_deref(), Some("1.2.3rc2"));
        assert_eq!(n("1.1beta2").as_deref(), Some("1.1b2"));
        assert_eq!(n("1.0dev4").as_deref(), Some("1.0.dev4"));
        assert_eq!(n("1.2post1").as_deref(), Some("1.2.post1"));
        assert_eq!(n("1.2-1").as_deref(), Some("1.2.post1"));
        assert_eq!(n("1!2.0-preview.3+Ubuntu-1").as_deref(), Some("1!2.0rc3+ubuntu.1"));
        assert_eq!(n("release1"), None);
        assert_eq!(n("1.2.3-beta.x"), None);
    }

    #[test]
    fn parts_and_kinds() {
        let v = Pep440::parse("1.2").unwrap();
        assert_eq!((v.part(0), v.part(1), v.part(2)), (1, 2, 0));
        assert!(!v.is_special());
        assert!(Pep440::parse("1.2.3.dev1").unwrap().is_special());
        assert!(Pep440::parse("1.2.3.post1").unwrap().is_special());
    }
}
