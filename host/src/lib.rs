//! # vigil
//!
//! The Vigil daemon and CLI as a library: collectors feed an embedded store, sandboxed
//! WASM plugins judge the data, and the findings go to alerting and the dashboard.
//! See `DESIGN.md` for the data path; each module is one stage of it.

pub mod alerts;
pub mod bench;
pub mod bench_alerts;
pub mod bench_analytics;
pub mod bench_web;
pub mod channels;
pub mod chart;
pub mod cli;
pub mod collect;
pub mod config;
pub mod daemon;
pub mod evaluate;
pub mod findings;
pub mod model;
pub mod plugins;
pub mod recorder;
pub mod report;
pub mod store;
pub mod term;
pub mod web;
