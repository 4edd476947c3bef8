//! # node-health
//!
//! Judges every beacon and execution node and this machine at each collector tick:
//! unreachable, syncing (lost and regained: the alert holds while it lasts), head behind
//! the wall clock (a node can claim `sync_distance` 0 while stuck), too few peers, a
//! stale execution head, finality stalled, deep reorgs, disks, CPU and memory, and the
//! execution chain's health (block time, gas price spikes, throughput).
//! Thresholds come from `[plugin.node-health]`.
//!
//! Raises (subject `node`): `node_unreachable` (critical), `cl_syncing` (high),
//! `cl_head_behind` (high), `cl_peers_low` (medium; critical at 0 peers), `el_syncing`
//! (high), `el_block_lag` (high), `el_peers_low` (medium), `finality_stalled` (high),
//! `reorg_deep` (high, held 10 minutes); subject `path`: `disk_free_low`,
//! `disk_full_forecast` (high; least-squares fit of free space over the last week);
//! subject `host=local`: `cpu_saturated`, `memory_saturated` (high). Check lines per
//! node, `execution_chain` checks; series `cl_head_lag_slots`, `finality_lag_epochs`,
//! `el_block_time_ms`, `el_tps`, `el_gas_price_gwei`, `disk_days_until_full`.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Memory, judge};

/// The plugin; what it remembers between ticks lives in host state.
#[derive(Default)]
pub struct NodeHealth {
    config: Config,
}

/// State key of the [`Memory`].
const STATE_KEY: &str = "memory";

impl Plugin for NodeHealth {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("node-health", env!("CARGO_PKG_VERSION"))
            .description(
                "nodes and machine: reachable, synced, head on time, peers, finality, reorgs, disk, CPU, memory, execution chain",
            )
            .subscribe(InputKind::Node)
            .key_doc(
                "min_peers",
                "fewest beacon peers before cl_peers_low (0 peers is critical)",
            )
            .key_doc(
                "max_sync_distance",
                "slots of sync_distance tolerated before cl_syncing",
            )
            .key_doc(
                "max_head_lag_slots",
                "slots the head may trail the wall clock before cl_head_behind",
            )
            .key_doc("min_el_peers", "fewest execution peers before el_peers_low")
            .key_doc(
                "max_el_block_age_s",
                "seconds since the latest execution block before el_block_lag",
            )
            .key_doc("max_finality_lag_epochs", "epochs the finalized epoch may trail the clock before finality_stalled (2 is normal)")
            .key_doc("max_reorg_depth", "reorg depth in slots above which reorg_deep is raised")
            .key_doc("min_disk_free_percent", "free disk share below which disk_free_low is raised, percent")
            .key_doc("min_days_until_full", "forecast days until a disk is full below which disk_full_forecast is raised")
            .key_doc("max_cpu_percent", "CPU busy (all cores) above which a tick counts as saturated, percent")
            .key_doc("max_memory_percent", "memory used above which a tick counts as saturated, percent")
            .key_doc("saturation_ticks", "saturated ticks in a row before cpu_saturated / memory_saturated")
            .key_doc("max_block_time_s", "mean execution block time above which the execution_chain check warns, seconds")
            .key_doc("gas_spike_factor", "gas price above this multiple of its recent median is a spike (check warning)")
            .config::<Config>()
    }

    fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        if let Input::Node(node) = input {
            let mut mem: Memory = host::state::get_json(STATE_KEY).unwrap_or_default();
            judge(&self.config, node, &mut mem, out);
            host::state::set_json(STATE_KEY, &mem).map_err(Error::msg)?;
        }
        Ok(())
    }
}

export_plugin!(NodeHealth);
