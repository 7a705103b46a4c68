//! Why a release stopped.

use crate::deploy::approval::ApprovalError;
use crate::forge::{ForgeError, UpdateError};
use crate::registry::RegistryError;

/// Why a release stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReleaseError {
    /// A requested image tag is not in its registry; nothing was changed.
    #[error("{service}: {reference} does not exist in the registry; nothing was changed")]
    MissingImage {
        /// Service.
        service: String,
        /// `registry/repo:tag`.
        reference: String,
    },
    /// No image is known for a service, so its tag cannot be verified.
    #[error("{service}: no image is known for it: add `{service}=registry/repository` to `images`")]
    UnknownImage {
        /// Service.
        service: String,
    },
    /// The tag is not allowed in this environment.
    #[error("{service}: {tag}: {rule}; nothing was changed")]
    TagRule {
        /// Service.
        service: String,
        /// Tag.
        tag: String,
        /// The rule.
        rule: String,
    },
    /// The requested image is older than the running one.
    #[error(
        "{service}: {old} → {new} is a downgrade: {why}. Use `command: rollback` or `allow-downgrade: true` if this is intended; nothing was changed"
    )]
    Downgrade {
        /// Service.
        service: String,
        /// Running tag.
        old: String,
        /// Requested tag.
        new: String,
        /// The labels' story.
        why: String,
    },
    /// The approval issue would be opened in `resume` mode without a key to sign it.
    #[error(
        "{environment} needs the approval issue, and approval-mode: resume needs approval-key to sign it (approve accepts only signed issues); nothing was changed. Create one (openssl rand -hex 32), store it as the DEPLOY_APPROVAL_KEY secret and pass it to this step and to the approve workflow"
    )]
    NoApprovalKey {
        /// The environment.
        environment: String,
    },
    /// A protected environment has no protection and none was allowed.
    #[error("{environment} is protected but {why}; nothing was changed. {fix}")]
    Unprotected {
        /// Environment.
        environment: String,
        /// What is missing.
        why: String,
        /// How to fix it.
        fix: String,
    },
    /// An approver denied the release.
    #[error("denied by {by}{}: {url}", if .reason.is_empty() { String::new() } else { format!(" ({})", .reason) })]
    Denied {
        /// Who.
        by: String,
        /// Why.
        reason: String,
        /// The issue.
        url: String,
    },
    /// Waiting for approval failed.
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The forge failed.
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// Recording `.env.versions` failed.
    #[error(transparent)]
    Record(#[from] UpdateError),
    /// The deploy or health check failed; the previous versions were restored.
    #[error("{reason}; rolled back to {restored}")]
    RolledBack {
        /// What failed.
        reason: String,
        /// What runs now.
        restored: String,
    },
    /// The deploy or health check failed and was not (or could not be) rolled back.
    #[error("{reason}{}", .rollback.as_ref().map(|r| format!("; {r}")).unwrap_or_default())]
    Failed {
        /// What failed.
        reason: String,
        /// What happened to the rollback, if one was tried or skipped for a reason.
        rollback: Option<String>,
    },
}
