//! The one integration-test binary: runs the real `deploy-action` binary as a runner would.

mod registry;
mod support;
mod tags_action;
