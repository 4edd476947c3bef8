//! # balance-earnings
//!
//! Balances, income and yield of the watched validators, each completed epoch:
//! - income per validator and epoch = Δbalance − deposits + withdrawals (a deposit is
//!   not income, a withdrawal sweep is not a loss), series `income_gwei{validator}`;
//!   unknown (no series point) when a balance, deposit or withdrawal figure is unknown;
//! - earnings of all watched validators `earnings_gwei{window=1d|7d|30d|90d|all}`;
//! - `apr_percent{window=7d|31d}`: income over the window / mean effective balance,
//!   annualised (× 365 / days covered); `projected_earnings_gwei{horizon=30d|365d,
//!   band=low|mid|high}`: the validators' own 30-day effectiveness (income / the spec's
//!   ideal income) × the ideal over the horizon, the band ±1.645 σ of the proposal
//!   lottery (expected proposals = slots × own / active validators; the proposer's 8/64
//!   share of the reward varies with it) — a 90 % band. Without the spec's inputs: the
//!   30-day mean income per epoch × the horizon ± 1.645 σ of per-epoch income. Execution
//!   layer income (fees, MEV) is not observed and not projected;
//! - `network_apr_percent`: what the network pays, from the spec and no indexing of the
//!   network: base reward per increment (from the total active balance) × epochs per
//!   year / increment × the observed participation; `network_participation_ratio`;
//! - `balance_decreasing` (high): validators whose income summed over the last
//!   `window_epochs` (3) epochs is negative, per beacon node.
//!
//! After a network reset (Ephemery) everything restarts and `balance_decreasing` stays
//! quiet for `suppress_epochs_after_reset` (4) epochs: balances across the transition
//! belong to different chains.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Ledger};

/// The plugin: the ledger is cached in memory and persisted in host state.
#[derive(Default)]
pub struct BalanceEarnings {
    config: Config,
    ledger: Option<Ledger>,
}

impl Plugin for BalanceEarnings {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("balance-earnings", env!("CARGO_PKG_VERSION"))
            .description("income (deposits and withdrawals excluded), earnings history, APR, projections, network APR, falling balances")
            .subscribe(InputKind::Epoch)
            .subscribe(InputKind::Reset)
            .key_doc("window_epochs", "epochs whose summed income must be negative before balance_decreasing")
            .key_doc("suppress_epochs_after_reset", "epochs after a network reset without balance_decreasing")
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
                let ledger = self.ledger.get_or_insert_with(|| Ledger::load(epd));
                ledger.observe(&self.config, e, out);
                ledger.save().map_err(Error::msg)?;
            }
            Input::Reset(_) => {
                Ledger::clear();
                let mut fresh = Ledger::load(1);
                fresh.reset_seen = true;
                fresh.save().map_err(Error::msg)?;
                self.ledger = Some(fresh);
            }
            Input::Node(_) | Input::Slot(_) => {}
        }
        Ok(())
    }
}

export_plugin!(BalanceEarnings);
