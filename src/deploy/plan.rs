//! Pure release planning: which services change, which images they name, which tags an
//! environment accepts, and whether a requested image is older than the one running.

use super::targets::ServiceChange;
use crate::envfile::EnvFile;
use crate::settings::InputError;
use crate::tags::environment_rules::glob_match;
use crate::versions::TagEdit;
use chrono::{DateTime, Utc};

/// OCI label with the build time (RFC 3339).
pub(crate) const LABEL_CREATED: &str = "org.opencontainers.image.created";
/// OCI label with the source revision (commit sha).
pub(crate) const LABEL_REVISION: &str = "org.opencontainers.image.revision";

/// Service -> image repository (`api=ghcr.io/org/api`), or a template with `{service}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageMap {
    named: Vec<(String, String)>,
    template: Option<String>,
}

impl ImageMap {
    /// Parses `images` items: `service=registry/repo`, or one `registry/org/{service}` template.
    pub fn parse(input: &str, items: &[String]) -> Result<Self, InputError> {
        let mut map = ImageMap::default();
        for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                Some((service, image)) => {
                    let (service, image) = (service.trim(), image.trim());
                    if service.is_empty() || image.is_empty() || image.contains(['@', ' ']) {
                        return Err(InputError::new(input, item, "must be service=registry/repository"));
                    }
                    map.named.push((service.to_ascii_lowercase(), image.to_owned()));
                }
                None if item.contains("{service}") => {
                    if map.template.replace(item.to_owned()).is_some() {
                        return Err(InputError::new(input, item, "has more than one {service} template"));
                    }
                }
                None => {
                    return Err(InputError::new(
                        input,
                        item,
                        "must be service=registry/repository or a registry/org/{service} template",
                    ));
                }
            }
        }
        Ok(map)
    }

    /// The repository of `service` (no tag), if the map names one.
    pub fn image_for(&self, service: &str) -> Option<String> {
        let s = service.to_ascii_lowercase();
        self.named
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, i)| i.clone())
            .or_else(|| self.template.as_ref().map(|t| t.replace("{service}", &s)))
    }

    /// True when no image is named at all.
    pub fn is_empty(&self) -> bool {
        self.named.is_empty() && self.template.is_none()
    }
}

/// The changes `tags` make to `current`, with each service's previous tag and image.
pub(crate) fn changes(current: &EnvFile, tags: &[TagEdit], images: &ImageMap) -> Vec<ServiceChange> {
    tags.iter()
        .map(|t| ServiceChange {
            service: t.service.clone(),
            key: t.key.clone(),
            old: current.get(&t.key).map(str::to_owned).filter(|v| !v.is_empty()),
            new: t.tag.clone(),
            image: images.image_for(&t.service),
            digest: None,
        })
        .collect()
}

/// Which tags each environment accepts (`production=v*`); environments not named accept any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagRules(Vec<(String, String)>);

impl TagRules {
    /// Parses `environment=glob` items (`*` matches any run of characters).
    pub fn parse(input: &str, items: &[String]) -> Result<Self, InputError> {
        let mut rules = Vec::new();
        for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
            let Some((env, glob)) = item.split_once('=') else {
                return Err(InputError::new(input, item, "must be environment=tag-glob (production=v*)"));
            };
            rules.push((env.trim().to_owned(), glob.trim().to_owned()));
        }
        Ok(TagRules(rules))
    }

    /// `Err` with the rule when `tag` may not reach `environment`.
    pub fn check(&self, environment: &str, tag: &str) -> Result<(), String> {
        let globs: Vec<&str> =
            self.0.iter().filter(|(e, _)| e == environment).map(|(_, g)| g.as_str()).collect();
        if globs.is_empty() || globs.iter().any(|g| glob_match(g, tag)) {
            Ok(())
        } else {
            Err(format!("only tags matching {} may be deployed to {environment}", globs.join(" or ")))
        }
    }
}

/// Where an image came from, from its OCI labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Provenance {
    /// Build time (`org.opencontainers.image.created`).
    pub created: Option<DateTime<Utc>>,
    /// Source commit (`org.opencontainers.image.revision`).
    pub revision: Option<String>,
}

impl Provenance {
    /// Reads the labels of an image config (`{"config": {"Labels": {...}}}`).
    pub(crate) fn from_config(config: &serde_json::Value) -> Self {
        let label =
            |k: &str| config.pointer("/config/Labels").and_then(|l| l.get(k)).and_then(|v| v.as_str());
        Provenance {
            created: label(LABEL_CREATED)
                .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                .map(|c| c.with_timezone(&Utc)),
            revision: label(LABEL_REVISION).map(str::to_owned).filter(|r| !r.is_empty()),
        }
    }
}

/// Why deploying `requested` over `current` is a downgrade, or `None` when it is not (or the
/// labels cannot tell: the same revision, or a missing build time, is never a downgrade).
pub(crate) fn downgrade(current: &Provenance, requested: &Provenance) -> Option<String> {
    if current.revision.is_some() && current.revision == requested.revision {
        return None;
    }
    match (current.created, requested.created) {
        (Some(cur), Some(req)) if req < cur => Some(format!(
            "the requested image was built {} from {}, before the running one ({} from {})",
            req.to_rfc3339(),
            short(requested.revision.as_deref()),
            cur.to_rfc3339(),
            short(current.revision.as_deref()),
        )),
        _ => None,
    }
}

fn short(rev: Option<&str>) -> String {
    rev.map(|r| r.chars().take(7).collect()).unwrap_or_else(|| "an unknown commit".into())
}

/// Marker in the subject of an automatic rollback's commit; the commit before it failed.
pub(crate) const AUTOMATIC_ROLLBACK: &str = "(automatic:";

/// The image tags of a versions file as `(service, key, tag)`, in file order.
pub(crate) fn image_tags(file: &EnvFile) -> Vec<(String, String, String)> {
    file.entries()
        .filter_map(|(k, v)| {
            let service = k.strip_suffix("_IMAGE_TAG")?;
            (!service.is_empty() && !v.is_empty())
                .then(|| (service.to_ascii_lowercase(), k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The versions to restore for `to: previous`: walking the file's history (newest first,
/// `(commit message, file text)`), the first version whose tags differ from the newest one,
/// skipping releases that were rolled back automatically. `None` when history has none.
pub(crate) fn previous_versions(history: &[(String, String)]) -> Option<Vec<TagEdit>> {
    let (_, newest) = history.first()?;
    let now = EnvFile::parse(newest);
    for (i, (_, text)) in history.iter().enumerate().skip(1) {
        let newer_message = &history[i - 1].0;
        if newer_message.lines().next().unwrap_or_default().contains(AUTOMATIC_ROLLBACK) {
            continue;
        }
        let then = EnvFile::parse(text);
        let edits: Vec<TagEdit> = image_tags(&then)
            .into_iter()
            .filter(|(_, key, tag)| now.get(key) != Some(tag.as_str()))
            .map(|(service, key, tag)| TagEdit { service, key, tag, input: "to".into() })
            .collect();
        if !edits.is_empty() {
            return Some(edits);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn images_by_name_then_template() {
        let m =
            ImageMap::parse("images", &s(&["api=ghcr.io/org/api", "127.0.0.1:5000/org/{service}"])).unwrap();
        assert_eq!(m.image_for("API").as_deref(), Some("ghcr.io/org/api"));
        assert_eq!(m.image_for("web").as_deref(), Some("127.0.0.1:5000/org/web"));
        let err = ImageMap::parse("images", &s(&["ghcr.io/org/api"])).unwrap_err();
        assert_eq!(err.input, "images");
    }

    #[test]
    fn changes_carry_old_tags() {
        let file = EnvFile::parse("API_IMAGE_TAG=v1\n");
        let tags = crate::versions::edits_from_map("versions", "api=v2\nweb=v9").unwrap();
        let c = changes(&file, &tags, &ImageMap::default());
        assert_eq!(c[0].old.as_deref(), Some("v1"));
        assert_eq!(c[0].new, "v2");
        assert_eq!(c[1].old, None);
    }

    #[test]
    fn tag_rules_per_environment() {
        let r = TagRules::parse("allowed-tags", &s(&["production=v*"])).unwrap();
        assert!(r.check("production", "v1.2.3").is_ok());
        assert!(r.check("production", "staging-abc1234").unwrap_err().contains("v*"));
        assert!(r.check("staging", "staging-abc1234").is_ok());
    }

    #[test]
    fn downgrade_by_build_time_unless_same_revision() {
        let p = |t: &str, r: &str| Provenance {
            created: Some(DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)),
            revision: Some(r.into()),
        };
        let new = p("2026-01-02T00:00:00Z", "bbbbbbbbb");
        let old = p("2026-01-01T00:00:00Z", "aaaaaaaaa");
        assert!(downgrade(&new, &old).unwrap().contains("aaaaaaa"));
        assert!(downgrade(&old, &new).is_none());
        assert!(downgrade(&new, &p("2025-01-01T00:00:00Z", "bbbbbbbbb")).is_none());
        assert!(downgrade(&new, &Provenance::default()).is_none());
    }

    #[test]
    fn previous_skips_automatically_rolled_back_releases() {
        let h = |m: &str, t: &str| (m.to_owned(), t.to_owned());
        let history = [
            h(
                "rollback: api v3 → v2 (automatic: health check failed)",
                "API_IMAGE_TAG=v2\nWEB_IMAGE_TAG=w1\n",
            ),
            h("deploy: api v2 → v3", "API_IMAGE_TAG=v3\nWEB_IMAGE_TAG=w1\n"),
            h("deploy: LAST_DEPLOY only", "API_IMAGE_TAG=v2\nWEB_IMAGE_TAG=w1\n"),
            h("deploy: api v1 → v2", "API_IMAGE_TAG=v2\nWEB_IMAGE_TAG=w1\n"),
            h("deploy: api v1", "API_IMAGE_TAG=v1\nWEB_IMAGE_TAG=w1\n"),
        ];
        let edits = previous_versions(&history).unwrap();
        assert_eq!(edits.len(), 1);
        assert_eq!((edits[0].service.as_str(), edits[0].tag.as_str()), ("api", "v1"));
        assert_eq!(previous_versions(&history[..1]), None);
        let plain =
            [h("deploy: api v2 → v3", "API_IMAGE_TAG=v3\n"), h("deploy: api v2", "API_IMAGE_TAG=v2\n")];
        assert_eq!(previous_versions(&plain).unwrap()[0].tag, "v2");
    }

    #[test]
    fn provenance_from_config_labels() {
        let cfg = serde_json::json!({"config": {"Labels": {
            LABEL_CREATED: "2026-03-04T05:06:07Z", LABEL_REVISION: "abc"}}});
        let p = Provenance::from_config(&cfg);
        assert_eq!(p.revision.as_deref(), Some("abc"));
        assert!(p.created.is_some());
    }
}
