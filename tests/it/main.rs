//! The one integration-test binary: runs the real `deploy-action` binary as a runner would.

mod envfile_cli;
mod envfile_fixtures;
mod forge_commands;
mod forge_ops;
mod forge_update;
mod support;
mod tags_action;
