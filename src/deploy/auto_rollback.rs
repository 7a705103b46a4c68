//! The automatic rollback of a release whose deploy or health check failed: the previous
//! tags are recorded again (a commit saying why), redeployed and health-checked.

use super::health::HealthCheck;
use super::release::{Progress, ReleaseError, Settings, deploy_and_check, moved_on};
use super::targets::{Rollout, ServiceChange, Target};
use crate::envfile::EnvFile;
use crate::forge::{Forge, RetryPolicy, update_env_file_if};
use crate::versions::{self, TagEdit};

/// The health checks of a rollback: a `health-body` that names a new tag expects the
/// restored (old) tag instead.
fn rollback_checks(checks: &[HealthCheck], changes: &[ServiceChange]) -> Vec<HealthCheck> {
    checks
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if let Some(body) = &mut c.body_contains {
                for ch in changes {
                    if let Some(old) = ch.old.as_deref().filter(|_| body.contains(ch.new.as_str())) {
                        *body = body.replace(ch.new.as_str(), old);
                    }
                }
            }
            c
        })
        .collect()
}

/// Restores the previous tags (one commit), redeploys them and checks health: the error to
/// fail with, `RolledBack` when that worked, `Failed` when it did not or was not possible.
pub(super) async fn roll_back<F: Forge, T: Target>(
    forge: &F,
    target: &T,
    s: &Settings,
    changes: &[ServiceChange],
    reason: &str,
    progress: Progress<'_>,
) -> ReleaseError {
    let failed = |rollback: String| ReleaseError::Failed { reason: reason.into(), rollback: Some(rollback) };
    if !s.rollback_on_failure {
        return failed("rollback-on-failure is off".into());
    }
    // The changes that had a different previous tag: those are restored.
    let restorable: Vec<&ServiceChange> =
        changes.iter().filter(|c| c.old.as_deref().is_some_and(|o| o != c.new)).collect();
    let restore: Vec<TagEdit> = restorable
        .iter()
        .filter_map(|c| {
            Some(TagEdit {
                service: c.service.clone(),
                key: c.key.clone(),
                tag: c.old.clone()?,
                input: "rollback".into(),
            })
        })
        .collect();
    if restore.is_empty() {
        return failed("there were no previous versions to restore".into());
    }
    progress(&format!(
        "rolling back: {}",
        restore.iter().map(|t| format!("{} → {}", t.service, t.tag)).collect::<Vec<_>>().join(", ")
    ));
    let meta = s.meta.clone();
    let edits = versions::deploy_edits(&restore, &meta);
    let why = reason.to_owned();
    // Restore only over this release's own tags: one recorded by a later release stays.
    let still_ours = |file: &EnvFile| match moved_on(restorable.iter().copied(), file) {
        None => Ok(()),
        Some((c, now)) => Err(format!(
            "{} is now {} (recorded by another release after this one), so it was not restored",
            c.key,
            now.unwrap_or("(unset)")
        )),
    };
    let update = match update_env_file_if(
        forge,
        &s.repo,
        &s.branch,
        &s.env_file,
        &edits,
        still_ours,
        |c| versions::commit_message("rollback", Some(&format!("automatic: {why}")), &restore, c, &meta),
        &RetryPolicy::for_updates(),
    )
    .await
    {
        Ok(u) => u,
        Err(e) => return failed(format!("the rollback could not be recorded: {e}")),
    };
    let back: Vec<ServiceChange> = changes
        .iter()
        .filter_map(|c| {
            Some(ServiceChange { old: Some(c.new.clone()), new: c.old.clone()?, digest: None, ..c.clone() })
        })
        .collect();
    let rollout = Rollout {
        environment: s.environment.clone(),
        versions: EnvFile::parse(&update.text).entries().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        changed: back.clone(),
        rollback: true,
    };
    let restored = back.iter().map(|c| format!("{} {}", c.service, c.new)).collect::<Vec<_>>().join(", ");
    match deploy_and_check(target, &rollback_checks(&s.health, changes), &rollout, progress).await {
        Ok(()) => {
            progress(&format!("rolled back to {restored}; healthy"));
            ReleaseError::RolledBack { reason: reason.into(), restored }
        }
        Err(e) => failed(format!("the rollback to {restored} failed too: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_rollback_expects_the_old_version_in_the_health_body() {
        let mut check = HealthCheck::new("http://127.0.0.1:1/health", Duration::from_secs(1));
        check.body_contains = Some("version v2.0.0".into());
        let plain = HealthCheck::new("http://127.0.0.1:1/ready", Duration::from_secs(1));
        let change = ServiceChange {
            service: "api".into(),
            key: "API_IMAGE_TAG".into(),
            old: Some("v1.9.0".into()),
            new: "v2.0.0".into(),
            image: None,
            digest: None,
        };
        let back = rollback_checks(&[check, plain], &[change]);
        assert_eq!(back[0].body_contains.as_deref(), Some("version v1.9.0"));
        assert_eq!(back[1].body_contains, None);
    }
}
