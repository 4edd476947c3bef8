//! # node-sync
//!
//! Judges every beacon and execution node at each collector tick: unreachable, syncing,
//! head behind the wall clock (a node can claim `sync_distance` 0 while stuck), too few
//! peers, and a stale execution head. Thresholds come from `[plugin.node-sync]`.
//!
//! Raises (subject `node`): `node_unreachable` (critical), `cl_syncing` (high),
//! `cl_head_behind` (high), `cl_peers_low` (medium; critical at 0 peers), `el_syncing`
//! (high), `el_head_stale` (high), `el_peers_low` (medium). One check line per node.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, judge};

/// The plugin: its configuration is all the state it needs.
#[derive(Default)]
pub struct NodeSync {
    config: Config,
}

impl Plugin for NodeSync {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("node-sync", env!("CARGO_PKG_VERSION"))
            .description(
                "beacon and execution nodes: reachable, synced, head on time, enough peers",
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
                "seconds since the latest execution block before el_head_stale",
            )
            .config::<Config>()
    }

    fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        if let Input::Node(node) = input {
            judge(&self.config, node, out);
        }
        Ok(())
    }
}

export_plugin!(NodeSync);
