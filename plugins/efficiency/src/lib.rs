//! # efficiency
//!
//! Component and composite scores 0–100 per validator over `epoch`, `1d`, `7d` and
//! `30d` windows, per group and for the network:
//! - components: `attestation` (Σ actual / Σ ideal rewards, or the flag estimate when
//!   the node serves no rewards), `inclusion` (earliest possible / actual inclusion
//!   delay), `proposal` (canonical blocks / duties), `sync` (slots signed / slots with a
//!   block while a member) — every window sums numerators and denominators before
//!   dividing;
//! - `composite` = 54/64·attestation + 8/64·proposal + 2/64·sync, with the fallbacks
//!   when a duty was absent in the window (56/64 + 8/64 sync without proposals, 62/64 +
//!   2/64 proposal without sync, attestation alone without either);
//! - group comparisons (subject scores) for every label column: `client`, `node` and
//!   operator labels such as `operator`;
//! - the network average (subject `network=average`): attestation = observed
//!   participation, sync = the chain's sync participation, composite from those;
//!   a check line says how many validators are below it.
//!
//! Epochs are re-delivered as their data firms up: contributions are kept per epoch
//! until final ([`vigil_plugin_sdk::windows`]). Series: `composite_score_percent` per
//! validator (1d window) each epoch.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Scorer};

/// The plugin; windows are cached in memory and persisted in host state.
#[derive(Default)]
pub struct Efficiency {
    config: Config,
    scorer: Option<Scorer>,
}

impl Plugin for Efficiency {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("efficiency", env!("CARGO_PKG_VERSION"))
            .description("attestation, inclusion, proposal, sync and composite scores over 1d/7d/30d; per group and vs the network")
            .subscribe(InputKind::Epoch)
            .subscribe(InputKind::Reset)
            .key_doc("below_network_points", "points below the network's composite (1d) before the check warns")
            .key_doc("group_labels", "label columns to compare groups by (empty = every label: node, client, operator ...)")
            .key_doc("validator_series", "emit composite_score_percent per validator (false: scores only)")
            .config::<Config>()
    }

    fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        match input {
            Input::Epoch(e) => {
                let epd = vigil_plugin_sdk::duties::epochs_per_day(&e.network);
                let scorer = self.scorer.get_or_insert_with(|| Scorer::load(epd));
                scorer.observe(&self.config, e, out);
                scorer.save().map_err(Error::msg)?;
            }
            Input::Reset(_) => {
                Scorer::clear();
                self.scorer = None;
            }
            _ => {}
        }
        Ok(())
    }
}

export_plugin!(Efficiency);
