//! Pure: Dokploy's records as this target reads them, the edit of a compose's environment,
//! which deployment is ours, and what the containers Dokploy reports say about the rollout.
//!
//! Fields from Dokploy v0.30.2 (772b7682): `packages/server/src/db/schema/compose.ts`
//! (`compose.one` spreads the row: `composeId`, `name`, `appName`, `env` (text or null),
//! `composeType` `docker-compose`|`stack`, `serverId`, `environmentId`, `environment.projectId`)
//! and `schema/deployment.ts` (`deploymentId`, `title`, `description`, `status`
//! `running`|`done`|`error`|`cancelled` (`cancelled` since v0.25.4), `logPath`, `createdAt`,
//! `startedAt`, `finishedAt`, `errorMessage`); `deployment.allByCompose` lists them newest first.
//! What runs: `routers/docker.ts` `getContainersByAppNameMatch` (permission service:read; `docker
//! ps -a --filter label=com.docker.compose.project=<appName>` → `{containerId, name, state,
//! status}`) and `getConfig` (docker:read; `docker inspect`, `undefined` on failure), in
//! `packages/server/src/services/docker.ts`. Neither reports a registry digest.

use crate::deploy::targets::ServiceChange;
use crate::envfile::{Change, EnvFile};
use crate::settings::InputError;
use serde::Deserialize;
use std::collections::HashSet;

/// A compose app as `compose.one` answers (only the fields used).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Compose {
    pub(crate) name: String,
    pub(crate) app_name: String,
    pub(crate) env: Option<String>,
    pub(crate) compose_type: Option<String>,
    pub(crate) server_id: Option<String>,
    pub(crate) environment_id: Option<String>,
    pub(crate) environment: Option<EnvironmentRef>,
}

/// The environment a compose belongs to (for the dashboard link).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct EnvironmentRef {
    pub(crate) project_id: Option<String>,
}

/// One row of `deployment.allByCompose`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Deployment {
    pub(crate) deployment_id: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) log_path: Option<String>,
    pub(crate) error_message: Option<String>,
}

/// Where a deployment stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Still going (`running`, or a status this version does not know).
    Running,
    /// `done`.
    Done,
    /// `error` or `cancelled`: the status word.
    Failed(String),
}

impl Deployment {
    /// The phase of its `status` (a missing status is Dokploy's default, `running`).
    pub(crate) fn phase(&self) -> Phase {
        match self.status.as_deref().unwrap_or("running") {
            "done" => Phase::Done,
            s @ ("error" | "cancelled") => Phase::Failed(s.to_owned()),
            _ => Phase::Running,
        }
    }
}

/// A compose environment after the edit, and what changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvEdit {
    /// The new text (every other byte as it was).
    pub(crate) text: String,
    /// The keys that changed.
    pub(crate) changes: Vec<Change>,
}

/// Sets each change's key to its new tag in `current`, with the editor of `.env.versions`.
/// With `undo` (the automatic rollback of this run's release) only keys that still hold the
/// tag being undone (`old`) are restored: one changed since by someone else is left alone.
/// The error names the compose and the line, never a value of the environment.
pub(crate) fn edit_env(
    id: &str,
    current: &str,
    changed: &[ServiceChange],
    undo: bool,
) -> Result<EnvEdit, String> {
    let mut file = EnvFile::parse(current);
    let edits: Vec<(&str, &str)> = changed
        .iter()
        .filter(|c| !undo || file.get(&c.key) == c.old.as_deref())
        .map(|c| (c.key.as_str(), c.new.as_str()))
        .collect();
    match file.apply(&edits) {
        Ok(changes) => Ok(EnvEdit { text: file.render(), changes }),
        Err(InputError { value, rule, .. }) => {
            let at = if value.is_empty() { String::new() } else { format!(" at {value}") };
            Err(format!(
                "the environment of compose {id} (Dokploy: the compose's Environment tab){at} {rule}; nothing was changed"
            ))
        }
    }
}

/// The deployment this run queued: the one whose description holds `marker`, else the
/// newest one that was not there before the deploy (Dokploy before v0.25.0 ignores the
/// deploy's `title` and `description`: commit 90d98803).
pub(crate) fn find_ours<'a>(
    list: &'a [Deployment],
    before: &HashSet<String>,
    marker: &str,
) -> Option<&'a Deployment> {
    list.iter()
        .find(|d| d.description.as_deref().is_some_and(|t| t.contains(marker)))
        .or_else(|| list.iter().find(|d| !before.contains(&d.deployment_id)))
}

/// The deployment's title in Dokploy: `deploy-action deploy: api v1 → v2`.
pub(crate) fn title(changed: &[ServiceChange], rollback: bool) -> String {
    let what: Vec<String> = changed
        .iter()
        .map(|c| match &c.old {
            Some(old) if *old != c.new => format!("{} {old} → {}", c.service, c.new),
            _ => format!("{} {}", c.service, c.new),
        })
        .collect();
    let kind = if rollback { "rollback" } else { "deploy" };
    if what.is_empty() {
        format!("deploy-action {kind}")
    } else {
        format!("deploy-action {kind}: {}", what.join(", "))
    }
}

/// The compose's Deployments tab (`services/compose.ts` `deployCompose`'s `buildLink`).
pub(crate) fn dashboard_url(base: &str, id: &str, c: &Compose) -> Option<String> {
    let project = c.environment.as_ref()?.project_id.as_deref()?;
    let env = c.environment_id.as_deref()?;
    Some(format!(
        "{base}/dashboard/project/{project}/environment/{env}/services/compose/{id}?tab=deployments"
    ))
}

/// One container as `docker.getContainersByAppNameMatch` lists it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ContainerRow {
    pub(crate) container_id: String,
    pub(crate) name: String,
    pub(crate) state: String,
}

/// What `docker.getConfig` (`docker inspect`) says a container runs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Inspect {
    /// The local image id (`sha256:…` of the image config, not a registry digest).
    #[serde(rename = "Image")]
    pub(crate) image_id: String,
    #[serde(rename = "Config")]
    pub(crate) config: InspectConfig,
}

/// `Config` of `docker inspect`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct InspectConfig {
    /// The reference the container was created from (`ghcr.io/org/api:v2`).
    #[serde(rename = "Image")]
    pub(crate) image: String,
    #[serde(rename = "Labels")]
    pub(crate) labels: std::collections::BTreeMap<String, String>,
}

/// A running container of the compose: its compose service and image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Running {
    pub(crate) service: String,
    pub(crate) image: String,
    pub(crate) image_id: String,
}

/// `ghcr.io/org/api:v2` → (`ghcr.io/org/api`, `Some("v2")`); a digest reference has no tag.
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let name = reference.split('@').next().unwrap_or(reference);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) if !reference.contains('@') => (&name[..slash + i], Some(&name[slash + i + 1..])),
        Some(i) => (&name[..slash + i], None),
        None => (name, None),
    }
}

/// The changes a running container contradicts: one of the change's image repository runs
/// with another tag. Changes without a known image, or whose image no container runs, pass.
pub(crate) fn contradictions(running: &[Running], changed: &[ServiceChange]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changed {
        let Some(image) = c.image.as_deref() else { continue };
        for r in running {
            let (repo, tag) = split_reference(&r.image);
            if repo == image && tag != Some(c.new.as_str()) {
                out.push(format!("{} runs {} instead of {image}:{}", r.service, r.image, c.new));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(service: &str, old: Option<&str>, new: &str, image: Option<&str>) -> ServiceChange {
        ServiceChange {
            service: service.into(),
            key: crate::versions::tag_key("t", service).unwrap(),
            old: old.map(str::to_owned),
            new: new.into(),
            image: image.map(str::to_owned),
            digest: None,
        }
    }

    #[test]
    fn the_environment_edit_keeps_every_other_byte() {
        let env = "# prod\r\nDB_PASSWORD=\"s3cr3t#x\"\r\nAPI_IMAGE_TAG=v1 # pinned\r\nexport X=1";
        let both = [change("api", Some("v1"), "v2", None), change("web", None, "w1", None)];
        let e = edit_env("c1", env, &both, false).unwrap();
        assert_eq!(
            e.text,
            "# prod\r\nDB_PASSWORD=\"s3cr3t#x\"\r\nAPI_IMAGE_TAG=v2 # pinned\r\nexport X=1\r\nWEB_IMAGE_TAG=w1"
        );
        assert_eq!(e.changes.len(), 2);
        let same = edit_env("c1", &e.text, &[change("api", Some("v2"), "v2", None)], false).unwrap();
        assert!(same.changes.is_empty() && same.text == e.text);
        assert_eq!(
            edit_env("c1", "", &[change("api", None, "v2", None)], false).unwrap().text,
            "API_IMAGE_TAG=v2\n"
        );
    }

    #[test]
    fn a_rollback_restores_only_keys_that_hold_the_tag_it_undoes() {
        let back = [change("api", Some("v2"), "v1", None)];
        assert_eq!(edit_env("c", "API_IMAGE_TAG=v2\n", &back, true).unwrap().text, "API_IMAGE_TAG=v1\n");
        for untouched in ["WEB_IMAGE_TAG=w1", "API_IMAGE_TAG=v3\n"] {
            let e = edit_env("c", untouched, &back, true).unwrap();
            assert!(e.changes.is_empty() && e.text == untouched, "{untouched}");
        }
    }

    #[test]
    fn an_environment_that_cannot_be_edited_safely_is_refused_without_its_values() {
        let err = edit_env("c1", "A='open\nAPI_IMAGE_TAG=v1\n", &[change("api", None, "v2", None)], false)
            .unwrap_err();
        assert!(
            err.contains("compose c1") && err.contains("line 1") && err.contains("never closed"),
            "{err}"
        );
        assert!(!err.contains("open"), "{err}");
    }

    #[test]
    fn our_deployment_is_found_by_marker_then_by_novelty() {
        let d = |id: &str, desc: &str| Deployment {
            deployment_id: id.into(),
            description: Some(desc.into()),
            ..Default::default()
        };
        let before: HashSet<String> = ["old".to_owned()].into();
        let list = [d("other", "webhook"), d("mine", "staging; deploy-action ab12"), d("old", "")];
        assert_eq!(find_ours(&list, &before, "ab12").unwrap().deployment_id, "mine");
        assert_eq!(find_ours(&list[..1], &before, "ab12").unwrap().deployment_id, "other");
        assert!(find_ours(&list[2..], &before, "ab12").is_none());
    }

    #[test]
    fn statuses_map_to_phases() {
        let p = |s: Option<&str>| Deployment { status: s.map(str::to_owned), ..Default::default() }.phase();
        assert_eq!(p(Some("done")), Phase::Done);
        assert_eq!(p(Some("error")), Phase::Failed("error".into()));
        assert_eq!(p(Some("cancelled")), Phase::Failed("cancelled".into()));
        assert_eq!(p(Some("running")), Phase::Running);
        assert_eq!(p(None), Phase::Running);
    }

    #[test]
    fn a_container_of_the_image_on_another_tag_contradicts_the_rollout() {
        let r =
            |s: &str, i: &str| Running { service: s.into(), image: i.into(), image_id: "sha256:1".into() };
        let changed =
            [change("api", Some("v1"), "v2", Some("reg:5000/org/api")), change("web", None, "w2", None)];
        let ok = [r("api", "reg:5000/org/api:v2"), r("db", "postgres:16")];
        assert!(contradictions(&ok, &changed).is_empty());
        let stale = [r("api", "reg:5000/org/api:v1")];
        assert_eq!(
            contradictions(&stale, &changed),
            ["api runs reg:5000/org/api:v1 instead of reg:5000/org/api:v2"]
        );
        assert_eq!(split_reference("reg:5000/org/api@sha256:ab"), ("reg:5000/org/api", None));
        assert_eq!(split_reference("postgres"), ("postgres", None));
    }

    #[test]
    fn titles_say_what_changes() {
        assert_eq!(
            title(&[change("api", Some("v1"), "v2", None)], false),
            "deploy-action deploy: api v1 → v2"
        );
        assert_eq!(
            title(&[change("api", Some("v2"), "v1", None)], true),
            "deploy-action rollback: api v2 → v1"
        );
    }
}
