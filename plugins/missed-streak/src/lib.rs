//! # missed-streak
//!
//! Raises `attestations_missed` when validators miss their attestation in N consecutive
//! completed epochs (default 2). One miss is routine — a late block, a restart — and
//! costs about one epoch's reward; two in a row means the validator is offline.
//!
//! The streaks are kept in the plugin's persistent state, so a restart of Vigil or a
//! reload of this plugin does not reset them. An epoch whose outcome is unknown (no
//! rewards, no liveness) neither extends nor ends a streak. An epoch seen twice (a reorg
//! revision) is not counted twice.
//!
//! Raises one alert per beacon node (subject `node`) naming the validators (at most 100,
//! with the total count) and the longest streak.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Tracker};

/// The plugin; streaks live in host state, not here.
#[derive(Default)]
pub struct MissedStreak {
    config: Config,
}

/// State key holding the [`Tracker`].
const STATE_KEY: &str = "tracker";

impl Plugin for MissedStreak {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("missed-streak", env!("CARGO_PKG_VERSION"))
            .description("validators missing attestations in consecutive epochs")
            .subscribe(InputKind::Epoch)
            .subscribe(InputKind::Reset)
            .key_doc(
                "consecutive",
                "missed epochs in a row before raising (1-100)",
            )
            .key_doc("severity", "critical, high, medium or low")
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
                let mut tracker: Tracker = host::state::get_json(STATE_KEY).unwrap_or_default();
                tracker.observe(epoch);
                tracker.report(&self.config, epoch, out);
                host::state::set_json(STATE_KEY, &tracker).map_err(Error::msg)?;
            }
            // A new chain: yesterday's streaks mean nothing on it.
            Input::Reset(_) => host::state::delete(STATE_KEY),
            _ => {}
        }
        Ok(())
    }
}

export_plugin!(MissedStreak);
