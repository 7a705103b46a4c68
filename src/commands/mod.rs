//! One module per command: arguments -> settings -> modules -> [`Report`](crate::runner::Report).

pub mod build;
pub mod tags;
