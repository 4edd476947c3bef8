//! # clients
//!
//! Client-specific checks for Lighthouse, Prysm, Teku, Nimbus, Lodestar, Grandine, Geth,
//! Nethermind, Besu, Erigon and Reth. The client comes from `/eth/v1/node/version` and
//! `web3_clientVersion` (the host parses them); its metrics from the node's configured
//! `metrics_url` (scrape target = node name), read under that client's own metric names
//! (see [`vigil_plugin_sdk::clients`] for the names and where they are documented).
//!
//! Check lines per node (subject `node`): `client_peers` (peers vs that client's default
//! target; warn below `min_peer_share` of it, naming the flag), `client_sync` (CL:
//! `beacon_head_slot` vs the wall clock; EL: head vs best known block where the client
//! exports both), `client_version` (warn when older than the client's first release that
//! follows mainnet after Dencun, or listed in `known_bad_versions`). Series:
//! `client_peers{node,client}`, `client_peer_target_percent{node,client}`.
//! Database growth is judged on the data disk by node-health's forecast.

use vigil_plugin_sdk::prelude::*;

mod logic;
pub use logic::{Config, judge};
pub use vigil_plugin_sdk::clients as profiles;

/// The plugin: stateless.
#[derive(Default)]
pub struct Clients {
    config: Config,
}

impl Plugin for Clients {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("clients", env!("CARGO_PKG_VERSION"))
            .description("client-specific checks: peers vs that client's target, sync from its metrics, versions")
            .subscribe(InputKind::Node)
            .key_doc("min_peer_share", "share of the client's default peer target below which client_peers warns, 0..1")
            .key_doc("max_head_lag_slots", "beacon_head_slot slots behind the wall clock before client_sync warns")
            .key_doc("known_bad_versions", "extra \"client@version\" entries to warn about, e.g. [\"geth@1.13.0\"]")
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

export_plugin!(Clients);
