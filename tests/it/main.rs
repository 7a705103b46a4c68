//! The one integration-test binary: runs the real `deploy-action` binary as a runner would.

mod registry;
mod registry_faults;
mod registry_skopeo;
mod support;
mod tags_action;
