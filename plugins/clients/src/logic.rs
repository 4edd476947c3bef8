//! Client checks, in plain functions so they unit-test natively.

use vigil_plugin_sdk::clients::{Layer, Profile, profile, version_below};
use vigil_plugin_sdk::prelude::*;
use vigil_plugin_sdk::{ClientVersion, MetricFamilySamples};

/// `[plugin.clients]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub min_peer_share: f64,
    pub max_head_lag_slots: u64,
    pub known_bad_versions: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_peer_share: 0.5,
            max_head_lag_slots: 2,
            known_bad_versions: Vec::new(),
        }
    }
}

impl Config {
    /// Range and shape checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("min_peer_share", self.min_peer_share, 0.0, 1.0)?;
        ConfigError::check_range("max_head_lag_slots", self.max_head_lag_slots, 0, 100_000)?;
        for (k, v) in self.known_bad_versions.iter().enumerate() {
            if v.split_once('@')
                .is_none_or(|(c, ver)| profile(c).is_none() || ver.is_empty())
            {
                return Err(ConfigError::key(
                    format!("known_bad_versions.{k}"),
                    format!(
                        "{v:?} must be \"client@version\" with a known client, e.g. \"geth@1.13.0\""
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The value of the first sample named `name` (with the label, when given).
fn sample(m: &MetricFamilySamples, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    m.names.iter().enumerate().find_map(|(i, n)| {
        (n == name && label.is_none_or(|(k, v)| m.labels[i].iter().any(|(a, b)| a == k && b == v)))
            .then(|| m.values[i])
    })
}

fn peers_from(p: &Profile, m: Option<&MetricFamilySamples>) -> Option<(f64, &'static str)> {
    let m = m?;
    p.peer_metrics
        .iter()
        .find_map(|(name, label)| sample(m, name, *label).map(|v| (v, *name)))
}

/// Judge every node whose client is known.
pub fn judge(cfg: &Config, node: &NodeInput, out: &mut Output) {
    let metrics = |name: &str| node.metrics.iter().find(|m| m.target == name);
    for cl in node.consensus.iter().filter(|c| c.reachable) {
        let Some(p) = cl.client.as_ref().and_then(|c| profile(&c.name)) else {
            continue;
        };
        let m = metrics(&cl.name);
        judge_node(cfg, node, &cl.name, p, cl.client.as_ref(), m, cl.peers, out);
    }
    for el in node.execution.iter().filter(|e| e.reachable) {
        let Some(p) = el.client.as_ref().and_then(|c| profile(&c.name)) else {
            continue;
        };
        let m = metrics(&el.name);
        judge_node(cfg, node, &el.name, p, el.client.as_ref(), m, el.peers, out);
    }
}

#[allow(clippy::too_many_arguments)]
fn judge_node(
    cfg: &Config,
    node: &NodeInput,
    name: &str,
    p: &Profile,
    client: Option<&ClientVersion>,
    m: Option<&MetricFamilySamples>,
    api_peers: Option<u64>,
    out: &mut Output,
) {
    // Peers: the client's own metric, else what its API said.
    let peers = peers_from(p, m)
        .map(|(v, metric)| (v, format!("metric {metric}")))
        .or_else(|| api_peers.map(|v| (v as f64, "API".to_string())));
    if let Some((peers, source)) = peers {
        let share = peers / p.target_peers as f64;
        out.series(
            SeriesPoint::new("client_peers", peers)
                .label("node", name)
                .label("client", p.name),
        );
        out.series(
            SeriesPoint::new("client_peer_target_percent", share * 100.0)
                .label("node", name)
                .label("client", p.name),
        );
        let text = format!(
            "{name} ({}): {peers:.0} peers of its default target {} ({source})",
            p.name, p.target_peers
        );
        let c = if share < cfg.min_peer_share {
            Check::warn(
                "client_peers",
                format!(
                    "{text}: check the p2p ports ({}) are reachable; target set by `{}`",
                    p.p2p_ports,
                    p.peers_flag.replace("{n}", &p.target_peers.to_string())
                ),
            )
        } else {
            Check::ok("client_peers", text)
        };
        out.check(c.subject("node", name));
    }
    // Sync, from the client's own metrics.
    if let Some(m) = m {
        let head = p.head_metric.and_then(|h| sample(m, h, None));
        let sync = match (p.layer, head) {
            (Layer::Consensus, Some(h)) => node.wall_slot.map(|wall| {
                let lag = wall as f64 - h;
                let text =
                    format!("{name}: beacon_head_slot {h:.0}, {lag:.0} slots behind the clock");
                if lag > cfg.max_head_lag_slots as f64 {
                    Check::warn("client_sync", text)
                } else {
                    Check::ok("client_sync", text)
                }
            }),
            (Layer::Execution, Some(h)) => p
                .best_known_metric
                .and_then(|b| sample(m, b, None))
                .map(|best| {
                    let text = format!("{name}: head block {h:.0} of best known {best:.0}");
                    if best - h > 2.0 {
                        Check::warn("client_sync", text)
                    } else {
                        Check::ok("client_sync", text)
                    }
                }),
            _ => None,
        };
        if let Some(c) = sync {
            out.check(c.subject("node", name));
        }
    }
    // Version.
    if let Some(version) = client.and_then(|c| c.version.as_deref()) {
        let listed = cfg
            .known_bad_versions
            .iter()
            .any(|b| b == &format!("{}@{version}", p.name));
        let old = p.min_version.filter(|min| version_below(version, min));
        let c = if listed {
            Check::warn(
                "client_version",
                format!(
                    "{name}: {} {version} is listed in known_bad_versions: upgrade",
                    p.name
                ),
            )
        } else if let Some(min) = old {
            Check::warn(
                "client_version",
                format!(
                    "{name}: {} {version} is older than {min}, the first release that follows mainnet after Dencun: upgrade",
                    p.name
                ),
            )
        } else {
            Check::ok("client_version", format!("{name}: {} {version}", p.name))
        };
        out.check(c.subject("node", name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::ExecutionNode;
    use vigil_plugin_sdk::testing::{self, Harness};

    /// Parse Prometheus text (enough for the fixtures: `name{k="v",..} value`).
    fn parse(target: &str, text: &str) -> MetricFamilySamples {
        let mut m = MetricFamilySamples {
            target: target.into(),
            names: vec![],
            labels: vec![],
            values: vec![],
        };
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let (head, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => {
                    let ls = rest
                        .trim_end_matches('}')
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap();
                            (k.to_string(), v.trim_matches('"').to_string())
                        })
                        .collect();
                    (n, ls)
                }
                None => (head, vec![]),
            };
            m.names.push(name.to_string());
            m.labels.push(labels);
            m.values.push(value.parse().unwrap_or(f64::NAN));
        }
        m
    }

    fn fixture(file: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/metrics")
            .join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn client(name: &str, version: &str) -> Option<ClientVersion> {
        Some(ClientVersion {
            name: name.into(),
            version: Some(version.into()),
            raw: format!("{name}/v{version}"),
        })
    }

    fn check<'a>(out: &'a Output, name: &str) -> &'a Check {
        out.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", out.checks))
    }

    #[test]
    fn every_consensus_client_is_read_under_its_own_names() {
        for (client_name, file, version, peers, warn_version) in [
            ("lighthouse", "lighthouse.txt", "5.3.0", 87.0, false),
            ("prysm", "prysm.txt", "4.2.1", 23.0, true),
            ("teku", "teku.txt", "24.10.0", 95.0, false),
            ("nimbus", "nimbus.txt", "24.1.0", 160.0, true),
            ("grandine", "grandine.txt", "1.0.0", 40.0, false),
        ] {
            let mut h = Harness::<crate::Clients>::with_toml("").unwrap();
            let mut n = testing::node_input(1_700_000_000_000);
            n.wall_slot = Some(10_001);
            let mut bn = testing::consensus_node("bn", 3);
            bn.client = client(client_name, version);
            n.consensus = vec![bn];
            n.metrics = vec![parse("bn", &fixture(file))];
            let out = h.evaluate(&Input::Node(n)).unwrap();
            let c = check(&out, "client_peers");
            assert!(
                c.text.contains(&format!("{peers:.0} peers")),
                "{client_name}: {}",
                c.text
            );
            let sync = check(&out, "client_sync");
            assert_eq!(sync.status, CheckStatus::Ok, "{client_name}: {}", sync.text);
            let v = check(&out, "client_version");
            assert_eq!(
                v.status == CheckStatus::Warn,
                warn_version,
                "{client_name}: {}",
                v.text
            );
        }
    }

    #[test]
    fn lodestar_recorded_metrics_and_few_peers() {
        let mut h = Harness::<crate::Clients>::with_toml("").unwrap();
        let mut n = testing::node_input(1_700_000_000_000);
        n.wall_slot = Some(60);
        let mut bn = testing::consensus_node("bn", 0);
        bn.client = client("lodestar", "1.22.0");
        n.consensus = vec![bn];
        n.metrics = vec![parse("bn", &fixture("lodestar-beacon.txt"))];
        let out = h.evaluate(&Input::Node(n)).unwrap();
        // The recorded node (beacon_head_slot 49, libp2p_peers 0): a single node, no peers.
        let c = check(&out, "client_peers");
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(
            c.text.contains("lodestar beacon --targetPeers 100"),
            "{}",
            c.text
        );
        assert!(c.text.contains("(metric libp2p_peers)"), "{}", c.text);
        let s = check(&out, "client_sync");
        assert_eq!(s.status, CheckStatus::Warn, "11 slots behind: {}", s.text);
        assert_eq!(check(&out, "client_version").status, CheckStatus::Ok);
    }

    #[test]
    fn every_execution_client_is_read_under_its_own_names() {
        for (client_name, file, peers) in [
            ("geth", "geth.txt", 48.0),
            ("nethermind", "nethermind.txt", 12.0),
            ("besu", "besu.txt", 25.0),
            ("erigon", "erigon.txt", 30.0),
            ("reth", "reth.txt", 97.0),
        ] {
            let mut h =
                Harness::<crate::Clients>::with_toml("known_bad_versions = [\"besu@24.1.0\"]")
                    .unwrap();
            let mut n = testing::node_input(1_700_000_000_000);
            n.execution = vec![ExecutionNode {
                name: "el".into(),
                reachable: true,
                error: None,
                client: client(client_name, "24.1.0"),
                is_syncing: Some(false),
                block_number: Some(1),
                block_age_ms: Some(1),
                chain_id: Some(1),
                peers: None,
                gas_price_wei: None,
                block_time_ms: None,
                tps: None,
                gas_used_ratio: None,
            }];
            n.metrics = vec![parse("el", &fixture(file))];
            let out = h.evaluate(&Input::Node(n)).unwrap();
            let c = check(&out, "client_peers");
            assert!(
                c.text.contains(&format!("{peers:.0} peers")),
                "{client_name}: {}",
                c.text
            );
            if client_name == "nethermind" {
                assert_eq!(c.status, CheckStatus::Warn);
                assert!(c.text.contains("--Network.MaxActivePeers 50"), "{}", c.text);
            }
            if client_name == "besu" {
                assert_eq!(
                    check(&out, "client_sync").status,
                    CheckStatus::Warn,
                    "besu is 100 blocks behind"
                );
                assert!(
                    check(&out, "client_version")
                        .text
                        .contains("known_bad_versions")
                );
            }
        }
    }

    #[test]
    fn versions_compare_numerically_and_bad_config_is_named() {
        assert!(version_below("1.13.9", "1.13.12"));
        assert!(!version_below("v1.14.0-stable", "1.13.12"));
        assert!(!version_below("5.0.0", "5.0.0"));
        let e = Harness::<crate::Clients>::with_toml("known_bad_versions = [\"gethx@1\"]")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("known_bad_versions.0"));
    }
}
