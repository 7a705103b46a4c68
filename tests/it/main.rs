//! The one integration-test binary: runs the real `deploy-action` binary as a runner would.

mod build_act;
mod build_docker;
mod build_files;
mod docs;
mod e2e;
mod envfile_cli;
mod envfile_fixtures;
mod forge_commands;
mod forge_ops;
mod forge_update;
mod health;
mod metadata_action_diff;
mod readme_conventions;
mod registry;
mod registry_faults;
mod registry_skopeo;
mod runner_act;
mod runner_fixtures;
mod sshd_harness;
mod support;
mod tags_action;
mod tags_fixtures;
