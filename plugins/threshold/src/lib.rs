//! # threshold
//!
//! Simple rules without code: each `[[plugin.threshold.rules]]` table names a series, an
//! optional label match, a comparison, a value, how long it must hold (`for`) and a
//! severity. Evaluated at every collector tick against
//! - the scraped Prometheus samples of every `metrics_url` (`series` = the metric name,
//!   `target` = the node whose metrics they are), and
//! - built-in node figures: `cl_peers`, `cl_head_lag_slots`, `cl_sync_distance` (label
//!   `node`), `el_peers`, `el_block_age_seconds` (label `node`), `cpu_percent`,
//!   `memory_percent`, `load1` (no labels), `disk_free_percent` (label `path`).
//!
//! ```toml
//! [[plugin.threshold.rules]]
//! name = "beacon_peers_low"   # the alert's name (snake_case)
//! series = "libp2p_peers"
//! target = "local-beacon"     # optional: only this scrape target
//! labels = {}                 # optional: samples must carry these labels
//! comparison = "<"            # <, <=, >, >=, ==, !=
//! value = 10
//! for = "5m"                  # how long it must hold first (0s = at once)
//! severity = "medium"         # critical, high, medium, low, info
//! ```
//!
//! Raises `<name>` with subject `rule=<name>` plus the sample's target and labels.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, Pending, Rule, judge, parse_duration};

/// The plugin; when each breach began lives in host state.
#[derive(Default)]
pub struct ThresholdRules {
    config: Config,
}

const STATE_KEY: &str = "pending";

impl Plugin for ThresholdRules {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("threshold", env!("CARGO_PKG_VERSION"))
            .description("declarative TOML rules: series, labels, comparison, value, for, severity")
            .subscribe(InputKind::Node)
            .key_doc("rules", "list of {name, series, target?, labels?, comparison, value, for, severity, summary?}")
            .config::<Config>()
    }

    fn configure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    fn evaluate(&mut self, input: &Input, out: &mut Output) -> Result<(), Error> {
        if let Input::Node(n) = input {
            let mut p: Pending = host::state::get_json(STATE_KEY).unwrap_or_default();
            judge(&self.config, n, &mut p, out);
            host::state::set_json(STATE_KEY, &p).map_err(Error::msg)?;
        }
        Ok(())
    }
}

export_plugin!(ThresholdRules);
