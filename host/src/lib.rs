//! # vigil
//!
//! The Vigil daemon and CLI as a library: collectors feed an embedded store, sandboxed
//! WASM plugins judge the data, and the findings go to alerting and the dashboard.
//!
//! ## Layers
//! Data flows one way: collect → store → evaluate (plugins) → alerts → channels; the web,
//! the CLI and reports only read. Modules are listed bottom to top; a module imports only
//! modules listed before it (`tests/it/architecture.rs` checks this on every test run):
//!
//! 1. foundations: [`clock`], [`model`], [`term`], [`logging`], [`net`], [`chart`],
//!    [`contract`] (the plugin contract's types);
//! 2. [`config`]: the TOML configuration, values only;
//! 3. [`store`]: the embedded redb store;
//! 4. [`collect`]: beacon, execution, `/metrics`, this machine;
//! 5. [`recorder`]: what the collectors observed, into the store;
//! 6. [`plugins`]: the sandbox, the registry, hot reload;
//! 7. [`evaluate`], then [`findings`]: running plugins on inputs, and the dashboard snapshot;
//! 8. [`alerts`]: lifecycle, silences, grouping, routing; queues notifications;
//! 9. [`channels`]: delivering queued notifications (the outbox workers);
//! 10. [`view`], [`report`], [`web`]: what people read;
//! 11. [`daemon`] wires every part together; [`cli`] is the command line.

pub mod alerts;
pub mod channels;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod config;
pub mod contract;
pub mod daemon;
pub mod evaluate;
pub mod findings;
pub mod logging;
pub mod model;
pub mod net;
pub mod plugins;
pub mod recorder;
pub mod report;
pub mod store;
pub mod term;
pub mod view;
pub mod web;
