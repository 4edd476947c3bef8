//! Collectors: everything Vigil observes comes through here.
//!
//! - [`system`]: this machine (disk per data directory, CPU, memory, load, network).

pub mod system;
