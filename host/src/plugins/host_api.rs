//! The imports a plugin is granted, and nothing else.
//!
//! `log`, `query`, `state-get` / `state-set` / `state-delete`, `now`. Each call counts
//! against the per-call budget ([`crate::config::Limits::max_host_calls`]); past it the call
//! traps and the instance is discarded. State writes are buffered in [`HostState`] and
//! reach the store only if the whole evaluation succeeds.

use crate::config::Limits;
use crate::contract::bindings::vigil::plugin::host::{Host, LogLevel, SeriesData, SeriesQuery};
use crate::contract::bindings::vigil::plugin::{inputs, outputs, types};
use crate::store::{SeriesKey, StateChange, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Largest state key, bytes.
pub const MAX_STATE_KEY_BYTES: usize = 256;
/// Largest state value, bytes: a plugin's working set, not a database.
pub const MAX_STATE_VALUE_BYTES: usize = 1 << 20;
/// Points returned by `query` when the plugin asks for "the default".
pub const DEFAULT_QUERY_LIMIT: usize = 10_000;

/// Per-instance host data: who the plugin is, its budget, its pending state.
pub struct HostState {
    pub(crate) plugin: String,
    pub(crate) limits: Limits,
    pub(crate) store: Option<Arc<Store>>,
    pub(crate) now_ms: i64,
    pub(crate) calls: u32,
    pub(crate) pending: BTreeMap<String, StateChange>,
    /// Set when the memory limit stopped the plugin: the size it asked for.
    pub(crate) memory_exceeded: Option<usize>,
    pub(crate) host_calls_exceeded: bool,
    /// The last error-level line the plugin logged: the SDK logs panics there.
    pub(crate) last_error_log: Option<String>,
    store_limits: StoreLimits,
}

impl HostState {
    pub(crate) fn new(plugin: &str, limits: Limits, store: Option<Arc<Store>>) -> HostState {
        HostState {
            plugin: plugin.to_string(),
            store_limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .table_elements(limits.table_elements)
                .instances(8)
                .memories(4)
                .tables(8)
                .trap_on_grow_failure(true)
                .build(),
            limits,
            store,
            now_ms: 0,
            calls: 0,
            pending: BTreeMap::new(),
            memory_exceeded: None,
            host_calls_exceeded: false,
            last_error_log: None,
        }
    }

    /// Prepare for one call: fresh budget, no pending writes.
    pub(crate) fn begin_call(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        self.calls = 0;
        self.pending.clear();
        self.memory_exceeded = None;
        self.host_calls_exceeded = false;
        self.last_error_log = None;
    }

    fn charge(&mut self) -> wasmtime::Result<()> {
        self.calls += 1;
        if self.calls > self.limits.max_host_calls {
            self.host_calls_exceeded = true;
            return Err(wasmtime::format_err!(
                "host-call budget of {} exhausted",
                self.limits.max_host_calls
            ));
        }
        Ok(())
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            self.memory_exceeded = Some(desired);
        }
        self.store_limits.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.store_limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.store_limits.instances()
    }
    fn tables(&self) -> usize {
        self.store_limits.tables()
    }
    fn memories(&self) -> usize {
        self.store_limits.memories()
    }
}

impl Host for HostState {
    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.charge()?;
        // A plugin cannot flood the log with one giant line.
        let message: String = message.chars().take(2048).collect();
        let plugin = self.plugin.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => {
                tracing::error!(plugin, "{message}");
                self.last_error_log = Some(message);
            }
        }
        Ok(())
    }

    fn query(&mut self, q: SeriesQuery) -> wasmtime::Result<Result<SeriesData, String>> {
        self.charge()?;
        let Some(store) = &self.store else {
            return Ok(Err(
                "no store is attached to this host (vigil plugins test): history is empty".into(),
            ));
        };
        let limit = if q.limit == 0 {
            DEFAULT_QUERY_LIMIT
        } else {
            (q.limit as usize).min(DEFAULT_QUERY_LIMIT * 10)
        };
        let key = SeriesKey::new(&q.name, &q.labels);
        Ok(match store.series_range(&key, q.from_ms, q.to_ms, limit) {
            Ok(points) => Ok(SeriesData {
                timestamps_ms: points.iter().map(|p| p.0).collect(),
                values: points.iter().map(|p| p.1).collect(),
            }),
            Err(e) => Err(e.to_string()),
        })
    }

    fn state_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.charge()?;
        if let Some(change) = self.pending.get(&key) {
            return Ok(match change {
                StateChange::Set(v) => Some(v.clone()),
                StateChange::Delete => None,
            });
        }
        match &self.store {
            Some(store) => store.plugin_state_get(&self.plugin, &key).map_err(|e| {
                wasmtime::format_err!("state of plugin {} unreadable: {e}", self.plugin)
            }),
            None => Ok(None),
        }
    }

    fn state_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        self.charge()?;
        if key.len() > MAX_STATE_KEY_BYTES {
            return Ok(Err(format!(
                "state key {:?}… is {} bytes; the limit is {MAX_STATE_KEY_BYTES}: use a shorter key",
                key.chars().take(32).collect::<String>(),
                key.len()
            )));
        }
        if value.len() > MAX_STATE_VALUE_BYTES {
            return Ok(Err(format!(
                "state value for key {key:?} is {} bytes; the limit is {MAX_STATE_VALUE_BYTES}: split it over several keys (e.g. per validator block or per epoch)",
                value.len()
            )));
        }
        self.pending.insert(key, StateChange::Set(value));
        Ok(Ok(()))
    }

    fn state_delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.charge()?;
        self.pending.insert(key, StateChange::Delete);
        Ok(())
    }

    fn now(&mut self) -> wasmtime::Result<i64> {
        self.charge()?;
        Ok(self.now_ms)
    }
}

// Type-only interfaces: nothing to provide.
impl types::Host for HostState {}
impl inputs::Host for HostState {}
impl outputs::Host for HostState {}
