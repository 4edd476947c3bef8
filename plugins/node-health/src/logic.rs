//! The judgement itself, in plain functions so it unit-tests natively.

use std::collections::BTreeMap;
use vigil_plugin_sdk::prelude::*;

/// `[plugin.node-health]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub min_peers: u64,
    pub max_sync_distance: u64,
    pub max_head_lag_slots: i64,
    pub min_el_peers: u64,
    pub max_el_block_age_s: f64,
    /// Epochs between the wall clock's epoch and the finalized epoch before
    /// `finality_stalled` (2 is normal).
    pub max_finality_lag_epochs: u64,
    /// Reorg depth (slots) above which `reorg_deep` is raised.
    pub max_reorg_depth: u64,
    /// Free space below this share of the disk raises `disk_free_low`, percent.
    pub min_disk_free_percent: f64,
    /// A fitted days-until-full below this raises `disk_full_forecast`.
    pub min_days_until_full: f64,
    /// CPU busy above this (percent, all cores) for `saturation_ticks` ticks raises
    /// `cpu_saturated`; memory used above `max_memory_percent` raises `memory_saturated`.
    pub max_cpu_percent: f64,
    pub max_memory_percent: f64,
    pub saturation_ticks: u32,
    /// Execution chain health (checks and series, no alerts): mean block time above
    /// this many seconds is a warning.
    pub max_block_time_s: f64,
    /// A gas price above this multiple of its recent median is a spike (warning).
    pub gas_spike_factor: f64,
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
            max_finality_lag_epochs: 4,
            max_reorg_depth: 2,
            min_disk_free_percent: 10.0,
            min_days_until_full: 7.0,
            max_cpu_percent: 95.0,
            max_memory_percent: 95.0,
            saturation_ticks: 10,
            max_block_time_s: 15.0,
            gas_spike_factor: 3.0,
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
        ConfigError::check_range(
            "max_finality_lag_epochs",
            self.max_finality_lag_epochs,
            2,
            10_000,
        )?;
        ConfigError::check_range("max_reorg_depth", self.max_reorg_depth, 1, 10_000)?;
        ConfigError::check_range(
            "min_disk_free_percent",
            self.min_disk_free_percent,
            0.0,
            100.0,
        )?;
        ConfigError::check_range("min_days_until_full", self.min_days_until_full, 0.0, 3650.0)?;
        ConfigError::check_range("max_cpu_percent", self.max_cpu_percent, 1.0, 100.0)?;
        ConfigError::check_range("max_memory_percent", self.max_memory_percent, 1.0, 100.0)?;
        ConfigError::check_range("saturation_ticks", self.saturation_ticks, 1, 10_000)?;
        ConfigError::check_range("max_block_time_s", self.max_block_time_s, 0.1, 3600.0)?;
        ConfigError::check_range("gas_spike_factor", self.gas_spike_factor, 1.0, 1000.0)?;
        Ok(())
    }
}

/// What node-health remembers between ticks (host state): machine streaks, disk
/// samples for the forecast, recent gas prices and the deepest reorg already reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub saturated: Streaks<String>,
    /// Per disk path: `(unix ms, free bytes)`, at most one sample per 5 minutes.
    pub disk: BTreeMap<String, Vec<(i64, f64)>>,
    /// Per execution node: recent gas prices, gwei.
    pub gas: BTreeMap<String, Window>,
    /// Per beacon node: (reorg count, deepest) at the last tick, and until when (ms) a
    /// new deep reorg stays raised.
    pub reorgs: BTreeMap<String, (u64, u64, i64)>,
}

/// Disk samples kept for the forecast (a week at one per 5 minutes).
const DISK_SAMPLES: usize = 2016;
const DISK_SAMPLE_EVERY_MS: i64 = 5 * 60 * 1000;
/// A deep reorg stays raised this long after it was seen.
const REORG_HOLD_MS: i64 = 10 * 60 * 1000;

/// Judge one tick.
pub fn judge(cfg: &Config, node: &NodeInput, mem: &mut Memory, out: &mut Output) {
    for cl in &node.consensus {
        judge_consensus(cfg, cl, out);
        judge_chain(cfg, node, cl, mem, out);
    }
    for el in &node.execution {
        judge_execution(cfg, el, out);
        judge_execution_chain(cfg, el, mem, out);
    }
    judge_machine(cfg, node, mem, out);
}

/// Finality and reorgs, seen from one beacon node.
fn judge_chain(
    cfg: &Config,
    node: &NodeInput,
    cl: &ConsensusNode,
    mem: &mut Memory,
    out: &mut Output,
) {
    let name = cl.name.as_str();
    if !cl.reachable {
        return;
    }
    if let (Some(net), Some(wall), Some(fin)) =
        (node.network.as_ref(), node.wall_slot, cl.finalized_epoch)
    {
        let lag = (wall / net.slots_per_epoch.max(1) as u64).saturating_sub(fin);
        out.series(SeriesPoint::new("finality_lag_epochs", lag as f64).label("node", name));
        if lag > cfg.max_finality_lag_epochs {
            out.alert(
                AlertCondition::new(
                    "finality_stalled",
                    Severity::High,
                    format!("{name}: last finalized epoch {fin} is {lag} epochs behind the clock (normal: 2)"),
                )
                .subject("node", name)
                .value(lag as f64)
                .threshold(cfg.max_finality_lag_epochs as f64),
            );
        }
    }
    let now = node.timestamp_ms;
    let prev = mem.reorgs.get(name).copied().unwrap_or((0, 0, 0));
    let mut until = prev.2;
    if cl.reorg_count > prev.0
        && cl.reorg_max_depth > cfg.max_reorg_depth
        && cl.reorg_max_depth >= prev.1
    {
        until = now + REORG_HOLD_MS;
    }
    mem.reorgs.insert(
        name.to_string(),
        (cl.reorg_count, cl.reorg_max_depth, until),
    );
    if now < until {
        out.alert(
            AlertCondition::new(
                "reorg_deep",
                Severity::High,
                format!("{name} saw a reorg {} slots deep", cl.reorg_max_depth),
            )
            .subject("node", name)
            .value(cl.reorg_max_depth as f64)
            .threshold(cfg.max_reorg_depth as f64),
        );
    }
}

/// Execution chain health: block time, gas price spikes, throughput (checks and series).
fn judge_execution_chain(cfg: &Config, el: &ExecutionNode, mem: &mut Memory, out: &mut Output) {
    let name = el.name.as_str();
    if !el.reachable {
        return;
    }
    let mut notes = Vec::new();
    let mut warn = false;
    if let Some(bt) = el.block_time_ms {
        out.series(SeriesPoint::new("el_block_time_ms", bt).label("node", name));
        notes.push(format!("block time {:.1} s", bt / 1000.0));
        warn |= bt / 1000.0 > cfg.max_block_time_s;
    }
    if let Some(tps) = el.tps {
        out.series(SeriesPoint::new("el_tps", tps).label("node", name));
        notes.push(format!("{tps:.1} tx/s"));
    }
    if let Some(wei) = el.gas_price_wei {
        let gwei = wei as f64 / 1e9;
        out.series(SeriesPoint::new("el_gas_price_gwei", gwei).label("node", name));
        let w = mem
            .gas
            .entry(name.to_string())
            .or_insert_with(|| Window::new(60));
        let median = w.percentile(50.0);
        w.push(gwei);
        if let Some(m) =
            median.filter(|m| *m > 0.0 && w.len() >= 10 && gwei > m * cfg.gas_spike_factor)
        {
            warn = true;
            notes.push(format!(
                "gas price spike {gwei:.1} gwei ({:.1}x the recent median)",
                gwei / m
            ));
        } else {
            notes.push(format!("gas {gwei:.2} gwei"));
        }
    }
    if notes.is_empty() {
        return;
    }
    let text = format!("{name}: {}", notes.join(", "));
    let c = if warn {
        Check::warn("execution_chain", text)
    } else {
        Check::ok("execution_chain", text)
    };
    out.check(c.subject("node", name));
}

/// Disks, CPU and memory of this machine.
fn judge_machine(cfg: &Config, node: &NodeInput, mem: &mut Memory, out: &mut Output) {
    let now = node.timestamp_ms;
    for d in &node.system.disks {
        if d.total_bytes == 0 {
            continue;
        }
        let free_pct = d.free_bytes as f64 * 100.0 / d.total_bytes as f64;
        if free_pct < cfg.min_disk_free_percent {
            out.alert(
                AlertCondition::new(
                    "disk_free_low",
                    Severity::High,
                    format!(
                        "{}: {free_pct:.1} % free ({:.1} GiB)",
                        d.path,
                        d.free_bytes as f64 / (1u64 << 30) as f64
                    ),
                )
                .subject("path", &d.path)
                .value(free_pct)
                .threshold(cfg.min_disk_free_percent),
            );
        }
        let samples = mem.disk.entry(d.path.clone()).or_default();
        if samples
            .last()
            .is_none_or(|(t, _)| now - t >= DISK_SAMPLE_EVERY_MS)
        {
            samples.push((now, d.free_bytes as f64));
            if samples.len() > DISK_SAMPLES {
                samples.remove(0);
            }
        }
        // Fit free bytes over days; a falling line crossing zero soon is the forecast.
        if samples.len() >= 6
            && let Some((slope, _)) =
                linear_fit(samples.iter().map(|(t, f)| (*t as f64 / 86_400_000.0, *f)))
            && slope < 0.0
        {
            let days = d.free_bytes as f64 / -slope;
            out.series(SeriesPoint::new("disk_days_until_full", days).label("path", &d.path));
            if days < cfg.min_days_until_full {
                out.alert(
                    AlertCondition::new(
                        "disk_full_forecast",
                        Severity::High,
                        format!(
                            "{}: full in {days:.1} days at the current rate ({:.2} GiB/day)",
                            d.path,
                            -slope / (1u64 << 30) as f64
                        ),
                    )
                    .subject("path", &d.path)
                    .value(days)
                    .threshold(cfg.min_days_until_full),
                );
            }
        }
    }
    let s = &node.system;
    let mem_pct = match (s.memory_used_bytes, s.memory_total_bytes) {
        (Some(u), Some(t)) if t > 0 => Some(u as f64 * 100.0 / t as f64),
        _ => None,
    };
    for (key, value, limit, name, what) in [
        (
            "cpu",
            s.cpu_percent,
            cfg.max_cpu_percent,
            "cpu_saturated",
            "CPU",
        ),
        (
            "memory",
            mem_pct,
            cfg.max_memory_percent,
            "memory_saturated",
            "memory",
        ),
    ] {
        let Some(v) = value else { continue };
        let run = mem.saturated.observe(&key.to_string(), v > limit);
        if run >= cfg.saturation_ticks {
            out.alert(
                AlertCondition::new(
                    name,
                    Severity::High,
                    format!("{what} at {v:.0} % for {run} ticks (limit {limit:.0} %)"),
                )
                .subject("host", "local")
                .value(v)
                .threshold(limit),
            );
        }
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
                "el_block_lag",
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
        let mut h = Harness::<crate::NodeHealth>::with_toml("").unwrap();
        let out = h
            .evaluate(&tick(vec![testing::consensus_node("bn", 50)]))
            .unwrap();
        assert!(out.alerts.is_empty());
        assert_eq!(out.checks[0].status, CheckStatus::Ok);
    }

    #[test]
    fn thresholds_come_from_config() {
        let mut h = Harness::<crate::NodeHealth>::with_toml("min_peers = 60").unwrap();
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
        let mut h = Harness::<crate::NodeHealth>::with_toml("").unwrap();
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
        let mut h = Harness::<crate::NodeHealth>::with_toml("").unwrap();
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
        let e = Harness::<crate::NodeHealth>::with_toml("min_peer = 3")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("min_peer"));
        let e = Harness::<crate::NodeHealth>::with_toml("max_head_lag_slots = 0")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("max_head_lag_slots"));
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use vigil_plugin_sdk::Disk;
    use vigil_plugin_sdk::testing::{self, Harness};

    #[test]
    fn finality_and_reorgs() {
        let mut h = Harness::<crate::NodeHealth>::with_toml("").unwrap();
        let mut n = testing::node_input(1_700_000_100_000);
        let mut bn = testing::consensus_node("bn", 50);
        bn.finalized_epoch = Some(8);
        n.wall_slot = Some(15 * 8); // epoch 15: 7 epochs behind
        n.consensus = vec![bn.clone()];
        let out = h.evaluate(&Input::Node(n.clone())).unwrap();
        let a = out.find_alert("finality_stalled").unwrap();
        assert_eq!(a.value, Some(7.0));
        n.wall_slot = Some(10 * 8);
        assert!(
            h.evaluate(&Input::Node(n.clone()))
                .unwrap()
                .find_alert("finality_stalled")
                .is_none()
        );
        // A 3-slot reorg: raised, held, then gone.
        n.consensus[0].reorg_count = 1;
        n.consensus[0].reorg_max_depth = 3;
        assert!(
            h.evaluate(&Input::Node(n.clone()))
                .unwrap()
                .find_alert("reorg_deep")
                .is_some()
        );
        n.timestamp_ms += 60_000;
        assert!(
            h.evaluate(&Input::Node(n.clone()))
                .unwrap()
                .find_alert("reorg_deep")
                .is_some()
        );
        n.timestamp_ms += REORG_HOLD_MS;
        assert!(
            h.evaluate(&Input::Node(n))
                .unwrap()
                .find_alert("reorg_deep")
                .is_none()
        );
    }

    #[test]
    fn disk_low_and_forecast_and_saturation() {
        let mut h = Harness::<crate::NodeHealth>::with_toml("saturation_ticks = 2").unwrap();
        let gib = 1u64 << 30;
        let mut last = None;
        // Losing 10 GiB a day from 50 GiB free on a 1 TiB disk: full in ~5 days.
        for k in 0..12i64 {
            let mut n = testing::node_input(1_700_000_000_000 + k * 3_600_000);
            n.system.disks = vec![Disk {
                path: "/var/lib/ethereum".into(),
                total_bytes: 1024 * gib,
                free_bytes: 50 * gib - (k as u64 * 10 * gib / 24),
            }];
            n.system.cpu_percent = Some(99.0);
            last = Some(h.evaluate(&Input::Node(n)).unwrap());
        }
        let out = last.unwrap();
        assert!(out.find_alert("disk_free_low").is_some(), "under 10 % free");
        let f = out.find_alert("disk_full_forecast").unwrap();
        assert!((4.0..5.0).contains(&f.value.unwrap()), "{:?}", f.value);
        assert_eq!(
            f.subject,
            vec![("path".to_string(), "/var/lib/ethereum".to_string())]
        );
        let c = out.find_alert("cpu_saturated").unwrap();
        assert_eq!(c.subject, vec![("host".to_string(), "local".to_string())]);
        assert!(
            out.find_alert("memory_saturated").is_none(),
            "memory unknown"
        );
    }

    #[test]
    fn el_block_lag_and_gas_spike() {
        let mut h = Harness::<crate::NodeHealth>::with_toml("").unwrap();
        let el = |gas: u64, age: i64| ExecutionNode {
            name: "el".into(),
            reachable: true,
            error: None,
            client: None,
            is_syncing: Some(false),
            block_number: Some(100),
            block_age_ms: Some(age),
            chain_id: Some(1),
            peers: Some(40),
            gas_price_wei: Some(gas),
            block_time_ms: Some(12_000.0),
            tps: Some(15.0),
            gas_used_ratio: Some(0.5),
        };
        for k in 0..12 {
            let mut n = testing::node_input(1_700_000_000_000 + k * 12_000);
            n.execution = vec![el(10_000_000_000, 3_000)];
            assert!(h.evaluate(&Input::Node(n)).unwrap().alerts.is_empty());
        }
        let mut n = testing::node_input(1_700_000_200_000);
        n.execution = vec![el(80_000_000_000, 90_000)];
        let out = h.evaluate(&Input::Node(n)).unwrap();
        assert!(out.find_alert("el_block_lag").is_some());
        let c = out
            .checks
            .iter()
            .find(|c| c.name == "execution_chain")
            .unwrap();
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.text.contains("spike"), "{}", c.text);
    }
}
