//! OCI Distribution client: references, authentication, blobs with resumable uploads,
//! manifests kept byte-exact, OCI layouts, and push/copy of whole images.
//!
//! Entry points: [`Registries`] (one client per registry), [`OciLayout::open`],
//! [`transfer::graph`] + [`transfer::send_everywhere`] to push or copy, and
//! [`RegistryClient::manifest_digest`] to check that a tag exists.

pub mod auth;
pub mod blob;
pub mod client;
mod config;
pub mod error;
pub mod fanout;
pub mod layout_source;
pub mod manifest;
pub mod reference;
pub mod transfer;

pub use auth::{Credential, Credentials};
pub use client::{ClientOptions, Registries, RegistryClient};
pub use error::RegistryError;
pub use layout_source::OciLayout;
pub use manifest::RawManifest;
pub use reference::Reference;
