//! The one integration-test binary: runs the real `deploy-action` binary as a runner would.

mod support;
mod tags_action;
mod tags_fixtures;
