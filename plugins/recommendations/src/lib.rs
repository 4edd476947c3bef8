//! # recommendations
//!
//! Turns findings into advice with a priority and the exact flag or command for the
//! detected client, each with a stable action id the host may later map to an
//! operator-approved command (plugins only suggest):
//! - `raise_target_peers` (high): attestations included late (more than
//!   `late_share` of the watched validators' attestations not in the first possible
//!   block) while the beacon node has few peers → that client's peer flag and p2p ports;
//! - `open_p2p_port` (medium): a node far below its client's peer target even without
//!   late attestations;
//! - `enable_ntp` (high): the clock is off by more than `max_clock_offset_ms`;
//! - `prune_execution_db` (high): the data disk fills within `disk_days` days (from
//!   node-health's `disk_days_until_full` series) or has under `min_disk_free_percent`
//!   free → the detected execution client's prune procedure;
//! - `postpone_maintenance` (medium): a proposal within the next epochs, or a sync
//!   committee duty now or next period;
//! - `upgrade_client` (medium): a client older than its first post-Dencun release.
//!
//! Client names, flags and ports come from the SDK's [`vigil_plugin_sdk::clients`] profiles.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Memory, advise};

/// The plugin; what it saw of the nodes lives in host state.
#[derive(Default)]
pub struct Recommendations {
    config: Config,
}

const STATE_KEY: &str = "memory";

impl Plugin for Recommendations {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("recommendations", env!("CARGO_PKG_VERSION"))
            .description("advice with the exact flag or command for the detected client")
            .subscribe(InputKind::Node)
            .subscribe(InputKind::Epoch)
            .key_doc("late_share", "share of attestations not in the first possible block that counts as late inclusion, 0..1")
            .key_doc("min_peer_share", "share of the client's peer target below which peers count as few, 0..1")
            .key_doc("max_clock_offset_ms", "clock offset from NTP above which enable_ntp is advised, ms")
            .key_doc("disk_days", "days until the disk is full below which pruning is advised")
            .key_doc("min_disk_free_percent", "free disk share below which pruning is advised, percent")
            .config::<Config>()
    }

    fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        let mut mem: Memory = host::state::get_json(STATE_KEY).unwrap_or_default();
        advise(&self.config, input, &mut mem, out);
        host::state::set_json(STATE_KEY, &mem).map_err(Error::msg)?;
        Ok(())
    }
}

export_plugin!(Recommendations);
