//! `command`: run the user's deploy command (`sh -c`) in the workspace with the versions in
//! its environment: for helmfile, kubectl, ansible or any script.

use super::process::run_streamed;
use super::{Rollout, Target, TargetError};
use std::path::PathBuf;

const NAME: &str = "command";

/// The command and where it runs.
#[derive(Clone, Debug)]
pub struct CommandTarget {
    /// The shell command (`deploy-command`).
    pub command: String,
    /// Working directory (the workspace).
    pub workdir: PathBuf,
    /// The environment it starts from (the action's, without `INPUT_*`); the versions are added.
    pub base_env: Vec<(String, String)>,
}

/// The variables the command gets on top of its base environment: every `KEY=VALUE` of the
/// versions, `DEPLOY_ENVIRONMENT`, `DEPLOY_ROLLBACK` (`true`/`false`) and `DEPLOY_SERVICES`
/// (the changed services, space-separated).
pub(crate) fn rollout_env(rollout: &Rollout) -> Vec<(String, String)> {
    let mut env = rollout.versions.clone();
    env.push(("DEPLOY_ENVIRONMENT".into(), rollout.environment.clone()));
    env.push(("DEPLOY_ROLLBACK".into(), rollout.rollback.to_string()));
    let services: Vec<&str> = rollout.changed.iter().map(|c| c.service.as_str()).collect();
    env.push(("DEPLOY_SERVICES".into(), services.join(" ")));
    env
}

impl Target for CommandTarget {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn deploy(
        &self,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&self.command)
            .current_dir(&self.workdir)
            .env_clear()
            .envs(self.base_env.iter().cloned())
            .envs(rollout_env(rollout));
        progress(&format!("command: running deploy-command in {}", self.workdir.display()));
        let done = run_streamed(cmd, None, "", progress)
            .await
            .map_err(|e| TargetError::failed(NAME, format!("cannot run sh: {e}")))?;
        if !done.status.success() {
            return Err(TargetError::failed(
                NAME,
                format!("deploy-command failed ({}){}", done.describe_status(), done.tail_block()),
            ));
        }
        Ok(())
    }
}
