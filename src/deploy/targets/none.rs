//! `none`: record only. The versions are committed; something else (a GitOps controller, a
//! person) deploys them.

use super::{Rollout, Target, TargetError};

/// The target that deploys nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTarget;

impl Target for NoTarget {
    fn name(&self) -> &'static str {
        "none"
    }

    async fn deploy(
        &self,
        rollout: &Rollout,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), TargetError> {
        progress(&format!(
            "target none: {} recorded for {}; nothing was deployed",
            if rollout.changed.is_empty() {
                "no change".to_owned()
            } else {
                format!("{} service(s)", rollout.changed.len())
            },
            rollout.environment
        ));
        Ok(())
    }
}
