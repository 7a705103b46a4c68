//! Orchestration: plan a release, gate production, record, deploy to a target, check health,
//! roll back. Pure planning lives in `plan` and `approval`; I/O goes through the Forge and
//! Target traits and the registry client.

pub mod approval;
mod auto_rollback;
pub mod gate;
pub mod health;
pub mod plan;
pub mod promote;
pub mod record;
pub mod release;
pub mod status;
pub mod targets;
