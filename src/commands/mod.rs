//! One module per command: arguments -> settings -> modules -> [`Report`](crate::runner::Report).

pub mod build;
pub mod copy;
pub mod dispatch;
pub mod env;
pub mod environment;
pub mod forge_args;
pub mod inspect;
pub mod push;
pub mod record;
pub mod tags;
