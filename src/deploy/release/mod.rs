//! A release, in order, stopping at the first failure with nothing half-done:
//! [`check`] (every tag exists; no silent downgrade; tag rules) → [`gate`] (production is
//! protected by the forge or by the approval issue) → [`apply`] (record `.env.versions`, open
//! the deployment, deploy, health-check, report; on failure roll back automatically).

mod error;
mod settings;

pub(crate) use error::ReleaseError;
pub(crate) use settings::*;

use super::approval::PlannedChange;
use super::auto_rollback::roll_back;
pub(crate) use super::gate::{Gated, gate};
use super::health::HealthCheck;
use super::plan::{self, Provenance};
use super::record::{Record, job_deployment, open_deployment, report, retire_previous};
use super::targets::{Rollout, ServiceChange, Target};
use crate::envfile::EnvFile;
use crate::forge::{DeployState, DeploymentRequest, Forge, RetryPolicy, update_env_file_if};
use crate::registry::{Reference, Registries};
use crate::versions::{self};
use futures::StreamExt;

/// The verified plan.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    /// The services that change, with their running tags and the digest each requested tag
    /// resolves to (always `Some` here).
    pub changes: Vec<ServiceChange>,
}

impl Checked {
    /// The plan as the approval issue carries it.
    pub(crate) fn planned(&self) -> Vec<PlannedChange> {
        self.changes.iter().map(|c| PlannedChange::new(c, c.digest.clone())).collect()
    }

    /// `service → digest` of each change.
    pub(crate) fn digests(&self) -> serde_json::Map<String, serde_json::Value> {
        self.changes
            .iter()
            .map(|c| (c.service.clone(), c.digest.clone().unwrap_or_default().into()))
            .collect()
    }
}

/// Progress lines for the job log.
pub(crate) type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// Steps 1–2: every requested tag exists, is allowed here and is no silent downgrade.
pub(crate) async fn check<F: Forge>(
    forge: &F,
    registries: &Registries,
    s: &Settings,
    progress: Progress<'_>,
) -> Result<Checked, ReleaseError> {
    let current = forge.get_file(&s.repo, &s.env_file, Some(&s.branch)).await?;
    let current = EnvFile::parse(current.as_ref().map(|f| f.text.as_str()).unwrap_or_default());
    let changes = plan::changes(&current, &s.tags, &s.images);
    // Each service's checks are independent registry reads: a few at once, results in order.
    let digests: Vec<Result<String, ReleaseError>> = futures::stream::iter(&changes)
        .map(|c| check_change(registries, s, c, progress))
        .buffered(CONCURRENT_CHECKS)
        .collect()
        .await;
    let digests = digests.into_iter().collect::<Result<Vec<_>, _>>()?;
    let changes =
        changes.into_iter().zip(digests).map(|(c, d)| ServiceChange { digest: Some(d), ..c }).collect();
    Ok(Checked { changes })
}

/// Services verified at once.
const CONCURRENT_CHECKS: usize = 4;

/// One service of step 1: the tag is allowed, exists (its digest), and is no silent downgrade.
async fn check_change(
    registries: &Registries,
    s: &Settings,
    c: &ServiceChange,
    progress: Progress<'_>,
) -> Result<String, ReleaseError> {
    s.tag_rules.check(&s.environment, &c.new).map_err(|rule| ReleaseError::TagRule {
        service: c.service.clone(),
        tag: c.new.clone(),
        rule,
    })?;
    let image =
        c.image.as_deref().ok_or_else(|| ReleaseError::UnknownImage { service: c.service.clone() })?;
    let reference = Reference::parse(&format!("{image}:{}", c.new))?;
    let client = registries.client(&reference.registry)?;
    let Some(digest) = client.manifest_digest(&reference.repository, &c.new).await? else {
        return Err(ReleaseError::MissingImage {
            service: c.service.clone(),
            reference: reference.to_string(),
        });
    };
    progress(&format!("{}: {reference} exists ({digest})", c.service));
    let Some(old) = c.old.as_deref().filter(|o| *o != c.new) else { return Ok(digest) };
    if s.kind == Kind::Rollback || s.allow_downgrade {
        return Ok(digest);
    }
    let running = match client.image_config(&reference.repository, old).await? {
        Some(cfg) => Provenance::from_config(&cfg),
        None => {
            progress(&format!(
                "{}: the running tag {old} is no longer in the registry; downgrade check skipped",
                c.service
            ));
            return Ok(digest);
        }
    };
    let requested = client.image_config(&reference.repository, &c.new).await?.unwrap_or_default();
    if let Some(why) = plan::downgrade(&running, &Provenance::from_config(&requested)) {
        return Err(ReleaseError::Downgrade {
            service: c.service.clone(),
            old: old.to_owned(),
            new: c.new.clone(),
            why,
        });
    }
    Ok(digest)
}

/// What a successful release did.
#[derive(Clone, Debug)]
pub(crate) struct Applied {
    /// The `.env.versions` commit (empty when the file already held these tags).
    pub commit_sha: String,
    /// The services changed, with their previous tags as recorded.
    pub changes: Vec<ServiceChange>,
    /// The GitHub deployment id, if any.
    pub deployment: Option<u64>,
    /// What the gate said.
    pub protection: String,
}

/// The first change whose key holds neither the tag it was planned from nor the new one,
/// with what it holds: another release of that service was recorded meanwhile.
pub(super) fn moved_on<'a, 'f>(
    changes: impl IntoIterator<Item = &'a ServiceChange>,
    file: &'f EnvFile,
) -> Option<(&'a ServiceChange, Option<&'f str>)> {
    changes.into_iter().find_map(|c| {
        let now = file.get(&c.key);
        (now != c.old.as_deref() && now != Some(c.new.as_str())).then_some((c, now))
    })
}

/// Refuses when [`moved_on`] finds a change: writing over it could put an older build live
/// (the downgrade guard ran against the tag read before).
fn unchanged_since_planned(changes: &[ServiceChange], file: &EnvFile) -> Result<(), String> {
    match moved_on(changes, file) {
        None => Ok(()),
        Some((c, now)) => Err(format!(
            "{} changed from {} to {} while this release ran (another release of {} was \
             recorded meanwhile); run it again to deploy {} over that one",
            c.key,
            c.old.as_deref().unwrap_or("(unset)"),
            now.unwrap_or("(unset)"),
            c.service,
            c.new
        )),
    }
}

/// Steps 4–7: open (or adopt) the deployment, record, deploy, check health, report; roll
/// back on failure.
pub(crate) async fn apply<F: Forge, T: Target>(
    forge: &F,
    target: &T,
    s: &Settings,
    checked: &Checked,
    protection: String,
    progress: Progress<'_>,
) -> Result<Applied, ReleaseError> {
    let deployment = deployment_for(forge, s, checked, progress).await?;
    let recorded = record_versions(forge, s, checked, deployment, progress).await?;
    let record = match deployment {
        Some(id) => Record::Deployment(id),
        None => Record::Status(recorded.commit_sha.clone()),
    };
    report(forge, s, &record, DeployState::InProgress, &describe(s.kind, &checked.changes), progress).await;
    let rollout = Rollout {
        environment: s.environment.clone(),
        versions: recorded.versions.clone(),
        changed: recorded.changes.clone(),
        rollback: s.kind == Kind::Rollback,
    };
    let changes = recorded.changes;
    match deploy_and_check(target, &s.health, &rollout, progress).await {
        Ok(()) => {
            let healthy = format!("{} healthy", describe(s.kind, &changes));
            report(forge, s, &record, DeployState::Success, &healthy, progress).await;
            if let Some(id) = deployment {
                retire_previous(forge, s, id, progress).await;
            }
            Ok(Applied { commit_sha: recorded.commit_sha, changes, deployment, protection })
        }
        Err(reason) => {
            progress(&format!("failed: {reason}"));
            let err = roll_back(forge, target, s, &changes, &reason, progress).await;
            report(forge, s, &record, DeployState::Failure, &err.to_string(), progress).await;
            Err(err)
        }
    }
}

/// The deployment this release reports on where the forge has deployments: the one GitHub
/// made for the job's environment, else a new one.
async fn deployment_for<F: Forge>(
    forge: &F,
    s: &Settings,
    checked: &Checked,
    progress: Progress<'_>,
) -> Result<Option<u64>, ReleaseError> {
    if !forge.capabilities().deployments {
        return Ok(None);
    }
    if let Some(id) = job_deployment(forge, s).await {
        progress(&format!(
            "deployment {id} (made by GitHub for this job's environment) reports this release"
        ));
        return Ok(Some(id));
    }
    let versions: serde_json::Map<String, serde_json::Value> =
        checked.changes.iter().map(|c| (c.service.clone(), c.new.clone().into())).collect();
    let request = DeploymentRequest {
        git_ref: s.branch.clone(),
        environment: s.environment.clone(),
        description: describe(s.kind, &checked.changes),
        payload: serde_json::json!({ "command": s.kind.name(), "versions": versions, "digests": checked.digests() }),
        production: s.is_protected(),
    };
    let id = open_deployment(forge, s, &request, progress).await?;
    progress(&format!("deployment {id} opened for {}", s.environment));
    Ok(Some(id))
}

/// What recording the versions file left.
struct Recorded {
    /// The commit this run made (found again when its answer was lost); empty when the file
    /// already held these tags.
    commit_sha: String,
    /// The file's entries after the commit.
    versions: Vec<(String, String)>,
    /// The changes, with the previous tags as the commit replaced them.
    changes: Vec<ServiceChange>,
}

/// Step 4: commits the new tags, refusing when a planned service moved on meanwhile; a
/// failure is reported on the deployment.
async fn record_versions<F: Forge>(
    forge: &F,
    s: &Settings,
    checked: &Checked,
    deployment: Option<u64>,
    progress: Progress<'_>,
) -> Result<Recorded, ReleaseError> {
    let edits = versions::deploy_edits(&s.tags, &s.meta);
    let recorded = update_env_file_if(
        forge,
        &s.repo,
        &s.branch,
        &s.env_file,
        &edits,
        |file| unchanged_since_planned(&checked.changes, file),
        |changes| versions::commit_message(verb(s.kind), None, &s.tags, changes, &s.meta),
        &RetryPolicy::for_updates(),
    )
    .await;
    let update = match recorded {
        Ok(u) => u,
        Err(e) => {
            if let Some(id) = deployment {
                let why = format!("recording failed: {e}");
                report(forge, s, &Record::Deployment(id), DeployState::Error, &why, progress).await;
            }
            return Err(e.into());
        }
    };
    let mut commit_sha = update.commit.as_ref().map(|c| c.commit_sha.clone()).unwrap_or_default();
    if commit_sha.is_empty() && update.attempts > 1 {
        // A write whose answer was lost landed: the retry found the file already edited. The
        // commit that recorded it is the file's newest (the status and output belong on it).
        if let Ok(commits) = forge.list_commits(&s.repo, &s.env_file, &s.branch, 1).await {
            commit_sha = commits.into_iter().next().map(|c| c.sha).unwrap_or_default();
        }
    }
    let outcome = if commit_sha.is_empty() {
        "already records these tags".to_owned()
    } else {
        format!("recorded in {commit_sha}")
    };
    progress(&format!("{}@{}: {outcome}", s.repo, s.branch));
    let changes = checked
        .changes
        .iter()
        .map(|c| {
            let replaced = update.changes.iter().find(|u| u.key == c.key).map(|u| u.old.clone());
            let old = replaced.unwrap_or(c.old.clone());
            ServiceChange { old: old.filter(|o| !o.is_empty()), ..c.clone() }
        })
        .collect();
    let versions =
        EnvFile::parse(&update.text).entries().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    Ok(Recorded { commit_sha, versions, changes })
}

/// Deploys to the target, then runs every health check; the error says which failed.
pub(super) async fn deploy_and_check<T: Target>(
    target: &T,
    checks: &[HealthCheck],
    rollout: &Rollout,
    progress: Progress<'_>,
) -> Result<(), String> {
    let mut log = |line: &str| progress(line);
    target.deploy_checked(rollout, checks, &mut log).await
}

/// One line for deployment descriptions: `release api v1 → v2, web v3`.
pub(crate) fn describe(kind: Kind, changes: &[ServiceChange]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| match &c.old {
            Some(old) if *old != c.new => format!("{} {old} → {}", c.service, c.new),
            _ => format!("{} {}", c.service, c.new),
        })
        .collect();
    format!("{} {}", kind.name(), parts.join(", "))
}

/// The commit subject's verb for each kind (`rollback: api v2 → v1`).
pub(super) fn verb(kind: Kind) -> &'static str {
    match kind {
        Kind::Release => "deploy",
        Kind::Rollback => "rollback",
        Kind::Promote => "promote",
    }
}
