//! Orchestration: targets and health checks; release, rollback, promote and approval.

pub mod health;
pub mod target;
