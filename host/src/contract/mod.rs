//! The plugin contract's types, as the host speaks them: generated from
//! `plugin-sdk/wit/vigil.wit` (the one contract) by [`bindings`], and re-exported here
//! so collectors, the store, the evaluator and the pages name inputs and outputs without
//! depending on the plugin runtime. This is the bottom of the house: it imports nothing
//! of Vigil's.

pub mod bindings;

pub use bindings::exports::vigil::plugin::plugin::{
    ConfigError, ConfigKey, PluginManifest as Manifest,
};
pub use bindings::vigil::plugin::inputs::{
    BlockOutcome, ClientVersion, ConsensusNode, Disk, EpochInput, ExecutionNode, Input,
    LabelColumn, MetricFamilySamples, NetworkStats, NodeInput, Proposal, ResetInput, SlotInput,
    SystemInfo, ValidatorColumns, ValidatorStatus,
};
pub use bindings::vigil::plugin::outputs::{
    AlertCondition, Check, CheckStatus, Output, Recommendation, SeriesPoint, SubjectScore,
    ValidatorScores, ValidatorSeries,
};
pub use bindings::vigil::plugin::types::{InputKind, NetworkInfo, Severity};

impl SystemInfo {
    /// A `system` section with nothing known (no sample taken, or a fixture).
    pub fn unknown() -> SystemInfo {
        SystemInfo {
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
        }
    }
}

impl Input {
    /// The time this input is about, Unix ms: a tick's sample time, a reset's detection,
    /// a slot's start, an epoch's end (slot and epoch times from genesis).
    pub fn observed_at_ms(&self) -> i64 {
        let slot_time = |n: &NetworkInfo, slot: u64| {
            (n.genesis_time as i64 + slot as i64 * n.seconds_per_slot as i64) * 1000
        };
        match self {
            Input::Node(n) => n.timestamp_ms,
            Input::Reset(r) => r.detected_at_ms,
            Input::Slot(s) => slot_time(&s.network, s.slot),
            Input::Epoch(e) => {
                slot_time(&e.network, (e.epoch + 1) * e.network.slots_per_epoch as u64)
            }
        }
    }
}
