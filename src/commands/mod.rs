//! One module per command: arguments -> settings -> modules -> [`Report`](crate::runner::Report).

pub mod env;
pub mod tags;
