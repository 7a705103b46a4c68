//! Orchestration: health checks now; release, rollback, promote, approval and targets later.

pub mod health;
