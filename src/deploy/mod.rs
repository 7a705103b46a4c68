//! Orchestration: plan a release, gate production, record, deploy to a target, check health,
//! roll back. Pure planning lives in `plan` and `approval`; I/O goes through the Forge and
//! Target traits and the registry client.

pub mod approval;
mod auto_rollback;
pub(crate) mod gate;
pub mod health;
pub(crate) mod plan;
pub(crate) mod promote;
pub(crate) mod record;
pub(crate) mod release;
pub(crate) mod status;
pub(crate) mod targets;
