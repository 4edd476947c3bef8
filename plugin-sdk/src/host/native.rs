//! The host's imports served natively from memory, for `cargo test` and benchmarks.
//!
//! [`super`] calls these functions in place of the sandbox imports on native targets;
//! [`crate::testing`] fills a [`TestHost`] and installs it around each call with
//! [`with_host`]. This module depends only on the contract's types, never on
//! `testing`, so the dependencies go one way: `testing` → `host` → `host::native`.

use crate::bindings::vigil::plugin::host::{LogLevel, SeriesData, SeriesQuery};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Longest state key the host stores, bytes (the host's `host_api` limit).
const MAX_STATE_KEY_BYTES: usize = 256;
/// Largest state value the host stores, bytes (the host's `host_api` limit).
const MAX_STATE_VALUE_BYTES: usize = 1 << 20;
/// Points a query with `limit` 0 returns at most (the host's default).
const DEFAULT_QUERY_LIMIT: usize = 10_000;

/// A series identity: name and labels sorted by name.
pub type SeriesId = (String, Vec<(String, String)>);

/// In-memory stand-in for the host's imports.
#[derive(Debug, Default, Clone)]
pub struct TestHost {
    /// The plugin's persistent state.
    pub state: BTreeMap<String, Vec<u8>>,
    /// Series served to `host::query`, keyed by name and sorted labels.
    pub series: BTreeMap<SeriesId, Vec<(i64, f64)>>,
    /// What `host::now` answers.
    pub now_ms: i64,
    /// Every line the plugin logged.
    pub logs: Vec<(LogLevel, String)>,
}

thread_local! {
    /// The host the current thread's plugin calls reach; one per thread so parallel
    /// tests do not share state.
    static HOST: RefCell<TestHost> = RefCell::new(TestHost::default());
}

/// Run `f` with `host` serving this thread's host calls, then hand `host` back with
/// whatever `f` changed.
pub(crate) fn with_host<T>(host: &mut TestHost, f: impl FnOnce() -> T) -> T {
    HOST.with(|h| std::mem::swap(&mut *h.borrow_mut(), host));
    let out = f();
    HOST.with(|h| std::mem::swap(&mut *h.borrow_mut(), host));
    out
}

pub(crate) fn log(level: LogLevel, message: &str) {
    HOST.with(|h| h.borrow_mut().logs.push((level, message.to_string())));
}

pub(crate) fn now() -> i64 {
    HOST.with(|h| h.borrow().now_ms)
}

pub(crate) fn query(q: &SeriesQuery) -> Result<SeriesData, String> {
    let mut labels = q.labels.clone();
    labels.sort();
    HOST.with(|h| {
        let h = h.borrow();
        let points = h
            .series
            .get(&(q.name.clone(), labels))
            .cloned()
            .unwrap_or_default();
        let mut sel: Vec<(i64, f64)> = points
            .into_iter()
            .filter(|(t, _)| *t >= q.from_ms && *t <= q.to_ms)
            .collect();
        let limit = if q.limit == 0 {
            DEFAULT_QUERY_LIMIT
        } else {
            q.limit as usize
        };
        if sel.len() > limit {
            sel.drain(..sel.len() - limit);
        }
        Ok(SeriesData {
            timestamps_ms: sel.iter().map(|p| p.0).collect(),
            values: sel.iter().map(|p| p.1).collect(),
        })
    })
}

pub(crate) fn state_get(key: &str) -> Option<Vec<u8>> {
    HOST.with(|h| h.borrow().state.get(key).cloned())
}

pub(crate) fn state_set(key: &str, value: &[u8]) -> Result<(), String> {
    if key.len() > MAX_STATE_KEY_BYTES {
        return Err(format!(
            "state key {:?}… is {} bytes; the limit is {MAX_STATE_KEY_BYTES}: use a shorter key",
            key.chars().take(32).collect::<String>(),
            key.len()
        ));
    }
    if value.len() > MAX_STATE_VALUE_BYTES {
        return Err(format!(
            "state value for key {key:?} is {} bytes; the limit is 1 MiB: split it over several keys (e.g. per validator block or per epoch)",
            value.len()
        ));
    }
    HOST.with(|h| h.borrow_mut().state.insert(key.to_string(), value.to_vec()));
    Ok(())
}

pub(crate) fn state_delete(key: &str) {
    HOST.with(|h| h.borrow_mut().state.remove(key));
}
