//! # ephemery
//!
//! Ephemery (and any network that restarts from a new genesis) resets every few days.
//! On a reset this plugin raises `network_reset` (info, subject `network`) for
//! `notice_epochs` epochs of the new chain, and measures **reset survival**: for each
//! watched validator, the epochs from the new chain's first delivered epoch until it
//! attests again — series `reset_survival_epochs{validator,iteration}` when it does, and
//! a check line per iteration ("5 of 8 validators back, 3 still missing after N epochs").
//! The history of every iteration (start, survivors, epochs each) is kept in plugin
//! state and reported as `reset_survivors{iteration}` / `reset_missing{iteration}`.
//!
//! Balance and exit alerts across the transition: balance-earnings clears its ledger on
//! the reset input and stays quiet for its `suppress_epochs_after_reset`; attestation and
//! sync streaks are cleared by their plugins on the same input, so nothing compares the
//! old chain with the new one.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, History};

/// The plugin; the history lives in host state.
#[derive(Default)]
pub struct Ephemery {
    config: Config,
}

const STATE_KEY: &str = "history";

impl Plugin for Ephemery {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("ephemery", env!("CARGO_PKG_VERSION"))
            .description(
                "network resets: notice, reset survival per validator, history per iteration",
            )
            .subscribe(InputKind::Reset)
            .subscribe(InputKind::Epoch)
            .key_doc(
                "notice_epochs",
                "epochs of the new chain during which network_reset stays raised",
            )
            .key_doc("iterations_kept", "past iterations kept in the history")
            .config::<Config>()
    }

    fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        let mut h: History = host::state::get_json(STATE_KEY).unwrap_or_default();
        h.observe(&self.config, input, out);
        host::state::set_json(STATE_KEY, &h).map_err(Error::msg)?;
        Ok(())
    }
}

export_plugin!(Ephemery);
