//! The one integration-test binary: runs the real `deploy-action` binary as a runner would.

mod build_act;
mod build_docker;
mod build_files;
mod docs;
mod runner_act;
mod support;
mod tags_action;
