//! `vigil bench <suite>`: measured figures, printed or as JSON lines
//! `{"name","value","unit"}`. Figures are named to read alone.
//!
//! `plugins`: compile (cold) and cached load, instantiate, empty call, `evaluate` over
//! 10k and 100k validators (columnar) against the same logic run natively, and hot swap
//! latency (file renamed into the watched folder → new version answering).

use crate::plugins::types::{
    EpochInput, Input, LabelColumn, NetworkInfo, NetworkStats, NodeInput, SystemInfo,
    ValidatorColumns,
};
use crate::plugins::{Limits, Registry, Runtime, watch};
use crate::term;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One measured figure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// Prints figures as they are measured.
struct Reporter {
    json: bool,
    figures: Vec<Figure>,
}

impl Reporter {
    fn add(&mut self, name: &str, value: f64, unit: &'static str) {
        let f = Figure {
            name: name.to_string(),
            value: (value * 1000.0).round() / 1000.0,
            unit,
        };
        if self.json {
            println!("{}", serde_json::to_string(&f).unwrap_or_default());
        } else {
            println!(
                "{:<40} {:>12} {}",
                f.name,
                format_value(f.value),
                term::dim(unit)
            );
        }
        self.figures.push(f);
    }
}

fn format_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Run a suite.
pub fn run(suite: &str, json: bool, plugins: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut r = Reporter {
        json,
        figures: Vec::new(),
    };
    match suite {
        "plugins" => bench_plugins(&mut r, plugins)?,
        "collector" => bench_collector(&mut r)?,
        other => {
            anyhow::bail!("unknown bench suite {other:?}: available: plugins, collector, store")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Median of `n` timings of `f`, in seconds.
fn median_secs(n: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn find_plugin(dir: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target/plugins"));
    let p = dir.join(format!("{name}.wasm"));
    anyhow::ensure!(
        p.is_file(),
        "{} not found: build the plugins first (`vigil plugins build --out {}`) or pass --plugins DIR",
        p.display(),
        dir.display()
    );
    Ok(p)
}

fn bench_plugins(r: &mut Reporter, dir: Option<&Path>) -> anyhow::Result<()> {
    let node_sync = find_plugin(dir, "node-sync")?;
    let streak = find_plugin(dir, "missed-streak")?;
    let tmp = tempfile_dir()?;
    // 100k validators' columns take ~25 MiB once lifted: give the sandbox room.
    let limits = Limits {
        memory_bytes: 512 << 20,
        cpu_deadline: Duration::from_secs(30),
        ..Limits::default()
    };

    // Compile cold: no cache.
    let cold = Runtime::new(limits.clone(), None, None)?;
    let bytes = std::fs::read(&node_sync)?;
    let compile = median_secs(3, || {
        let _ = cold.load_bytes(&node_sync, &bytes);
    });
    r.add("compile_cold_ms", compile * 1e3, "ms");

    // Cached load: hash, verify, deserialize, check contract, pre-instantiate, manifest.
    let rt = Runtime::new(limits.clone(), Some(tmp.join("cache")), None)?;
    rt.load_bytes(&node_sync, &bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cached = median_secs(20, || {
        let _ = rt.load_bytes(&node_sync, &bytes);
    });
    r.add("load_cached_ms", cached * 1e3, "ms");
    r.add("load_cached_ratio_to_cold", cached / compile, "ratio");

    let module = rt
        .load_bytes(&node_sync, &bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let inst_t = median_secs(200, || {
        let _ = module.instantiate(&rt, "{}");
    });
    r.add("instantiate_configured_us", inst_t * 1e6, "µs");

    let mut inst = module
        .instantiate(&rt, "{}")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let empty = empty_node_tick();
    let call = median_secs(2000, || {
        let _ = inst.evaluate(&rt, &empty, 0);
    });
    r.add("empty_call_us", call * 1e6, "µs");

    // evaluate over N validators: the sandboxed plugin vs its logic compiled natively.
    let streak_bytes = std::fs::read(&streak)?;
    let smod = rt
        .load_bytes(&streak, &streak_bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (n, label) in [(10_000usize, "10k"), (100_000, "100k")] {
        let input = epoch_input(n, 7);
        let native_input = to_native(&input)?;
        let mut wasm = smod
            .instantiate(&rt, "{}")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut native = vigil_plugin_sdk::testing::Harness::<
            vigil_plugin_missed_streak::MissedStreak,
        >::with_json("{}")
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let reps = if n > 50_000 { 7 } else { 21 };
        // The transfer alone: a plugin that ignores epoch inputs still receives them.
        let pass = median_secs(reps, || {
            let _ = inst.evaluate(&rt, &input, 0);
        });
        r.add(&format!("pass_{label}_validators_ms"), pass * 1e3, "ms");
        // Warm both (first call allocates state).
        wasm.evaluate(&rt, &input, 0)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        native
            .evaluate_borrowed(&native_input)
            .map_err(|e| anyhow::anyhow!(e))?;
        let w = median_secs(reps, || {
            let _ = wasm.evaluate(&rt, &input, 0);
        });
        // Same work on both sides: the sandboxed runs have no store, so each starts
        // from empty plugin state; so does each native run. "Native" is the plugin's
        // code compiled natively behind the same interface (the export's entry point,
        // taking the input by value); "borrowed" hands it a reference, no copy at all.
        let nt = median_secs(reps, || {
            native.host.state.clear();
            let _ = native.evaluate_owned(native_input.clone());
        });
        let nb = median_secs(reps, || {
            native.host.state.clear();
            let _ = native.evaluate_borrowed(&native_input);
        });
        r.add(&format!("evaluate_{label}_validators_ms"), w * 1e3, "ms");
        r.add(&format!("evaluate_{label}_native_ms"), nt * 1e3, "ms");
        r.add(
            &format!("evaluate_{label}_ratio_to_native"),
            w / nt,
            "ratio",
        );
        r.add(
            &format!("evaluate_{label}_native_borrowed_ms"),
            nb * 1e3,
            "ms",
        );
        r.add(
            &format!("evaluate_{label}_ratio_to_native_borrowed"),
            w / nb,
            "ratio",
        );
    }

    // Hot swap: rename a new version into the watched folder; time until it answers.
    let plugin_dir = tmp.join("plugins");
    std::fs::create_dir_all(&plugin_dir)?;
    std::fs::write(plugin_dir.join("node-sync.wasm"), &bytes)?;
    let rt = Arc::new(Runtime::new(limits, Some(tmp.join("cache")), None)?);
    let registry = Arc::new(Registry::new(
        rt.clone(),
        plugin_dir.clone(),
        Default::default(),
        3,
    ));
    registry.scan();
    let reg = registry.clone();
    let _w = watch::watch_dir(
        &plugin_dir,
        watch::is_plugin_file,
        watch::RESCAN,
        move || {
            reg.scan();
        },
    )?;
    let mut swaps = Vec::new();
    let probe = empty_node_tick();
    for i in 0..20u32 {
        // A new version: same code, one more custom section (a new hash, never cached).
        let mut v = bytes.clone();
        let name = format!("vigil-bench-{i}");
        v.push(0);
        v.push((name.len() + 1) as u8);
        v.push(name.len() as u8);
        v.extend_from_slice(name.as_bytes());
        let want: [u8; 32] =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&v)).into();
        let staging = plugin_dir.join(".node-sync.wasm.new");
        std::fs::write(&staging, &v)?;
        let start = Instant::now();
        std::fs::rename(&staging, plugin_dir.join("node-sync.wasm"))?;
        loop {
            let set = registry.current();
            if let Some(p) = set.plugins.iter().find(|p| p.module.hash == want)
                && p.evaluate(&rt, &probe, 0).is_ok()
            {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "hot swap {i} never happened"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        swaps.push(start.elapsed().as_secs_f64() * 1e3);
    }
    swaps.sort_by(f64::total_cmp);
    r.add("hot_swap_p50_ms", percentile(&swaps, 50.0), "ms");
    r.add("hot_swap_p99_ms", percentile(&swaps, 99.0), "ms");
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("vigil-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}

fn network() -> NetworkInfo {
    NetworkInfo {
        name: "bench".into(),
        iteration: 1,
        genesis_time: 1_700_000_000,
        genesis_validators_root: format!("0x{}", "ab".repeat(32)),
        chain_id: Some(1),
        seconds_per_slot: 12,
        slots_per_epoch: 32,
        epochs_per_sync_committee_period: 256,
        sync_committee_size: 512,
    }
}

fn empty_node_tick() -> Input {
    Input::Node(NodeInput {
        network: None,
        timestamp_ms: 0,
        wall_slot: None,
        consensus: Vec::new(),
        execution: Vec::new(),
        metrics: Vec::new(),
        system: SystemInfo {
            disks: Vec::new(),
            cpu_percent: None,
            load1: None,
            load5: None,
            load15: None,
            memory_used_bytes: None,
            memory_total_bytes: None,
            net_rx_bytes: None,
            net_tx_bytes: None,
            clock_offset_ms: None,
        },
    })
}

/// A mainnet-like epoch for `n` validators over 4 nodes: ~1 % missed attestations,
/// realistic rewards, some proposals and sync duties.
pub fn epoch_input(n: usize, epoch: u64) -> Input {
    let miss = |i: usize| i % 97 == 3;
    let col_i = |f: &dyn Fn(usize) -> i64| (0..n).map(f).collect::<Vec<i64>>();
    Input::Epoch(EpochInput {
        network: network(),
        epoch,
        finalized: false,
        validators: ValidatorColumns {
            index: (0..n as u64).map(|i| 100_000 + i).collect(),
            status: vec![2; n], // active_ongoing
            slashed: vec![0; n],
            balance: col_i(&|i| 32_000_000_000 + (i as i64 % 1000) * 1_000_000),
            effective_balance: vec![32_000_000_000; n],
            attested: (0..n).map(|i| u8::from(!miss(i))).collect(),
            inclusion_delay: (0..n)
                .map(|i| {
                    if miss(i) {
                        u64::MAX
                    } else {
                        1 + (i % 3 == 0) as u64
                    }
                })
                .collect(),
            earliest_inclusion_delay: vec![1; n],
            head_ok: (0..n).map(|i| u8::from(!miss(i) && i % 50 != 0)).collect(),
            target_ok: (0..n).map(|i| u8::from(!miss(i))).collect(),
            source_ok: (0..n).map(|i| u8::from(!miss(i))).collect(),
            reward_head: col_i(&|i| if miss(i) { 0 } else { 3_400 }),
            reward_target: col_i(&|i| if miss(i) { -6_300 } else { 6_300 }),
            reward_source: col_i(&|i| if miss(i) { -3_400 } else { 3_400 }),
            reward_inactivity: vec![0; n],
            ideal_head: vec![3_400; n],
            ideal_target: vec![6_300; n],
            ideal_source: vec![3_400; n],
            proposals_assigned: (0..n).map(|i| u32::from(i % 313 == 0)).collect(),
            proposals_made: (0..n)
                .map(|i| u32::from(i % 313 == 0 && !miss(i)))
                .collect(),
            proposals_orphaned: vec![0; n],
            proposal_reward: col_i(&|i| if i % 313 == 0 { 40_000_000 } else { i64::MIN }),
            sync_member: (0..n).map(|i| u8::from(i % 1000 == 0)).collect(),
            sync_signed: (0..n).map(|i| if i % 1000 == 0 { 31 } else { 0 }).collect(),
            sync_expected: (0..n).map(|i| if i % 1000 == 0 { 32 } else { 0 }).collect(),
            sync_reward: col_i(&|i| if i % 1000 == 0 { 600_000 } else { i64::MIN }),
            deposits: vec![0; n],
            withdrawals: vec![0; n],
            labels: vec![LabelColumn {
                name: "node".into(),
                values: (0..4).map(|k| format!("beacon-{k}")).collect(),
                codes: (0..n).map(|i| (i % 4) as u32).collect(),
            }],
        },
        proposals: Vec::new(),
        upcoming_proposals: Vec::new(),
        next_sync_committee: Vec::new(),
        network_stats: NetworkStats {
            total_active_balance: Some(34_000_000 * 1_000_000_000),
            active_validators: Some(1_062_500),
            participation_rate: Some(0.99),
            sync_participation: Some(0.98),
            base_reward_per_increment: None,
        },
    })
}

/// The same input in the SDK's types (one JSON round trip, outside any timing).
fn to_native(input: &Input) -> anyhow::Result<vigil_plugin_sdk::Input> {
    Ok(serde_json::from_value(serde_json::to_value(input)?)?)
}

/// CPU time of the calling thread, seconds (Linux: `/proc/thread-self/stat`).
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = &stat[stat.rfind(") ")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks / 100.0)
}

/// Collector CPU while watching the replayed chain in real time, as % of one core: the
/// collector runs alone on its own thread and runtime (the replay server's work is on
/// other threads and is not counted).
fn bench_collector(r: &mut Reporter) -> anyhow::Result<()> {
    /// Long enough for CPU ticks of 10 ms to resolve 0.1 % of a core.
    const WATCH: Duration = Duration::from_secs(60);
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let replay = server.block_on(vigil_replay::Replay::start(
        vigil_replay::ReplayOptions::new(vigil_replay::scenario_a())
            .start_at_slot(70)
            .speed(1),
    ))?;
    let url = replay.beacon_url();
    let metrics = replay.metrics_url("beacon-metrics");
    let (cpu, wall, slots) = std::thread::spawn(move || -> anyhow::Result<(f64, f64, u64)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let http = crate::collect::http::http_client()?;
            let mut chain = crate::collect::chain::ChainCollector::new(
                "bench",
                &[("replay".into(), url)],
                &(0..8).collect::<Vec<_>>(),
                http.clone(),
            );
            let start_cpu = thread_cpu_secs().unwrap_or(0.0);
            let start = Instant::now();
            let mut slots = 0;
            while start.elapsed() < WATCH {
                let now = crate::daemon::now_ms();
                tokio::time::sleep(Duration::from_millis(
                    (chain.next_tick_ms(now, 500) - now).max(0) as u64,
                ))
                .await;
                for o in chain.tick(crate::daemon::now_ms()).await {
                    if matches!(o, crate::collect::chain::Observation::Slot(_)) {
                        slots += 1;
                    }
                }
                if let Some(m) = &metrics {
                    let _ = crate::collect::scrape::scrape("beacon", m, &http).await;
                }
            }
            Ok((
                thread_cpu_secs().unwrap_or(0.0) - start_cpu,
                start.elapsed().as_secs_f64(),
                slots,
            ))
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the collector thread panicked"))??;
    server.block_on(replay.stop());
    r.add("collector_cpu_percent_of_core", cpu / wall * 100.0, "%");
    r.add("collector_slots_watched", slots as f64, "slots");
    Ok(())
}
