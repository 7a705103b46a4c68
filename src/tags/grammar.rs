//! Tag sanitization and the Docker grammars for tags and image names.

use regex::Regex;
use std::sync::LazyLock;

static INVALID_TAG_CHARS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[^a-zA-Z0-9._-]+").unwrap());
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    // distribution/reference: [domain/]component(/component)*
    let component = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?");
    Regex::new(&format!(r"^(?:{domain}/)?{component}(?:/{component})*$")).unwrap()
});

/// Replaces every run of characters a tag cannot hold with `-`, as metadata-action does.
pub fn sanitize_tag(tag: &str) -> String {
    INVALID_TAG_CHARS.replace_all(tag, "-").into_owned()
}

pub use crate::registry::reference::is_valid_tag;

/// Checks an image name against the distribution reference grammar; `Err` holds the rule broken.
pub fn check_image_name(name: &str) -> Result<(), &'static str> {
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("must be lower-case");
    }
    if name.len() > 255 {
        return Err("must be at most 255 characters long");
    }
    if name.contains(':')
        && !NAME.is_match(name)
        && NAME.is_match(name.rsplit_once(':').unwrap_or_default().0)
    {
        return Err("must not carry a tag: put tags in the `tags` input");
    }
    if name.contains('@') {
        return Err("must not carry a digest");
    }
    if !NAME.is_match(name) {
        return Err(
            "is not a valid image name ([registry[:port]/]path, lower-case letters, digits, `.`, `_`, `-`)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_like_metadata_action() {
        assert_eq!(sanitize_tag("my/feature#1245"), "my-feature-1245");
        assert_eq!(sanitize_tag("a  b//c"), "a-b-c");
        assert_eq!(sanitize_tag("v1.2.3_rc-1"), "v1.2.3_rc-1");
        assert_eq!(sanitize_tag("émoji✓"), "-moji-");
    }

    #[test]
    fn tag_grammar() {
        assert!(is_valid_tag("v1.2.3"));
        assert!(is_valid_tag("_x"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag(".x"));
        assert!(!is_valid_tag(""));
        assert!(is_valid_tag(&"a".repeat(128)));
        assert!(!is_valid_tag(&"a".repeat(129)));
    }

    #[test]
    fn image_names() {
        for ok in
            ["user/app", "ghcr.io/org/api", "localhost:5000/a/b", "registry.example.org/a__b/c-d", "app"]
        {
            assert_eq!(check_image_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_image_name("Ghcr.io/X"), Err("must be lower-case"));
        assert!(check_image_name("ghcr.io/org/api:1.0").unwrap_err().contains("tag"));
        assert!(check_image_name("ghcr.io//api").is_err());
        assert!(check_image_name("ghcr.io/-api").is_err());
        assert!(check_image_name("a@sha256:00").is_err());
    }
}
