//! Run a plugin's logic natively, in `cargo test`, on fixture inputs.
//!
//! [`Harness`] plays the host: it parses the configuration exactly as the host would
//! (from the TOML an operator writes), serves [`crate::host`] calls from memory (state,
//! series, the clock, logs), validates the output with the host's own
//! [`crate::rules`], and discards state writes of a failed evaluation. Fixtures are
//! JSON files in the same shape that `vigil plugins test FILE --input FIXTURE.json`
//! reads.
//!
//! This module sits on top: it uses [`crate::host`] (whose native backend holds the
//! [`TestHost`] it installs) and [`crate::rules`], and nothing in the SDK uses it except
//! tests.
//!
//! ```
//! use vigil_plugin_sdk::prelude::*;
//! use vigil_plugin_sdk::testing::{self, Harness};
//! # #[derive(Default)] struct Quiet;
//! # impl Plugin for Quiet {
//! #   type Config = std::collections::BTreeMap<String, u64>;
//! #   fn manifest() -> Manifest { Manifest::new("quiet", "0.1.0") }
//! #   fn configure(&mut self, _: Self::Config) -> Result<(), ConfigError> { Ok(()) }
//! #   fn evaluate(&mut self, _: &Input, _: &mut Output) -> Result<(), Error> { Ok(()) }
//! # }
//! let mut h = Harness::<Quiet>::with_toml("").unwrap();
//! let out = h.evaluate(&Input::Node(testing::node_input(1_700_000_000_000))).unwrap();
//! assert!(out.is_empty());
//! ```

use crate::host::native::with_host;
use crate::rules;
use crate::{
    ConfigError, ConsensusNode, EpochInput, Input, NetworkInfo, NetworkStats, NodeInput, Output,
    Plugin, SystemInfo, ValidatorColumns, ValidatorStatus,
};
use std::path::Path;

#[doc(inline)]
pub use crate::host::native::{SeriesId, TestHost};

/// A plugin instance driven natively, as the host would drive its component.
pub struct Harness<P: Plugin> {
    plugin: P,
    /// The host state the plugin sees; inspect or prepare it between calls.
    pub host: TestHost,
}

impl<P: Plugin> Harness<P> {
    /// A plugin configured from the TOML body of its `[plugin.<name>]` table.
    pub fn with_toml(toml_text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = toml_text.parse().map_err(|e| ConfigError {
            key: None,
            message: format!("invalid TOML: {e}"),
        })?;
        let json = serde_json::to_string(&table).map_err(|e| ConfigError {
            key: None,
            message: e.to_string(),
        })?;
        Self::with_json(&json)
    }

    /// A plugin configured from JSON, exactly what the host passes to `configure`.
    pub fn with_json(json: &str) -> Result<Self, ConfigError> {
        let mut h = Harness {
            plugin: P::default(),
            host: TestHost::default(),
        };
        h.configure_json(json)?;
        Ok(h)
    }

    /// Reconfigure, as on a config reload.
    pub fn configure_json(&mut self, json: &str) -> Result<(), ConfigError> {
        let plugin = &mut self.plugin;
        with_host(&mut self.host, || crate::__private::configure(plugin, json))
    }

    /// Evaluate one input. Like the host: `now` is the input's time unless set in
    /// `self.host.now_ms`, the output is validated, and state written during a failed
    /// call is rolled back.
    pub fn evaluate(&mut self, input: &Input) -> Result<Output, String> {
        if let Some(t) = input_time_ms(input) {
            self.host.now_ms = t;
        }
        let snapshot = self.host.state.clone();
        let plugin = &mut self.plugin;
        let result = with_host(&mut self.host, || {
            crate::__private::evaluate(plugin, input.clone())
        });
        let checked = result.and_then(|out| validate_output(&out).map(|()| out));
        if checked.is_err() {
            self.host.state = snapshot;
        }
        checked
    }

    /// Evaluate without cloning the input or validating the output: the plugin's own
    /// cost, for benchmarks comparing native and sandboxed runs.
    pub fn evaluate_borrowed(&mut self, input: &Input) -> Result<Output, String> {
        let plugin = &mut self.plugin;
        with_host(&mut self.host, || {
            let mut out = Output::default();
            plugin
                .evaluate(input, &mut out)
                .map(|()| out)
                .map_err(|e| e.to_string())
        })
    }

    /// Evaluate through the same entry point the component export uses, taking the
    /// input by value as the export does: a native plugin behind the same interface.
    pub fn evaluate_owned(&mut self, input: Input) -> Result<Output, String> {
        let plugin = &mut self.plugin;
        with_host(&mut self.host, || crate::__private::evaluate(plugin, input))
    }

    /// Simulate a restart: a fresh instance that keeps the persistent state.
    pub fn restart(&mut self, config_json: &str) -> Result<(), ConfigError> {
        self.plugin = P::default();
        self.configure_json(config_json)
    }

    /// The plugin itself, for assertions on its in-memory state.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }
}

/// Run `f` with `host` serving the [`crate::host`] calls (state, series, clock), as the
/// harness does around `evaluate`: for testing helpers that use host state directly.
pub fn with_test_host<T>(host: &mut TestHost, f: impl FnOnce() -> T) -> T {
    with_host(host, f)
}

/// The observation time of an input, Unix ms, when it has one.
pub fn input_time_ms(input: &Input) -> Option<i64> {
    let slot_time = |n: &NetworkInfo, slot: u64| {
        (n.genesis_time as i64 + slot as i64 * n.seconds_per_slot as i64) * 1000
    };
    match input {
        Input::Node(n) => Some(n.timestamp_ms),
        Input::Reset(r) => Some(r.detected_at_ms),
        Input::Slot(s) => Some(slot_time(&s.network, s.slot)),
        Input::Epoch(e) => Some(slot_time(
            &e.network,
            (e.epoch + 1) * e.network.slots_per_epoch as u64,
        )),
    }
}

/// The checks the host applies to every output — the same [`crate::rules`] functions,
/// walked in the same order — so a test fails with the host's message wherever the
/// host would refuse the output.
pub fn validate_output(out: &Output) -> Result<(), String> {
    validate_records(out).map_err(|e| e.to_string())
}

/// Walk `out` in the contract's order, stopping at the first refusal. The host's
/// `plugins::output::validate` is the same walk over its own bindings' types.
fn validate_records(out: &Output) -> Result<(), rules::OutputError> {
    for a in &out.alerts {
        rules::validate_alert(&a.name, &a.subject, a.value, a.threshold)?;
    }
    for s in &out.scores {
        rules::validate_scores(&s.component, &s.window, &s.validators, &s.values)?;
    }
    for s in &out.subject_scores {
        rules::validate_subject_score(&s.component, &s.window, &s.subject, s.value)?;
    }
    for p in &out.series {
        rules::validate_series_point(&p.name, &p.labels, p.value)?;
    }
    for s in &out.validator_series {
        rules::validate_validator_series(&s.name, &s.labels, &s.validators, &s.values)?;
    }
    rules::validate_validator_series_points(
        out.validator_series.iter().map(|s| s.values.len()).sum(),
    )?;
    for c in &out.checks {
        rules::validate_check(&c.name, &c.subject)?;
    }
    for r in &out.recommendations {
        rules::validate_recommendation(&r.title, &r.subject, r.action_id.as_deref())?;
    }
    Ok(())
}

/// Read a JSON fixture: one [`Input`], or a list of them.
pub fn load_inputs(path: impl AsRef<Path>) -> Result<Vec<Input>, String> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| format!("{} input #{i}: {e}", path.display()))
        })
        .collect()
}

/// A minimal-preset dev network (8 slots per epoch, 2 s slots), iteration 1.
pub fn network() -> NetworkInfo {
    NetworkInfo {
        name: "devnet".into(),
        iteration: 1,
        genesis_time: 1_700_000_000,
        genesis_validators_root: format!("0x{}", "ab".repeat(32)),
        chain_id: Some(1337),
        seconds_per_slot: 2,
        slots_per_epoch: 8,
        epochs_per_sync_committee_period: 8,
        sync_committee_size: 32,
    }
}

/// A node tick at `timestamp_ms` with no nodes and an empty system section.
pub fn node_input(timestamp_ms: i64) -> NodeInput {
    NodeInput {
        network: Some(network()),
        timestamp_ms,
        wall_slot: None,
        consensus: Vec::new(),
        execution: Vec::new(),
        metrics: Vec::new(),
        system: SystemInfo {
            disks: Vec::new(),
            cpu_percent: None,
            load1: None,
            load5: None,
            load15: None,
            memory_used_bytes: None,
            memory_total_bytes: None,
            net_rx_bytes: None,
            net_tx_bytes: None,
            clock_offset_ms: None,
        },
    }
}

/// A healthy, synced consensus node named `name` with `peers` peers.
pub fn consensus_node(name: &str, peers: u64) -> ConsensusNode {
    ConsensusNode {
        name: name.to_string(),
        reachable: true,
        error: None,
        client: None,
        is_syncing: Some(false),
        sync_distance: Some(0),
        is_optimistic: Some(false),
        el_offline: Some(false),
        head_slot: Some(100),
        head_lag_slots: Some(0),
        finalized_epoch: Some(10),
        justified_epoch: Some(11),
        peers: Some(peers),
        health_code: Some(200),
        reorg_count: 0,
        reorg_max_depth: 0,
    }
}

/// An epoch with `n` active validators (indices 0..n, 32 ETH) whose outcomes are all
/// unknown; set the columns you need.
pub fn epoch_input(epoch: u64, n: usize) -> EpochInput {
    let mut v = ValidatorColumns::with_capacity(n);
    for i in 0..n as u64 {
        v.push_unknown(
            i,
            ValidatorStatus::ActiveOngoing,
            32_000_000_000,
            32_000_000_000,
        );
    }
    EpochInput {
        network: network(),
        epoch,
        finalized: false,
        validators: v,
        proposals: Vec::new(),
        upcoming_proposals: Vec::new(),
        next_sync_committee: Vec::new(),
        network_stats: NetworkStats {
            total_active_balance: None,
            active_validators: None,
            participation_rate: None,
            sync_participation: None,
            base_reward_per_increment: None,
        },
    }
}
