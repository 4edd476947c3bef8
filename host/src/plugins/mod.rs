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

pub mod bindings;
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

/// Contract types, re-exported for the rest of the host.
pub mod types {
    pub use super::bindings::exports::vigil::plugin::plugin::{
        ConfigError, ConfigKey, PluginManifest as Manifest,
    };
    pub use super::bindings::vigil::plugin::inputs::{
        BlockOutcome, ClientVersion, ConsensusNode, Disk, EpochInput, ExecutionNode, Input,
        LabelColumn, MetricFamilySamples, NetworkStats, NodeInput, Proposal, ResetInput, SlotInput,
        SystemInfo, ValidatorColumns, ValidatorStatus,
    };
    pub use super::bindings::vigil::plugin::outputs::{
        AlertCondition, Check, CheckStatus, Output, Recommendation, SeriesPoint, SubjectScore,
        ValidatorScores, ValidatorSeries,
    };
    pub use super::bindings::vigil::plugin::types::{InputKind, NetworkInfo, Severity};
}

impl types::SystemInfo {
    /// A `system` section with nothing known (no sample taken, or a fixture).
    pub fn unknown() -> types::SystemInfo {
        types::SystemInfo {
            disks: Vec::new(),
            cpu_percent: None,
            load1: None,
            load5: None,
            load15: None,
            memory_used_bytes: None,
            memory_total_bytes: None,
            net_rx_bytes: None,
            net_tx_bytes: None,
            clock_offset_ms: None,
        }
    }
}
