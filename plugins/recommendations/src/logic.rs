//! Advice, in plain functions so it unit-tests natively.

use std::collections::BTreeMap;
use vigil_plugin_sdk::clients::{Layer, profile, version_below};
use vigil_plugin_sdk::columns::{Tri, count};
use vigil_plugin_sdk::prelude::*;

/// `[plugin.recommendations]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub late_share: f64,
    pub min_peer_share: f64,
    pub max_clock_offset_ms: f64,
    pub disk_days: f64,
    pub min_disk_free_percent: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            late_share: 0.2,
            min_peer_share: 0.5,
            max_clock_offset_ms: 500.0,
            disk_days: 14.0,
            min_disk_free_percent: 10.0,
        }
    }
}

impl Config {
    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("late_share", self.late_share, 0.0, 1.0)?;
        ConfigError::check_range("min_peer_share", self.min_peer_share, 0.0, 1.0)?;
        ConfigError::check_range(
            "max_clock_offset_ms",
            self.max_clock_offset_ms,
            1.0,
            3_600_000.0,
        )?;
        ConfigError::check_range("disk_days", self.disk_days, 0.0, 3650.0)?;
        ConfigError::check_range(
            "min_disk_free_percent",
            self.min_disk_free_percent,
            0.0,
            100.0,
        )?;
        Ok(())
    }
}

/// What the last node tick showed, for advice given at epoch time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Beacon node → (client, peers).
    pub beacon: BTreeMap<String, (String, Option<u64>)>,
}

fn rec(priority: Severity, title: &str, text: String, node: &str, action: &str) -> Recommendation {
    Recommendation::new(priority, title, text)
        .subject("node", node)
        .action(action)
}

/// Advice for one input.
pub fn advise(cfg: &Config, input: &Input, mem: &mut Memory, out: &mut Output) {
    match input {
        Input::Node(n) => advise_node(cfg, n, mem, out),
        Input::Epoch(e) => advise_epoch(cfg, e, mem, out),
        _ => {}
    }
}

fn advise_node(cfg: &Config, n: &NodeInput, mem: &mut Memory, out: &mut Output) {
    mem.beacon.clear();
    for cl in n.consensus.iter().filter(|c| c.reachable) {
        let client = cl
            .client
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        mem.beacon.insert(cl.name.clone(), (client, cl.peers));
    }
    let nodes = n
        .consensus
        .iter()
        .filter_map(|c| Some((c.name.as_str(), c.client.as_ref()?, c.peers)))
        .chain(
            n.execution
                .iter()
                .filter_map(|e| Some((e.name.as_str(), e.client.as_ref()?, e.peers))),
        );
    for (name, client, peers) in nodes {
        let Some(p) = profile(&client.name) else {
            continue;
        };
        if let Some(peers) = peers
            && (peers as f64) < p.target_peers as f64 * cfg.min_peer_share / 2.0
        {
            out.recommend(rec(
                Severity::Medium,
                "Open the p2p port",
                format!(
                    "{name} ({}) has {peers} peers of its target {}: make {} reachable from the internet (router port forward, firewall: e.g. `sudo ufw allow 9000`/`30303` as applicable) and keep `{}`",
                    p.name, p.target_peers, p.p2p_ports, p.peers_flag.replace("{n}", &p.target_peers.to_string())
                ),
                name,
                "open_p2p_port",
            ));
        }
        if let (Some(v), Some(min)) = (client.version.as_deref(), p.min_version)
            && version_below(v, min)
        {
            out.recommend(rec(
                Severity::Medium,
                "Upgrade the client",
                format!(
                    "{name} runs {} {v}, older than {min}: upgrade to the current release",
                    p.name
                ),
                name,
                "upgrade_client",
            ));
        }
    }
    if let Some(off) = n
        .system
        .clock_offset_ms
        .filter(|o| o.abs() > cfg.max_clock_offset_ms)
    {
        out.recommend(
            Recommendation::new(
                Severity::High,
                "Synchronise the clock",
                format!(
                    "the clock is {off:.0} ms off: late or wrong votes follow. Enable NTP: `sudo timedatectl set-ntp true` (systemd-timesyncd) or install chrony (`sudo apt install chrony`)"
                ),
            )
            .subject("host", "local")
            .action("enable_ntp"),
        );
    }
    let el_client = n
        .execution
        .iter()
        .find_map(|e| e.client.as_ref().and_then(|c| profile(&c.name)));
    for d in &n.system.disks {
        let free = if d.total_bytes > 0 {
            d.free_bytes as f64 * 100.0 / d.total_bytes as f64
        } else {
            100.0
        };
        let days = host::query(
            "disk_days_until_full",
            &[("path", &d.path)],
            n.timestamp_ms - 3_600_000,
            n.timestamp_ms,
            1,
        )
        .ok()
        .and_then(|s| s.values.last().copied());
        let soon = days.is_some_and(|x| x < cfg.disk_days);
        if !(soon || free < cfg.min_disk_free_percent) {
            continue;
        }
        let how = match el_client.filter(|p| p.layer == Layer::Execution) {
            Some(p) => format!("prune {}: {}", p.name, p.prune),
            None => "prune the execution client's database (see its documentation) or move it to a larger disk".to_string(),
        };
        let when = days.map_or(format!("{free:.1} % free"), |x| {
            format!("full in {x:.1} days, {free:.1} % free")
        });
        out.recommend(
            Recommendation::new(
                Severity::High,
                "Free disk space",
                format!("{}: {when}; {how}", d.path),
            )
            .subject("path", &d.path)
            .action("prune_execution_db"),
        );
    }
}

fn advise_epoch(cfg: &Config, e: &EpochInput, mem: &Memory, out: &mut Output) {
    let v = &e.validators;
    let node = v.label("node", 0).unwrap_or("unknown").to_string();
    let (mut included, mut late) = (0usize, 0usize);
    for i in 0..v.len() {
        if v.attested(i) != Tri::Yes {
            continue;
        }
        if let Some(d) = count(v.inclusion_delay[i]) {
            included += 1;
            if d > count(v.earliest_inclusion_delay[i]).unwrap_or(1) {
                late += 1;
            }
        }
    }
    if included > 0 && late as f64 / included as f64 > cfg.late_share {
        let (client, peers) = mem.beacon.get(&node).cloned().unwrap_or_default();
        if let Some(p) = profile(&client)
            && peers.is_some_and(|x| (x as f64) < p.target_peers as f64 * cfg.min_peer_share)
        {
            out.recommend(rec(
                Severity::High,
                "Raise the beacon node's peers",
                format!(
                    "{late} of {included} attestations in epoch {} were not included in the first possible block and {node} ({}) has {} peers: open {} and raise the target with `{}`",
                    e.epoch,
                    p.name,
                    peers.unwrap_or(0),
                    p.p2p_ports,
                    p.peers_flag.replace("{n}", &p.target_peers.to_string())
                ),
                &node,
                "raise_target_peers",
            ));
        }
    }
    let spe = e.network.slots_per_epoch as u64;
    let horizon = (e.epoch + 3) * spe;
    let proposal = e
        .upcoming_proposals
        .iter()
        .filter(|p| p.slot < horizon)
        .map(|p| p.slot)
        .min();
    let sync_now = (0..v.len()).any(|i| Tri::from_u8(v.sync_member[i]) == Tri::Yes);
    let sync_next = !e.next_sync_committee.is_empty();
    if proposal.is_some() || sync_now || sync_next {
        let mut why = Vec::new();
        if let Some(s) = proposal {
            why.push(format!("a block proposal at slot {s}"));
        }
        if sync_now {
            why.push("sync committee duty now".to_string());
        }
        if sync_next {
            why.push("sync committee duty next period".to_string());
        }
        out.recommend(rec(
            Severity::Medium,
            "Postpone maintenance",
            format!(
                "don't restart {node} or its validator client now: {}",
                why.join(", ")
            ),
            &node,
            "postpone_maintenance",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::testing::{self, Harness};
    use vigil_plugin_sdk::{ClientVersion, Disk, Proposal};

    fn lighthouse(peers: u64) -> Input {
        let mut n = testing::node_input(1_700_000_000_000);
        let mut bn = testing::consensus_node("unknown", peers);
        bn.client = Some(ClientVersion {
            name: "lighthouse".into(),
            version: Some("5.3.0".into()),
            raw: String::new(),
        });
        n.consensus = vec![bn];
        Input::Node(n)
    }

    fn late_epoch() -> Input {
        let mut e = testing::epoch_input(10, 10);
        for i in 0..10 {
            e.validators.attested[i] = 1;
            e.validators.inclusion_delay[i] = if i < 4 { 3 } else { 1 };
            e.validators.earliest_inclusion_delay[i] = 1;
        }
        Input::Epoch(e)
    }

    #[test]
    fn late_inclusion_with_few_peers_names_the_clients_flag() {
        let mut h = Harness::<crate::Recommendations>::with_toml("").unwrap();
        h.evaluate(&lighthouse(20)).unwrap();
        let out = h.evaluate(&late_epoch()).unwrap();
        let r = out
            .recommendations
            .iter()
            .find(|r| r.action_id.as_deref() == Some("raise_target_peers"))
            .unwrap();
        assert_eq!(r.priority, Severity::High);
        assert!(
            r.text.contains("lighthouse bn --target-peers 100"),
            "{}",
            r.text
        );
        assert!(r.text.contains("4 of 10"), "{}", r.text);
        // Plenty of peers: late inclusion is not a peer problem.
        h.evaluate(&lighthouse(90)).unwrap();
        let out = h.evaluate(&late_epoch()).unwrap();
        assert!(
            out.recommendations
                .iter()
                .all(|r| r.action_id.as_deref() != Some("raise_target_peers"))
        );
    }

    #[test]
    fn clock_disk_and_duties() {
        let mut h = Harness::<crate::Recommendations>::with_toml("").unwrap();
        let Input::Node(mut n) = lighthouse(90) else {
            unreachable!()
        };
        n.system.clock_offset_ms = Some(-1200.0);
        n.system.disks = vec![Disk {
            path: "/data".into(),
            total_bytes: 1000,
            free_bytes: 300,
        }];
        n.execution = vec![vigil_plugin_sdk::ExecutionNode {
            name: "el".into(),
            reachable: true,
            error: None,
            client: Some(ClientVersion {
                name: "geth".into(),
                version: Some("1.14.0".into()),
                raw: String::new(),
            }),
            is_syncing: Some(false),
            block_number: None,
            block_age_ms: None,
            chain_id: None,
            peers: Some(50),
            gas_price_wei: None,
            block_time_ms: None,
            tps: None,
            gas_used_ratio: None,
        }];
        // node-health's forecast, as the store would serve it.
        h.host.series.insert(
            (
                "disk_days_until_full".into(),
                vec![("path".into(), "/data".into())],
            ),
            vec![(n.timestamp_ms - 60_000, 5.5)],
        );
        let out = h.evaluate(&Input::Node(n)).unwrap();
        let ids: Vec<&str> = out
            .recommendations
            .iter()
            .filter_map(|r| r.action_id.as_deref())
            .collect();
        assert_eq!(ids, vec!["enable_ntp", "prune_execution_db"]);
        let disk = &out.recommendations[1];
        assert!(
            disk.text.contains("snapshot prune-state") && disk.text.contains("5.5 days"),
            "{}",
            disk.text
        );
        let mut e = testing::epoch_input(10, 4);
        e.upcoming_proposals.push(Proposal {
            slot: 90,
            validator: 1,
            outcome: BlockOutcome::Unknown,
            reward: None,
        });
        let out = h.evaluate(&Input::Epoch(e)).unwrap();
        let r = &out.recommendations[0];
        assert_eq!(r.action_id.as_deref(), Some("postpone_maintenance"));
        assert!(r.text.contains("slot 90"), "{}", r.text);
    }

    #[test]
    fn bad_config_is_refused() {
        let e = Harness::<crate::Recommendations>::with_toml("late_share = 3")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("late_share"));
    }
}
