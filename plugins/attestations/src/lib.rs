//! # attestations
//!
//! Judges every watched validator's attestation duty each completed epoch:
//! - `attestations_missed` (critical): missed in `consecutive` (2) epochs in a row — one
//!   miss is routine (a late block, a restart), two in a row means the validator is
//!   offline. Streaks survive restarts (plugin state); an unknown outcome neither
//!   extends nor ends a streak; a re-delivered epoch is not counted twice.
//! - `attestation_late` (medium): included more than `max_inclusion_delay` (2) slots
//!   after the earliest possible slot, `late_consecutive` (2) epochs in a row.
//! - `attestation_wrong_vote` (medium): included but with a wrong head, target or source
//!   vote, `wrong_consecutive` (3) epochs in a row.
//!
//! Every alert is one per beacon node (subject `node`) naming the validators (≤ 100,
//! with the count). Per validator and epoch it emits the series
//! `attestation_effectiveness_percent` (Σ actual / Σ ideal rewards, or an estimate from
//! the vote flags when the node serves no rewards) and `inclusion_effectiveness_percent`
//! (earliest possible inclusion delay / actual delay). Scores (`epoch`, 1d/7d/30d) are
//! the efficiency plugin's.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Tracker, effectiveness};

/// The plugin; streaks live in host state, not here.
#[derive(Default)]
pub struct Attestations {
    config: Config,
}

/// State key holding the [`Tracker`].
const STATE_KEY: &str = "tracker";

impl Plugin for Attestations {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("attestations", env!("CARGO_PKG_VERSION"))
            .description("missed, late and wrong attestations; attestation and inclusion effectiveness")
            .subscribe(InputKind::Epoch)
            .subscribe(InputKind::Reset)
            .key_doc("consecutive", "missed epochs in a row before attestations_missed (1-100)")
            .key_doc("severity", "severity of attestations_missed: critical, high, medium or low")
            .key_doc(
                "max_inclusion_delay",
                "slots of inclusion delay beyond the earliest possible before an attestation counts as late",
            )
            .key_doc("late_consecutive", "late epochs in a row before attestation_late")
            .key_doc(
                "wrong_consecutive",
                "epochs in a row with a wrong head/target/source vote before attestation_wrong_vote",
            )
            .key_doc("validator_series", "emit the per-validator effectiveness series (false: alerts only; efficiency still scores)")
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
                tracker.observe(&self.config, epoch);
                tracker.report(&self.config, epoch, out);
                logic::effectiveness(epoch, self.config.validator_series, out);
                host::state::set_json(STATE_KEY, &tracker).map_err(Error::msg)?;
            }
            // A new chain: yesterday's streaks mean nothing on it.
            Input::Reset(_) => host::state::delete(STATE_KEY),
            _ => {}
        }
        Ok(())
    }
}

export_plugin!(Attestations);
