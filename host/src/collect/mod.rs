//! Collectors: everything Vigil observes comes through here.
//!
//! - [`beacon`]: the Beacon REST API of one node, client differences handled;
//! - [`events`]: its SSE event stream;
//! - [`chain`]: the consensus side slot by slot, into per-epoch validator outcomes;
//! - [`execution`]: execution nodes over JSON-RPC; [`client`] names their software;
//! - [`scrape`]: clients' Prometheus `/metrics` (the HTTP client they share is [`crate::net`]);
//! - [`system`]: this machine (disk per data directory, CPU, memory, load, network).

pub mod beacon;
pub mod chain;
pub mod client;
pub mod events;
pub mod execution;
pub mod scrape;
pub mod system;
