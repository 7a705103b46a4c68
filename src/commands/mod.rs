//! One module per command: arguments -> settings -> modules -> [`Report`](crate::runner::Report).

pub mod copy;
pub mod inspect;
pub mod push;
pub mod tags;
