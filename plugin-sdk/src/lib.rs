//! # vigil-plugin-sdk
//!
//! Write rule plugins for [Vigil](https://example.invalid/vigil), the Ethereum validator
//! monitor. A plugin is a small Rust crate compiled to a sandboxed WebAssembly component:
//! it is handed observations (a completed epoch, a slot, a node tick, a network reset)
//! and answers with findings — alert conditions, scores, recommendations, derived series
//! and checks. The host runs the alert lifecycle, storage and delivery.
//!
//! The interesting things in this library:
//! - [`Plugin`]: the one trait you implement, and [`export_plugin!`] to export it;
//! - the contract's types re-exported at the root ([`Input`], [`Output`],
//!   [`AlertCondition`], …) with builders such as [`AlertCondition::new`];
//! - [`columns`]: reading per-validator columns with "unknown" as `None`;
//! - [`stats`] and [`threshold`]: window statistics, least-squares trends, thresholds
//!   and "N consecutive bad observations" streaks;
//! - [`clients`]: each client's metric names, peer target, flags and prune procedure;
//! - [`duties`]: per-epoch score contributions, the composite weights and duty alerts
//!   aggregated per node; [`windows`]: per-validator sums over 1d/7d/30d;
//! - [`config`]: typed configuration that rejects unknown keys by name;
//! - [`host`]: logging, history queries, persistent state and the evaluation clock;
//! - [`rules`]: what the host accepts back and its limits — the host's own checks;
//! - [`testing`] (native only): run your plugin's logic on fixture inputs in `cargo test`.
//!
//! ## A complete plugin
//!
//! ```
//! use vigil_plugin_sdk::prelude::*;
//!
//! #[derive(Deserialize, Serialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct Config { min_peers: u64 }
//! impl Default for Config { fn default() -> Self { Config { min_peers: 5 } } }
//!
//! #[derive(Default)]
//! struct PeersLow { min_peers: u64 }
//!
//! impl Plugin for PeersLow {
//!     type Config = Config;
//!     fn manifest() -> Manifest {
//!         Manifest::new("peers-low", "0.1.0").subscribe(InputKind::Node).config::<Config>()
//!     }
//!     fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
//!         self.min_peers = config.min_peers;
//!         Ok(())
//!     }
//!     fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
//!         let Input::Node(node) = input else { return Ok(()) };
//!         for cl in node.consensus.iter().filter(|cl| cl.peers.is_some_and(|p| p < self.min_peers)) {
//!             out.alert(AlertCondition::new("peers_low", Severity::High, "beacon node has few peers")
//!                 .subject("node", &cl.name).value(cl.peers.unwrap_or(0) as f64).threshold(self.min_peers as f64));
//!         }
//!         Ok(())
//!     }
//! }
//! export_plugin!(PeersLow);
//! # fn main() {}
//! ```
//!
//! Build it with `vigil plugins build path/to/crate` (it compiles for
//! `wasm32-unknown-unknown` and wraps the module as a component), then drop the `.wasm`
//! into the plugin folder: the running host picks it up within a second.
//!
//! ## The sandbox
//! A plugin has no files, network, environment, clock or randomness. Each call has a
//! memory cap (64 MiB by default), a CPU deadline, a cap on output size and on the number
//! of host calls. A plugin that traps or panics is restarted from a fresh instance on the
//! next call; after repeated failures it is quarantined until its file changes.

pub mod clients;
pub mod columns;
pub mod config;
pub mod duties;
pub mod host;
mod manifest;
pub mod output;
pub mod rules;
pub mod stats;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod threshold;
pub mod windows;

/// Bindings generated from `wit/vigil.wit`, the plugin contract. Plugin authors use the
/// re-exports at the crate root instead.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "vigil-plugin",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_guest",
        default_bindings_module: "vigil_plugin_sdk::bindings",
        additional_derives: [serde::Serialize, serde::Deserialize, Clone],
    });
}

#[doc(inline)]
pub use bindings::exports::vigil::plugin::plugin::{
    ConfigError, ConfigKey, PluginManifest as Manifest,
};
#[doc(inline)]
pub use bindings::vigil::plugin::inputs::{
    BlockOutcome, ClientVersion, ConsensusNode, Disk, EpochInput, ExecutionNode, Input,
    LabelColumn, MetricFamilySamples, NetworkStats, NodeInput, Proposal, ResetInput, SlotInput,
    SystemInfo, ValidatorColumns, ValidatorStatus,
};
#[doc(inline)]
pub use bindings::vigil::plugin::outputs::{
    AlertCondition, Check, CheckStatus, Output, Recommendation, SeriesPoint, SubjectScore,
    ValidatorScores, ValidatorSeries,
};
#[doc(inline)]
pub use bindings::vigil::plugin::types::{InputKind, Label, NetworkInfo, Severity};

/// The version of the contract this SDK builds against (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// What you implement to write a plugin.
///
/// The host creates one instance per loaded plugin (`Default`), calls
/// [`Plugin::configure`] with the operator's `[plugin.<name>]` table, then
/// [`Plugin::evaluate`] for every input the manifest subscribes to. The instance lives
/// across calls, so in-memory caches work, but it is recreated after a trap, a reload or
/// a restart: keep what must survive in [`host::state`].
pub trait Plugin: Default + 'static {
    /// Typed configuration. Use `#[serde(deny_unknown_fields, default)]` so a typo in the
    /// operator's TOML is refused by name rather than silently ignored.
    type Config: serde::de::DeserializeOwned + Default;

    /// Name, version and subscriptions. Called once after load.
    fn manifest() -> Manifest;

    /// Apply a configuration. Called after load and whenever the operator changes the
    /// plugin's table; return an error naming the key to refuse it (the host keeps the
    /// previous configuration running).
    fn configure(&mut self, config: Self::Config) -> Result<(), ConfigError>;

    /// Judge one observation and push findings into `out`. Return an error only when the
    /// plugin itself is broken; "the node is down" is an alert, not an error.
    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error>;
}

/// A plugin failure, reported by the host with the plugin's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        Error(message.to_string())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        Error(e.to_string())
    }
}

/// Everything a plugin usually needs, in one `use`.
pub mod prelude {
    pub use crate::columns::{Tri, UNKNOWN_I64, UNKNOWN_U64};
    pub use crate::config::parse_config;
    pub use crate::host;
    pub use crate::stats::{RatioSum, Window, linear_fit};
    pub use crate::threshold::{Streaks, Threshold};
    pub use crate::{
        AlertCondition, BlockOutcome, Check, CheckStatus, ConfigError, ConsensusNode, EpochInput,
        Error, ExecutionNode, Input, InputKind, Manifest, NodeInput, Output, Plugin,
        Recommendation, ResetInput, SeriesPoint, Severity, SlotInput, SubjectScore,
        ValidatorColumns, ValidatorScores, ValidatorSeries, export_plugin,
    };
    pub use serde::{Deserialize, Serialize};
}

/// Glue used by [`export_plugin!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    use crate::{ConfigError, Input, Manifest, Output, Plugin};

    pub fn manifest<P: Plugin>() -> Manifest {
        P::manifest()
    }

    /// Route panic messages to the host log, so the host can say why a plugin trapped
    /// ("panicked at src/logic.rs:42: index out of bounds") instead of "unreachable".
    pub fn install_panic_hook() {
        #[cfg(target_arch = "wasm32")]
        {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                std::panic::set_hook(Box::new(|info| {
                    crate::host::log(crate::host::LogLevel::Error, &info.to_string());
                }));
            });
        }
    }

    pub fn configure<P: Plugin>(plugin: &mut P, json: &str) -> Result<(), ConfigError> {
        install_panic_hook();
        let config = crate::config::parse_config::<P::Config>(json)?;
        plugin.configure(config)
    }

    pub fn evaluate<P: Plugin>(plugin: &mut P, input: Input) -> Result<Output, String> {
        install_panic_hook();
        let mut out = Output::default();
        plugin
            .evaluate(&input, &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// Export a [`Plugin`] implementation as the component's `plugin` interface.
///
/// Use it once, at the root of the plugin crate. On native targets (unit tests, the
/// [`testing`] harness) it expands to nothing, so the plugin's logic can be linked into
/// any test or benchmark.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static INSTANCE: ::core::cell::RefCell<$plugin> =
                    ::core::cell::RefCell::new(<$plugin as ::core::default::Default>::default());
            }
            struct VigilGuest;
            impl $crate::bindings::exports::vigil::plugin::plugin::Guest for VigilGuest {
                fn manifest() -> $crate::Manifest {
                    $crate::__private::manifest::<$plugin>()
                }
                fn configure(
                    config: ::std::string::String,
                ) -> ::core::result::Result<(), $crate::ConfigError> {
                    INSTANCE.with(|p| $crate::__private::configure(&mut *p.borrow_mut(), &config))
                }
                fn evaluate(
                    input: $crate::Input,
                ) -> ::core::result::Result<$crate::Output, ::std::string::String> {
                    INSTANCE.with(|p| $crate::__private::evaluate(&mut *p.borrow_mut(), input))
                }
            }
            $crate::bindings::__export_guest!(VigilGuest);
        };
    };
}
