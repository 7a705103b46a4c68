//! One module per command: arguments -> settings -> modules -> [`Report`](crate::runner::Report).

pub(crate) mod approve;
pub(crate) mod build;
mod build_inputs;
pub(crate) mod copy;
pub(crate) mod deploy;
pub(crate) mod dispatch;
pub(crate) mod env_file;
pub(crate) mod environment;
pub(crate) mod forge_args;
pub(crate) mod inspect;
pub(crate) mod orchestration_args;
pub(crate) mod promote;
pub(crate) mod publish;
pub(crate) mod push;
pub(crate) mod record;
pub(crate) mod registry_auth;
pub(crate) mod release;
pub(crate) mod rollback;
pub(crate) mod shared_args;
pub(crate) mod status;
pub(crate) mod tags;
