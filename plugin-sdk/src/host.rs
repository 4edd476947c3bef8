//! What the host offers: logging, history, persistent state and the evaluation clock.
//!
//! Inside the sandbox these call the host's imports; on native targets they are served
//! from memory by `host::native`, which the [`crate::testing`] harness fills and installs,
//! so the same plugin code runs in both. Every call counts against the per-call
//! host-call budget (10,000 by default): read state once per evaluation, not once per
//! validator.
//!
//! Dependencies go one way: `testing` uses this module and `native`; neither this
//! module nor `native` uses `testing`.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native;

#[cfg(target_arch = "wasm32")]
use crate::bindings::vigil::plugin::host as imp;
#[cfg(not(target_arch = "wasm32"))]
use native as imp;

#[doc(inline)]
pub use crate::bindings::vigil::plugin::host::{LogLevel, SeriesData, SeriesQuery};

/// Write to the host's log; the host tags the line with the plugin's name.
pub fn log(level: LogLevel, message: &str) {
    imp::log(level, message)
}

/// Log at debug level.
pub fn debug(message: &str) {
    log(LogLevel::Debug, message)
}

/// Log at info level.
pub fn info(message: &str) {
    log(LogLevel::Info, message)
}

/// Log at warn level.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message)
}

/// The time of the observation being evaluated, Unix ms. Deterministic under replay.
pub fn now() -> i64 {
    imp::now()
}

/// Read a range of a stored series, oldest first. `limit` 0 means the host default.
pub fn query(
    name: &str,
    labels: &[(&str, &str)],
    from_ms: i64,
    to_ms: i64,
    limit: u32,
) -> Result<SeriesData, String> {
    let q = SeriesQuery {
        name: name.to_string(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        from_ms,
        to_ms,
        limit,
    };
    imp::query(&q)
}

/// The plugin's persistent key-value state, private to the plugin, kept across reloads
/// and restarts. Writes made during an `evaluate` that fails are discarded by the host.
pub mod state {
    use super::imp;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// Raw bytes under `key`.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        imp::state_get(key)
    }

    /// Store raw bytes under `key` (key ≤ 256 B, value ≤ 1 MiB).
    pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
        imp::state_set(key, value)
    }

    /// Remove `key`.
    pub fn delete(key: &str) {
        imp::state_delete(key)
    }

    /// A JSON value under `key`; `None` when absent or no longer of this shape (a new
    /// plugin version changed it), so an upgrade starts fresh instead of failing.
    pub fn get_json<T: DeserializeOwned>(key: &str) -> Option<T> {
        get(key).and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Store a JSON value under `key`.
    pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), String> {
        let bytes =
            serde_json::to_vec(value).map_err(|e| format!("cannot encode state {key}: {e}"))?;
        set(key, &bytes)
    }
}
