//! The judgement itself, in plain functions so it unit-tests natively.

use vigil_plugin_sdk::prelude::*;

/// `[plugin.node-sync]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub min_peers: u64,
    pub max_sync_distance: u64,
    pub max_head_lag_slots: i64,
    pub min_el_peers: u64,
    pub max_el_block_age_s: f64,
}

/// Defaults for a mainnet home staker: clients target 50-100 peers, under 5 is a
/// networking problem; 2 slots of lag is normal jitter, 3+ means missed head votes.
impl Default for Config {
    fn default() -> Self {
        Config {
            min_peers: 5,
            max_sync_distance: 2,
            max_head_lag_slots: 3,
            min_el_peers: 3,
            max_el_block_age_s: 60.0,
        }
    }
}

impl Config {
    /// Cross-field and range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("min_peers", self.min_peers, 0, 10_000)?;
        ConfigError::check_range("max_sync_distance", self.max_sync_distance, 0, 1_000_000)?;
        ConfigError::check_range("max_head_lag_slots", self.max_head_lag_slots, 1, 1_000_000)?;
        ConfigError::check_range("min_el_peers", self.min_el_peers, 0, 10_000)?;
        ConfigError::check_range("max_el_block_age_s", self.max_el_block_age_s, 1.0, 86_400.0)?;
        Ok(())
    }
}

/// Judge one tick.
pub fn judge(cfg: &Config, node: &NodeInput, out: &mut Output) {
    for cl in &node.consensus {
        judge_consensus(cfg, cl, out);
    }
    for el in &node.execution {
        judge_execution(cfg, el, out);
    }
}

fn judge_consensus(cfg: &Config, cl: &ConsensusNode, out: &mut Output) {
    let name = cl.name.as_str();
    if !cl.reachable {
        let why = cl.error.as_deref().unwrap_or("no answer");
        out.alert(
            AlertCondition::new(
                "node_unreachable",
                Severity::Critical,
                format!("beacon node {name} is unreachable: {why}"),
            )
            .subject("node", name),
        );
        out.check(Check::fail("beacon_reachable", format!("{name}: {why}")).subject("node", name));
        return;
    }
    let mut problems = Vec::new();
    if let Some(d) = cl.sync_distance.filter(|d| *d > cfg.max_sync_distance)
        && cl.is_syncing != Some(false)
    {
        problems.push(format!("syncing, {d} slots behind"));
        out.alert(
            AlertCondition::new(
                "cl_syncing",
                Severity::High,
                format!("beacon node {name} is syncing: {d} slots behind"),
            )
            .subject("node", name)
            .value(d as f64)
            .threshold(cfg.max_sync_distance as f64),
        );
    }
    if let Some(lag) = cl.head_lag_slots.filter(|l| *l > cfg.max_head_lag_slots) {
        problems.push(format!("head {lag} slots behind the clock"));
        out.alert(
            AlertCondition::new(
                "cl_head_behind",
                Severity::High,
                format!("beacon node {name} head is {lag} slots behind the wall clock"),
            )
            .subject("node", name)
            .value(lag as f64)
            .threshold(cfg.max_head_lag_slots as f64),
        );
    }
    if let Some(p) = cl.peers.filter(|p| *p < cfg.min_peers) {
        problems.push(format!("{p} peers"));
        let severity = if p == 0 {
            Severity::Critical
        } else {
            Severity::Medium
        };
        out.alert(
            AlertCondition::new(
                "cl_peers_low",
                severity,
                format!(
                    "beacon node {name} has {p} peers (minimum {})",
                    cfg.min_peers
                ),
            )
            .subject("node", name)
            .value(p as f64)
            .threshold(cfg.min_peers as f64),
        );
    }
    if let Some(lag) = cl.head_lag_slots {
        out.series(SeriesPoint::new("cl_head_lag_slots", lag as f64).label("node", name));
    }
    let check = if problems.is_empty() {
        Check::ok(
            "beacon_synced",
            format!(
                "{name}: synced, {} peers",
                cl.peers.map_or("?".into(), |p| p.to_string())
            ),
        )
    } else {
        Check::warn("beacon_synced", format!("{name}: {}", problems.join(", ")))
    };
    out.check(check.subject("node", name));
}

fn judge_execution(cfg: &Config, el: &ExecutionNode, out: &mut Output) {
    let name = el.name.as_str();
    if !el.reachable {
        let why = el.error.as_deref().unwrap_or("no answer");
        out.alert(
            AlertCondition::new(
                "node_unreachable",
                Severity::Critical,
                format!("execution node {name} is unreachable: {why}"),
            )
            .subject("node", name),
        );
        out.check(
            Check::fail("execution_reachable", format!("{name}: {why}")).subject("node", name),
        );
        return;
    }
    let mut problems = Vec::new();
    if el.is_syncing == Some(true) {
        problems.push("syncing".to_string());
        out.alert(
            AlertCondition::new(
                "el_syncing",
                Severity::High,
                format!("execution node {name} is syncing"),
            )
            .subject("node", name),
        );
    }
    if let Some(age_s) = el
        .block_age_ms
        .map(|ms| ms as f64 / 1000.0)
        .filter(|a| *a > cfg.max_el_block_age_s)
    {
        problems.push(format!("latest block {age_s:.0} s old"));
        out.alert(
            AlertCondition::new(
                "el_head_stale",
                Severity::High,
                format!("execution node {name}: latest block is {age_s:.0} s old"),
            )
            .subject("node", name)
            .value(age_s)
            .threshold(cfg.max_el_block_age_s),
        );
    }
    if let Some(p) = el.peers.filter(|p| *p < cfg.min_el_peers) {
        problems.push(format!("{p} peers"));
        out.alert(
            AlertCondition::new(
                "el_peers_low",
                Severity::Medium,
                format!(
                    "execution node {name} has {p} peers (minimum {})",
                    cfg.min_el_peers
                ),
            )
            .subject("node", name)
            .value(p as f64)
            .threshold(cfg.min_el_peers as f64),
        );
    }
    let check = if problems.is_empty() {
        Check::ok("execution_synced", format!("{name}: synced"))
    } else {
        Check::warn(
            "execution_synced",
            format!("{name}: {}", problems.join(", ")),
        )
    };
    out.check(check.subject("node", name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::testing::{self, Harness};

    fn tick(nodes: Vec<ConsensusNode>) -> Input {
        let mut n = testing::node_input(1_700_000_100_000);
        n.consensus = nodes;
        Input::Node(n)
    }

    #[test]
    fn healthy_node_raises_nothing() {
        let mut h = Harness::<crate::NodeSync>::with_toml("").unwrap();
        let out = h
            .evaluate(&tick(vec![testing::consensus_node("bn", 50)]))
            .unwrap();
        assert!(out.alerts.is_empty());
        assert_eq!(out.checks[0].status, CheckStatus::Ok);
    }

    #[test]
    fn thresholds_come_from_config() {
        let mut h = Harness::<crate::NodeSync>::with_toml("min_peers = 60").unwrap();
        let out = h
            .evaluate(&tick(vec![testing::consensus_node("bn", 50)]))
            .unwrap();
        let a = out.find_alert("cl_peers_low").unwrap();
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.subject, vec![("node".to_string(), "bn".to_string())]);
        assert_eq!((a.value, a.threshold), (Some(50.0), Some(60.0)));
    }

    #[test]
    fn zero_peers_is_critical_and_lag_is_caught_without_sync_distance() {
        let mut h = Harness::<crate::NodeSync>::with_toml("").unwrap();
        let mut bn = testing::consensus_node("bn", 0);
        bn.head_lag_slots = Some(10);
        let out = h.evaluate(&tick(vec![bn])).unwrap();
        assert_eq!(
            out.find_alert("cl_peers_low").unwrap().severity,
            Severity::Critical
        );
        assert!(out.find_alert("cl_head_behind").is_some());
        assert!(out.find_alert("cl_syncing").is_none(), "sync_distance is 0");
    }

    #[test]
    fn unreachable_node_says_why() {
        let mut h = Harness::<crate::NodeSync>::with_toml("").unwrap();
        let mut bn = testing::consensus_node("bn", 50);
        bn.reachable = false;
        bn.error = Some("connection refused".into());
        let out = h.evaluate(&tick(vec![bn])).unwrap();
        let a = out.find_alert("node_unreachable").unwrap();
        assert!(a.summary.contains("connection refused"));
        assert_eq!(
            out.alerts.len(),
            1,
            "no other alert for a node we cannot see"
        );
    }

    #[test]
    fn bad_config_is_refused_by_key() {
        let e = Harness::<crate::NodeSync>::with_toml("min_peer = 3")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("min_peer"));
        let e = Harness::<crate::NodeSync>::with_toml("max_head_lag_slots = 0")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("max_head_lag_slots"));
    }
}
