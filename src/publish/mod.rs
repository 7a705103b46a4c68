//! `publish`'s own logic, apart from the commands it composes: the services of a step
//! ([`services`]), the files a push changed ([`changes`]), and what the step reports for the
//! published services (dispatch inputs, the `services` JSON map, the summary table).

pub(crate) mod changes;
pub(crate) mod services;

use crate::commands::build::human_size;
use crate::commands::tags::md_cell;
use std::collections::BTreeMap;

/// One service built and pushed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Published {
    /// Service name.
    pub name: String,
    /// The tags step's version: the immutable tag (`staging-abc1234`, `v1.2.3`).
    pub version: String,
    /// Every reference pushed (`registry/repository:tag`).
    pub tags: Vec<String>,
    /// Digest of the pushed manifest or index.
    pub digest: String,
    /// Size of the distinct configs and layers, in bytes.
    pub size: u64,
}

impl Published {
    /// The distinct image names, each pinned by digest (`registry/repository@sha256:…`).
    pub(crate) fn pinned(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for t in &self.tags {
            let name =
                t.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(t.as_str(), |(n, _)| n);
            let pinned = format!("{name}@{}", self.digest);
            if !names.contains(&pinned) {
                names.push(pinned);
            }
        }
        names
    }
}

/// The dispatch inputs announcing the published services: `<service>_image_tag=<version>`.
pub(crate) fn dispatch_inputs(published: &[Published]) -> BTreeMap<String, String> {
    tag_inputs(published.iter().map(|p| (p.name.as_str(), p.version.as_str())))
}

/// `<service>_image_tag=<version>` for each `(service, version)`.
pub(crate) fn tag_inputs<'a>(services: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    services
        .map(|(name, version)| (format!("{name}{}", crate::versions::TAG_INPUT_SUFFIX), version.to_owned()))
        .collect()
}

/// The `services` output: `{"api": {"tag": …, "digest": …, "images": [name@digest, …]}}`.
pub(crate) fn services_json(published: &[Published]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = published
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                serde_json::json!({ "tag": p.version, "digest": p.digest, "images": p.pinned() }),
            )
        })
        .collect();
    serde_json::Value::Object(map)
}

/// The job summary: a row per service (tags, digest, size), then the skipped and failed ones.
pub(crate) fn summary(published: &[Published], skipped: &[String], failed: &[(String, String)]) -> String {
    let mut s =
        String::from("### Published images\n\n| Service | Tags | Digest | Size |\n|---|---|---|---|\n");
    for p in published {
        let tags: Vec<String> = p.tags.iter().map(|t| format!("`{}`", md_cell(t))).collect();
        s.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            md_cell(&p.name),
            tags.join("<br>"),
            p.digest,
            human_size(p.size)
        ));
    }
    for (name, why) in failed {
        s.push_str(&format!("| {} | failed: {} | | |\n", md_cell(name), md_cell(why)));
    }
    if !skipped.is_empty() {
        s.push_str(&format!("\nUnchanged, not built: {}\n", skipped.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_names_dispatch_inputs_and_json() {
        let p = Published {
            name: "api".into(),
            version: "staging-abc1234".into(),
            tags: vec![
                "127.0.0.1:5000/org/api:staging-abc1234".into(),
                "127.0.0.1:5000/org/api:staging".into(),
                "ghcr.io/org/api:staging".into(),
            ],
            digest: "sha256:00".into(),
            size: 2048,
        };
        assert_eq!(p.pinned(), ["127.0.0.1:5000/org/api@sha256:00", "ghcr.io/org/api@sha256:00"]);
        let ps = [p];
        assert_eq!(dispatch_inputs(&ps)["api_image_tag"], "staging-abc1234");
        assert_eq!(services_json(&ps)["api"]["tag"], "staging-abc1234");
        let s = summary(&ps, &["web".into()], &[("worker".into(), "build failed".into())]);
        assert!(s.contains("| api | `127.0.0.1:5000/org/api:staging-abc1234`<br>"), "{s}");
        assert!(s.contains("| 2.0 KiB |") && s.contains("| worker | failed: build failed |"), "{s}");
    }
}
