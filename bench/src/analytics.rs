//! `vigil bench analytics`: every built-in plugin over one mainnet epoch of 10k
//! validators, sandboxed and the same logic compiled natively.
//!
//! One epoch of work is what a plugin receives in 6.4 minutes on mainnet: one epoch
//! input (10k validators, columnar), 32 slot inputs and 32 node ticks (one per 12 s
//! slot; two nodes, clients detected, scraped metrics), each plugin given only the kinds
//! it subscribes to. Per plugin: the median of several runs of that workload, in the
//! sandbox (`analytics_<plugin>_ms`) and natively (`analytics_<plugin>_native_ms`,
//! through the SDK's test harness, the plugin's code behind the same entry point), and
//! their ratio; then the totals, `total_ms_10k_validators` first, and
//! `total_ms_10k_validators_scores_only` with attestations' and efficiency's
//! per-validator series switched off, and the host's expansion of the epoch's columnar
//! per-validator series into stored series keys (`host_validator_series_expand_ms`,
//! outside the sandbox, not in the totals). The previous epoch is given once before timing
//! (income needs its balances). Plugin state starts
//! empty on both sides for every run (the sandboxed runs have no store); in-memory
//! caches (efficiency's windows, balance-earnings' ledger) stay warm on both.

use crate::report::Figure;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil::contract::{
    BlockOutcome, ClientVersion, ConsensusNode, ExecutionNode, Input, InputKind,
    MetricFamilySamples, NodeInput, SlotInput, SystemInfo,
};
use vigil::plugins::{Limits, Runtime};
use vigil::term;

/// The shipped plugins, with the configuration benchmarked (threshold gets rules so it
/// has work to do).
const PLUGINS: [(&str, &str); 10] = [
    ("attestations", "{}"),
    ("proposals", "{}"),
    ("sync-committee", "{}"),
    ("balance-earnings", "{}"),
    ("efficiency", "{}"),
    ("node-health", "{}"),
    ("clients", "{}"),
    ("recommendations", "{}"),
    ("ephemery", "{}"),
    (
        "threshold",
        r#"{"rules":[{"name":"peers_low","series":"libp2p_peers","comparison":"<","value":20,"for":"1m"},{"name":"cpu_high","series":"cpu_percent","comparison":">","value":90},{"name":"head_stuck","series":"beacon_head_slot","comparison":"<","value":1}]}"#,
    ),
];

/// Runs of each workload; the median is reported.
const RUNS: usize = 11;
const VALIDATORS: usize = 10_000;

/// A plugin's logic compiled natively, behind the harness.
trait Native {
    fn run(&mut self, inputs: &[vigil_plugin_sdk::Input]) -> Result<(), String>;
}

impl<P: vigil_plugin_sdk::Plugin> Native for vigil_plugin_sdk::testing::Harness<P> {
    fn run(&mut self, inputs: &[vigil_plugin_sdk::Input]) -> Result<(), String> {
        self.host.state.clear();
        for i in inputs {
            self.evaluate_borrowed(i)?;
        }
        Ok(())
    }
}

fn native(name: &str, config: &str) -> anyhow::Result<Box<dyn Native>> {
    use vigil_plugin_sdk::testing::Harness;
    fn h<P: vigil_plugin_sdk::Plugin>(config: &str) -> anyhow::Result<Box<dyn Native>> {
        Ok(Box::new(
            Harness::<P>::with_json(config).map_err(|e| anyhow::anyhow!("{}", e.message))?,
        ))
    }
    match name {
        "attestations" => h::<vigil_plugin_attestations::Attestations>(config),
        "proposals" => h::<vigil_plugin_proposals::Proposals>(config),
        "sync-committee" => h::<vigil_plugin_sync_committee::SyncCommittee>(config),
        "balance-earnings" => h::<vigil_plugin_balance_earnings::BalanceEarnings>(config),
        "efficiency" => h::<vigil_plugin_efficiency::Efficiency>(config),
        "node-health" => h::<vigil_plugin_node_health::NodeHealth>(config),
        "clients" => h::<vigil_plugin_clients::Clients>(config),
        "recommendations" => h::<vigil_plugin_recommendations::Recommendations>(config),
        "ephemery" => h::<vigil_plugin_ephemery::Ephemery>(config),
        "threshold" => h::<vigil_plugin_threshold::ThresholdRules>(config),
        other => anyhow::bail!("no native build of plugin {other}"),
    }
}

/// The epoch before the measured one, given once before timing (income needs the
/// previous epoch's balances).
fn prime() -> Input {
    let Input::Epoch(mut e) = crate::workload::epoch_input(VALIDATORS, 6) else {
        unreachable!("epoch_input builds an epoch")
    };
    for b in e.validators.balance.iter_mut() {
        *b -= 12_000;
    }
    Input::Epoch(e)
}

/// One mainnet epoch of inputs: the epoch, its 32 slots, 32 node ticks.
fn workload() -> Vec<Input> {
    let epoch = 7u64;
    let Input::Epoch(e) = crate::workload::epoch_input(VALIDATORS, epoch) else {
        unreachable!("epoch_input builds an epoch")
    };
    let net = e.network.clone();
    let spe = net.slots_per_epoch as u64;
    let mut inputs = vec![Input::Epoch(e)];
    for k in 0..spe {
        let slot = (epoch + 1) * spe + k;
        let watched = k % 11 == 0;
        inputs.push(Input::Slot(SlotInput {
            network: net.clone(),
            slot,
            epoch: epoch + 1,
            proposer: Some(100_000 + k * 300),
            proposer_watched: watched,
            outcome: if k == 22 {
                BlockOutcome::Missed
            } else {
                BlockOutcome::Proposed
            },
            block_root: Some(format!("0x{slot:064x}")),
            parent_root: None,
            attestations: 128,
            sync_participation: Some(0.97),
            proposer_reward: Some(40_000_000),
            seen_at_ms: Some(1_800),
            execution_block_number: Some(21_000_000 + k),
            fee_recipient: None,
            node: "beacon-0".into(),
        }));
        let ts = (net.genesis_time as i64 + slot as i64 * net.seconds_per_slot as i64) * 1000;
        let mut cl = consensus("beacon-0", 80);
        cl.client = Some(ClientVersion {
            name: "lighthouse".into(),
            version: Some("5.3.0".into()),
            raw: "Lighthouse/v5.3.0".into(),
        });
        cl.head_slot = Some(slot);
        cl.finalized_epoch = Some(epoch - 1);
        inputs.push(Input::Node(NodeInput {
            network: Some(net.clone()),
            timestamp_ms: ts,
            wall_slot: Some(slot),
            consensus: vec![cl],
            execution: vec![ExecutionNode {
                name: "geth-0".into(),
                reachable: true,
                error: None,
                client: Some(ClientVersion {
                    name: "geth".into(),
                    version: Some("1.14.12".into()),
                    raw: "Geth/v1.14.12-stable".into(),
                }),
                is_syncing: Some(false),
                block_number: Some(21_000_000 + k),
                block_age_ms: Some(3_000),
                chain_id: Some(1),
                peers: Some(48),
                gas_price_wei: Some(8_000_000_000 + k * 10_000_000),
                block_time_ms: Some(12_000.0),
                tps: Some(14.0),
                gas_used_ratio: Some(0.5),
            }],
            metrics: vec![
                MetricFamilySamples {
                    target: "beacon-0".into(),
                    names: vec!["libp2p_peers".into(), "beacon_head_slot".into()],
                    labels: vec![vec![], vec![]],
                    values: vec![80.0, slot as f64],
                },
                MetricFamilySamples {
                    target: "geth-0".into(),
                    names: vec!["p2p_peers".into(), "chain_head_block".into()],
                    labels: vec![vec![], vec![]],
                    values: vec![48.0, (21_000_000 + k) as f64],
                },
            ],
            system: SystemInfo {
                cpu_percent: Some(35.0),
                memory_used_bytes: Some(20 << 30),
                memory_total_bytes: Some(64 << 30),
                ..SystemInfo::unknown()
            },
        }));
    }
    inputs
}

/// A synced beacon node.
fn consensus(name: &str, peers: u64) -> ConsensusNode {
    ConsensusNode {
        name: name.into(),
        reachable: true,
        error: None,
        client: None,
        is_syncing: Some(false),
        sync_distance: Some(0),
        is_optimistic: Some(false),
        el_offline: Some(false),
        head_slot: None,
        head_lag_slots: Some(0),
        finalized_epoch: None,
        justified_epoch: None,
        peers: Some(peers),
        health_code: Some(200),
        reorg_count: 0,
        reorg_max_depth: 0,
    }
}

fn kind(i: &Input) -> InputKind {
    vigil::evaluate::kind_of(i)
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Run the suite; figures are printed as they are measured.
pub(crate) fn run(json: bool, dir: Option<&Path>) -> anyhow::Result<Vec<Figure>> {
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target/plugins"));
    let limits = Limits {
        memory_bytes: 512 << 20,
        cpu_deadline: Duration::from_secs(30),
        ..Limits::default()
    };
    let rt = Runtime::new(limits, None, None)?;
    let inputs = workload();
    let native_inputs: Vec<vigil_plugin_sdk::Input> = inputs
        .iter()
        .map(|i| Ok(serde_json::from_value(serde_json::to_value(i)?)?))
        .collect::<anyhow::Result<_>>()?;
    let mut figures = Vec::new();
    let mut add = |name: String, value: f64, unit: &'static str| {
        let f = Figure {
            name,
            value: (value * 1000.0).round() / 1000.0,
            unit,
        };
        if json {
            println!("{}", serde_json::to_string(&f).unwrap_or_default());
        } else {
            println!("{:<44} {:>12.3} {}", f.name, f.value, term::dim(unit));
        }
        figures.push(f);
    };
    let primer = prime();
    let native_primer: vigil_plugin_sdk::Input =
        serde_json::from_value(serde_json::to_value(&primer)?)?;
    // The per-validator series of the epoch input, as the sandbox returned them: the
    // host's expansion into stored series keys is timed after the plugins.
    let epoch_series = std::cell::RefCell::new(Vec::new());
    let measure = |name: &str, config: &str| -> anyhow::Result<(f64, f64)> {
        let file = dir.join(format!("{name}.wasm"));
        anyhow::ensure!(
            file.is_file(),
            "{} not found: build the plugins first (`vigil plugins build --out {}`) or pass --plugins DIR",
            file.display(),
            dir.display()
        );
        let bytes = std::fs::read(&file)?;
        let module = rt
            .load_bytes(&file, &bytes)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let wants: Vec<usize> = (0..inputs.len())
            .filter(|&i| module.manifest.subscribes.contains(&kind(&inputs[i])))
            .collect();
        let mut inst = module
            .instantiate(&rt, config)
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let mut nat = native(name, config)?;
        let mine: Vec<vigil_plugin_sdk::Input> =
            wants.iter().map(|&i| native_inputs[i].clone()).collect();
        // Warm both (the previous epoch first), and fail loudly if the plugin refuses
        // the workload.
        if module.manifest.subscribes.contains(&InputKind::Epoch) {
            inst.evaluate(&rt, &primer, 0)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            nat.run(std::slice::from_ref(&native_primer))
                .map_err(|e| anyhow::anyhow!("{name} native: {e}"))?;
        }
        for &i in &wants {
            let ev = inst
                .evaluate(&rt, &inputs[i], 0)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            if matches!(inputs[i], Input::Epoch(_)) {
                epoch_series.borrow_mut().extend(ev.output.validator_series);
            }
        }
        nat.run(&mine)
            .map_err(|e| anyhow::anyhow!("{name} native: {e}"))?;
        let mut wasm_t = Vec::new();
        let mut nat_t = Vec::new();
        for _ in 0..RUNS {
            let s = Instant::now();
            for &i in &wants {
                let _ = inst.evaluate(&rt, &inputs[i], 0);
            }
            wasm_t.push(s.elapsed().as_secs_f64() * 1e3);
            let s = Instant::now();
            let _ = nat.run(&mine);
            nat_t.push(s.elapsed().as_secs_f64() * 1e3);
        }
        Ok((median(wasm_t), median(nat_t)))
    };
    let (mut total, mut total_native) = (0.0, 0.0);
    let mut rows = Vec::new();
    for (name, config) in PLUGINS {
        let (w, n) = measure(name, config)?;
        total += w;
        total_native += n;
        rows.push((name, w, n));
    }
    // The host's side of the per-validator series: one point per validator and series,
    // keyed `name{validator=…}` for the store (not part of the sandboxed totals).
    let series = epoch_series.take();
    let points: usize = series.iter().map(|s| s.validators.len()).sum();
    let mut expand_t = Vec::new();
    for _ in 0..RUNS {
        let s = Instant::now();
        let mut out = Vec::with_capacity(points);
        for vs in &series {
            vigil::evaluate::expand_validator_series(vs, 0, &mut out);
        }
        expand_t.push(s.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(out);
    }
    // Scores only: the two plugins with a `validator_series` switch, switched off.
    let mut scores_only = total;
    let mut rows_lean = Vec::new();
    for name in ["attestations", "efficiency"] {
        let (w, _) = measure(name, r#"{"validator_series": false}"#)?;
        let full = rows.iter().find(|r| r.0 == name).map_or(0.0, |r| r.1);
        scores_only += w - full;
        rows_lean.push((name, w));
    }
    add("total_ms_10k_validators".into(), total, "ms");
    add("total_native_ms_10k_validators".into(), total_native, "ms");
    add(
        "total_ratio_to_native".into(),
        total / total_native.max(1e-9),
        "ratio",
    );
    add(
        "total_ms_10k_validators_scores_only".into(),
        scores_only,
        "ms",
    );
    add(
        "validator_series_points_per_epoch".into(),
        points as f64,
        "points",
    );
    add(
        "host_validator_series_expand_ms".into(),
        median(expand_t),
        "ms",
    );
    for (name, w) in rows_lean {
        add(format!("analytics_{name}_scores_only_ms"), w, "ms");
    }
    for (name, w, n) in rows {
        let key = name.replace('-', "_");
        add(format!("analytics_{key}_ms"), w, "ms");
        add(format!("analytics_{key}_native_ms"), n, "ms");
        add(
            format!("analytics_{key}_ratio_to_native"),
            w / n.max(1e-9),
            "ratio",
        );
    }
    Ok(figures)
}
