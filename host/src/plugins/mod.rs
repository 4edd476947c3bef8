//! Sandboxed WASM rule plugins: loading, running, hot reload.
//!
//! - [`runtime`]: the engine, the sandbox limits and one plugin's component;
//! - [`host_api`]: the imports a plugin is granted;
//! - [`cache`]: compiled components kept on disk, keyed by wasm hash and engine;
//! - [`contract`]: refusing components that are not plugins of this contract version;
//! - [`registry`]: the live plugin set, atomic swaps, failures and quarantine;
//! - [`watch`]: file watching for the plugin folder;
//! - [`output`]: validating what a plugin returns;
//! - [`build`]: compiling a plugin crate and wrapping it as a component.

pub mod build;
pub mod cache;
pub mod contract;
mod error;
pub mod host_api;
pub mod output;
pub mod registry;
pub mod runtime;
pub mod watch;

pub use error::PluginError;
pub use registry::{LoadedPlugin, PluginSet, Registry, ScanReport};
pub use runtime::{Limits, PluginModule, Runtime};

/// The contract version this host speaks: the version of `plugin-sdk/wit/vigil.wit`.
pub const CONTRACT_VERSION: &str = "0.2.0";
