//! Collectors: everything Vigil observes comes through here.
//!
//! - [`system`]: this machine (disk per data directory, CPU, memory, load, network).
//! - [`client`] names nodes' software; [`http`] is the shared HTTP client.

pub mod client;
pub mod http;
pub mod system;
