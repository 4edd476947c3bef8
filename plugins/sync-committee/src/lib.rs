//! # sync-committee
//!
//! Sync committee duties of watched validators:
//! - `sync_committee_missed` (critical): a member signed none of the epoch's blocks —
//!   raised at once;
//! - `sync_participation_low` (medium): a member's share of signed blocks was below the
//!   chain's average participation per block (sync bits set / committee size) by more
//!   than `margin` for `below_average_epochs` (3) epochs in a row;
//! - `sync_committee_upcoming` (info): watched validators in the next period's committee
//!   that are not members now — a notice before the period starts (about 27 hours on
//!   mainnet): keep them online.
//!
//! Per beacon node (subject `node`), naming the validators. Series per member and epoch:
//! `sync_participation_percent{validator}`, and `sync_network_participation_percent`.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Tracker};

/// The plugin; streaks live in host state.
#[derive(Default)]
pub struct SyncCommittee {
    config: Config,
}

const STATE_KEY: &str = "tracker";

impl Plugin for SyncCommittee {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("sync-committee", env!("CARGO_PKG_VERSION"))
            .description("sync committee membership now and next period; participation vs the chain's average")
            .subscribe(InputKind::Epoch)
            .subscribe(InputKind::Reset)
            .key_doc("below_average_epochs", "epochs in a row below the chain's average before sync_participation_low")
            .key_doc("margin", "how far below the average counts as below, 0..1 (0.05 = 5 points)")
            .config::<Config>()
    }

    fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        match input {
            Input::Epoch(epoch) => {
                let mut t: Tracker = host::state::get_json(STATE_KEY).unwrap_or_default();
                t.judge(&self.config, epoch, out);
                host::state::set_json(STATE_KEY, &t).map_err(Error::msg)?;
            }
            Input::Reset(_) => host::state::delete(STATE_KEY),
            _ => {}
        }
        Ok(())
    }
}

export_plugin!(SyncCommittee);
