//! One module per command: arguments -> settings -> modules -> [`Report`](crate::runner::Report).

pub mod approve;
pub mod build;
mod build_inputs;
pub mod copy;
pub mod deploy;
pub mod dispatch;
pub mod env_file;
pub mod environment;
pub mod forge_args;
pub mod inspect;
pub mod orchestration_args;
pub mod promote;
pub mod publish;
pub mod push;
pub mod record;
pub mod release;
pub mod rollback;
pub mod shared_args;
pub mod status;
pub mod tags;
