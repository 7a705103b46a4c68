//! One module per command: arguments -> settings -> modules -> [`Report`](crate::runner::Report).

pub mod build;
pub mod dispatch;
pub mod env;
pub mod forge_args;
pub mod record;
pub mod tags;
