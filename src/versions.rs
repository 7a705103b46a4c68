//! Pure: which `.env.versions` edits a deployment makes, and the commit message recording it.
//!
//! Tag inputs come as workflow inputs `<service>_image_tag` or as a `versions` map
//! (`api=1.2.3`, one per line or comma) and set `<SERVICE>_IMAGE_TAG`. Empty inputs are
//! skipped. Every deployment also sets `LAST_DEPLOY_DATE`, `LAST_DEPLOY_BY`, `LAST_DEPLOY_RUN`.

use crate::envfile::{Change, validate};
use crate::settings::{InputError, split_list};
use chrono::{DateTime, SecondsFormat, Utc};

/// Key of the deployment's time (RFC 3339, UTC).
pub(crate) const LAST_DEPLOY_DATE: &str = "LAST_DEPLOY_DATE";
/// Key of the login that deployed.
pub(crate) const LAST_DEPLOY_BY: &str = "LAST_DEPLOY_BY";
/// Key of the web URL of the run that deployed.
pub(crate) const LAST_DEPLOY_RUN: &str = "LAST_DEPLOY_RUN";
/// Suffix of workflow inputs that carry a tag.
pub(crate) const TAG_INPUT_SUFFIX: &str = "_image_tag";

/// One service's new tag, with the input it came from (named in errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagEdit {
    /// The service, as written (`api`, `web-shop`).
    pub service: String,
    /// The `.env.versions` key (`API_IMAGE_TAG`, `WEB_SHOP_IMAGE_TAG`).
    pub key: String,
    /// The new tag.
    pub tag: String,
    /// The input it came from (`api_image_tag`, `versions`).
    pub input: String,
}

/// Who deployed, when and from which run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployMeta {
    /// Login of the actor.
    pub actor: String,
    /// Web URL of the run (may be empty outside a runner).
    pub run_url: String,
    /// The deployment time (the caller's clock).
    pub now: DateTime<Utc>,
}

/// `api` → `API_IMAGE_TAG`, `web-shop` → `WEB_SHOP_IMAGE_TAG`. `input` names the error.
pub(crate) fn tag_key(input: &str, service: &str) -> Result<String, InputError> {
    let ok = !service.is_empty()
        && service.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && service.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(InputError::new(
            input,
            service,
            "is not a service name: use letters, digits, `_`, `-` or `.`, starting with a letter",
        ));
    }
    Ok(format!("{}_IMAGE_TAG", service.to_ascii_uppercase().replace(['-', '.'], "_")))
}

/// Tag edits from `(input name, value)` pairs: inputs named `<service>_image_tag`
/// (any case) count, empty ones are skipped, the rest are ignored. Sorted by key.
pub(crate) fn edits_from_inputs<'a>(
    inputs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<TagEdit>, InputError> {
    let mut edits = Vec::new();
    for (name, value) in inputs {
        let lower = name.to_ascii_lowercase();
        let Some(service) = lower.strip_suffix(TAG_INPUT_SUFFIX) else { continue };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        edits.push(tag_edit(name, service, value)?);
    }
    edits.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(edits)
}

/// Tag edits from a `versions` map: `service=tag` items, one per line or comma.
/// Items with an empty tag are skipped; a service given twice is an error.
pub(crate) fn edits_from_map(input: &str, raw: &str) -> Result<Vec<TagEdit>, InputError> {
    let mut edits: Vec<TagEdit> = Vec::new();
    for item in split_list(raw, false) {
        let Some((service, tag)) = item.split_once('=') else {
            return Err(InputError::new(input, item, "must be service=tag, e.g. api=1.2.3"));
        };
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        let edit = tag_edit(input, service.trim(), tag)?;
        if edits.iter().any(|e| e.key == edit.key) {
            return Err(InputError::new(input, item, format!("sets {} twice", edit.key)));
        }
        edits.push(edit);
    }
    Ok(edits)
}

fn tag_edit(input: &str, service: &str, tag: &str) -> Result<TagEdit, InputError> {
    let key = tag_key(input, service)?;
    validate(input, &key, tag)?;
    Ok(TagEdit { service: service.to_owned(), key, tag: tag.to_owned(), input: input.to_owned() })
}

/// The versions file of `environment`: `{environment}` in `path` replaced by its name
/// (`deploy/{environment}/.env.versions`).
pub(crate) fn env_file_for(path: &str, environment: &str) -> String {
    path.replace("{environment}", environment)
}

/// The full list of `(key, value)` edits: the tags, then the `LAST_DEPLOY_*` keys.
pub(crate) fn deploy_edits(tags: &[TagEdit], meta: &DeployMeta) -> Vec<(String, String)> {
    let mut edits: Vec<(String, String)> = tags.iter().map(|t| (t.key.clone(), t.tag.clone())).collect();
    edits.push((LAST_DEPLOY_DATE.to_owned(), meta.now.to_rfc3339_opts(SecondsFormat::Secs, true)));
    if !meta.actor.is_empty() {
        edits.push((LAST_DEPLOY_BY.to_owned(), meta.actor.clone()));
    }
    if !meta.run_url.is_empty() {
        edits.push((LAST_DEPLOY_RUN.to_owned(), meta.run_url.clone()));
    }
    edits
}

/// Commit message: a subject `<verb>: ` naming each service and its `old → new` tag (verb
/// `deploy`, `rollback`, `promote`), then `note` in parentheses when there is one, then the
/// actor and the run. `changes` are those [`crate::envfile::EnvFile::apply`] returned.
pub(crate) fn commit_message(
    verb: &str,
    note: Option<&str>,
    tags: &[TagEdit],
    changes: &[Change],
    meta: &DeployMeta,
) -> String {
    let parts: Vec<String> = tags
        .iter()
        .map(|t| {
            let old = changes.iter().find(|c| c.key == t.key).map(|c| c.old.clone());
            match old {
                Some(Some(old)) => format!("{} {} → {}", t.service, old, t.tag),
                Some(None) => format!("{} (new) → {}", t.service, t.tag),
                None => format!("{} {} (unchanged)", t.service, t.tag),
            }
        })
        .collect();
    let mut subject = if parts.is_empty() {
        format!("{verb}: record deployment")
    } else {
        format!("{verb}: {}", parts.join(", "))
    };
    if let Some(note) = note {
        subject.push_str(&format!(" ({note})"));
    }
    let mut body = String::new();
    if !meta.actor.is_empty() {
        body.push_str(&format!("Deployed-by: {}\n", meta.actor));
    }
    if !meta.run_url.is_empty() {
        body.push_str(&format!("Run: {}\n", meta.run_url));
    }
    body.push_str(&format!("Date: {}\n", meta.now.to_rfc3339_opts(SecondsFormat::Secs, true)));
    format!("{subject}\n\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envfile::EnvFile;

    fn meta() -> DeployMeta {
        DeployMeta {
            actor: "alice".into(),
            run_url: "https://github.com/org/ops/actions/runs/7".into(),
            now: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn inputs_map_to_keys_and_skip_empty() {
        let edits =
            edits_from_inputs([("API_IMAGE_TAG", "1.2.4"), ("web-shop_image_tag", ""), ("token", "x")])
                .unwrap();
        assert_eq!(edits.len(), 1);
        assert_eq!((edits[0].key.as_str(), edits[0].service.as_str()), ("API_IMAGE_TAG", "api"));
        assert_eq!(tag_key("x", "web-shop").unwrap(), "WEB_SHOP_IMAGE_TAG");
    }

    #[test]
    fn injection_is_refused_naming_the_input() {
        let e = edits_from_inputs([("api_image_tag", "1.2/;rm -rf /")]).unwrap_err();
        assert_eq!(e.input, "api_image_tag");
        let e = edits_from_map("versions", "api=1.0\nweb=$(id)").unwrap_err();
        assert_eq!((e.input.as_str(), e.value.as_str()), ("versions", "$(id)"));
        assert!(edits_from_map("versions", "api").is_err());
    }

    #[test]
    fn message_names_services_old_new_actor_and_run() {
        let mut f = EnvFile::parse("API_IMAGE_TAG=1.2.3\n");
        let tags = edits_from_map("versions", "api=1.2.4, web=2.0.0").unwrap();
        let changes = f.apply(&deploy_edits(&tags, &meta())).unwrap();
        let msg = commit_message("deploy", None, &tags, &changes, &meta());
        assert!(msg.starts_with("deploy: api 1.2.3 → 1.2.4, web (new) → 2.0.0\n\n"), "{msg}");
        assert!(
            msg.contains("Deployed-by: alice")
                && msg.contains("Run: https://github.com/org/ops/actions/runs/7")
        );
        assert_eq!(f.get(LAST_DEPLOY_DATE), Some("2023-11-14T22:13:20Z"));
    }
}
