//! The sandbox limits, as configured in `[plugins]`: plain values here, enforced by
//! [`crate::plugins::runtime`].

use std::time::Duration;

/// The sandbox limits applied to every call.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear memory cap per instance, bytes.
    pub memory_bytes: usize,
    /// Table elements cap per instance.
    pub table_elements: usize,
    /// Wall-clock budget of one call.
    pub cpu_deadline: Duration,
    /// Largest accepted output, bytes (strings plus 8 bytes per number).
    pub max_output_bytes: usize,
    /// Imports a plugin may call during one call.
    pub max_host_calls: u32,
}

impl Default for Limits {
    /// 64 MiB holds 100k validators' columns several times over; 1 s is 50× what the
    /// built-in plugins need for 10k validators; 10k host calls allow per-validator
    /// state reads for small setups while stopping a runaway loop of calls.
    fn default() -> Limits {
        Limits {
            memory_bytes: 64 << 20,
            table_elements: 100_000,
            cpu_deadline: Duration::from_millis(1000),
            max_output_bytes: 16 << 20,
            max_host_calls: 10_000,
        }
    }
}
