//! Integration tests: one binary, a module per topic. Plugins used here are built from
//! source by [`support::plugins`] on first use (the shipped ones from `plugins/`, the
//! hostile and fixture ones from `tests/plugins/`), never taken pre-built.

// Tests state their expectations with unwrap/expect: a failure is the point.
#![allow(clippy::unwrap_used)]

mod support;

mod alertmanager;
mod alerts;
mod alerts_daemon;
pub(crate) mod analytics;
mod architecture;
mod chain;
mod chain_faults;
mod cli;
mod config_reload;
mod contract;
mod email;
mod execution;
mod hostile;
mod hot_reload;
mod lodestar_live;
mod record;
mod scrape;
mod store;
mod web;
mod web_live;
mod web_prometheus;
