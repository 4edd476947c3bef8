//! # proposals
//!
//! Block proposals of watched validators:
//! - `proposal_missed` (critical): no block at the validator's slot, raised from the
//!   slot input in the slot it happens and held for `hold_slots` (one mainnet epoch by
//!   default) so the alert engine sees it long enough to notify;
//! - `proposal_orphaned` (high): the block was seen, then left the canonical chain
//!   (from the epoch input), held the same way;
//! - `proposal_upcoming` (info): a duty within the next `upcoming_epochs` (2) epochs —
//!   don't restart the node or the validator client now.
//!
//! Alerts are per beacon node (subject `node`) naming the validators. Series:
//! `proposal_reward_gwei{validator}` per canonical block with a known reward.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Recent};

/// The plugin; recent misses live in host state.
#[derive(Default)]
pub struct Proposals {
    config: Config,
}

const STATE_KEY: &str = "recent";

impl Plugin for Proposals {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("proposals", env!("CARGO_PKG_VERSION"))
            .description("missed, orphaned and upcoming block proposals; block rewards")
            .subscribe(InputKind::Slot)
            .subscribe(InputKind::Epoch)
            .subscribe(InputKind::Reset)
            .key_doc(
                "hold_slots",
                "slots a missed or orphaned proposal stays raised",
            )
            .key_doc(
                "upcoming_epochs",
                "epochs ahead to announce a proposal duty (0 = never)",
            )
            .config::<Config>()
    }

    fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        match input {
            Input::Reset(_) => host::state::delete(STATE_KEY),
            Input::Slot(_) | Input::Epoch(_) => {
                let mut recent: Recent = host::state::get_json(STATE_KEY).unwrap_or_default();
                recent.judge(&self.config, input, out);
                host::state::set_json(STATE_KEY, &recent).map_err(Error::msg)?;
            }
            Input::Node(_) => {}
        }
        Ok(())
    }
}

export_plugin!(Proposals);
