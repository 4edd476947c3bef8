//! Collectors: everything Vigil observes comes through here.
//!
//! - [`system`]: this machine (disk per data directory, CPU, memory, load, network).
//! - [`execution`]: execution nodes over JSON-RPC; [`client`] names their software.
//! - [`scrape`]: clients' Prometheus `/metrics`; [`http`] is the shared HTTP client.

pub mod client;
pub mod execution;
pub mod http;
pub mod scrape;
pub mod system;
