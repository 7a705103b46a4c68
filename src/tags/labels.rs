//! OCI labels and annotations: generated `org.opencontainers.image.*` from the payload's
//! repository, overridden by the user's, sorted by key.

use super::template::{Scope, render};
use crate::settings::InputError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// What the generated labels are made of.
pub struct LabelFacts<'a> {
    /// Event payload (its `repository` object).
    pub payload: &'a Value,
    /// Main version, empty when none.
    pub version: &'a str,
    /// The clock, for `created`.
    pub now: DateTime<Utc>,
    /// Commit sha.
    pub sha: &'a str,
}

/// Generated OCI keys plus the user's `key=value` lines (rendered), as sorted `key=value`.
pub fn oci(
    facts: &LabelFacts,
    extra: &[String],
    input: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, InputError> {
    let repo = |ptr: &str| facts.payload.pointer(ptr).and_then(Value::as_str).unwrap_or_default().to_owned();
    let html_url = repo("/repository/html_url");
    let mut pairs: Vec<(String, String)> = vec![
        ("org.opencontainers.image.title".into(), repo("/repository/name")),
        ("org.opencontainers.image.description".into(), repo("/repository/description")),
        ("org.opencontainers.image.url".into(), html_url.clone()),
        ("org.opencontainers.image.source".into(), html_url),
        ("org.opencontainers.image.version".into(), facts.version.to_owned()),
        ("org.opencontainers.image.created".into(), facts.now.to_rfc3339_opts(SecondsFormat::Millis, true)),
        ("org.opencontainers.image.revision".into(), facts.sha.to_owned()),
        ("org.opencontainers.image.licenses".into(), repo("/repository/license/spdx_id")),
    ];
    for line in extra {
        let rendered = render(line, scope, input, warnings)?;
        let Some((key, value)) = rendered.split_once('=') else {
            return Err(InputError::new(input, line, "must be key=value"));
        };
        if key.trim().is_empty() {
            return Err(InputError::new(input, line, "must have a key before `=`"));
        }
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_owned(),
            None => pairs.push((key.to_owned(), value.to_owned())),
        }
    }
    // JavaScript's localeCompare: case-insensitive first.
    pairs.sort_by(|a, b| a.0.to_lowercase().cmp(&b.0.to_lowercase()).then_with(|| a.0.cmp(&b.0)));
    Ok(pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// Prefixes every annotation with each level of `levels` (`manifest,index` → two copies).
pub fn leveled(annotations: &[String], levels: &str) -> Vec<String> {
    levels
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .flat_map(|level| annotations.iter().map(move |a| format!("{level}:{a}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let a = vec!["k=v".to_owned()];
        assert_eq!(leveled(&a, "manifest"), ["manifest:k=v"]);
        assert_eq!(leveled(&a, "manifest,index"), ["manifest:k=v", "index:k=v"]);
    }

    #[test]
    fn user_labels_override_and_sort() {
        let payload = serde_json::json!({"repository": {"name": "api", "license": {"spdx_id": "MIT"}}});
        let now = DateTime::parse_from_rfc3339("2020-01-10T00:30:00Z").unwrap().with_timezone(&Utc);
        let facts = LabelFacts { payload: &payload, version: "1.0.0", now, sha: "abc" };
        let mut w = Vec::new();
        let extra = vec!["org.opencontainers.image.title=API".to_owned(), "a.b=c=d".to_owned()];
        let l = oci(&facts, &extra, "labels", &Scope::default(), &mut w).unwrap();
        assert_eq!(l[0], "a.b=c=d");
        assert!(l.contains(&"org.opencontainers.image.title=API".to_owned()));
        assert!(l.contains(&"org.opencontainers.image.created=2020-01-10T00:30:00.000Z".to_owned()));
        assert!(oci(&facts, &["nokey".to_owned()], "labels", &Scope::default(), &mut w).is_err());
    }
}
