//! `store`: ingest rate (one core, batched), bytes on disk for a month of synthetic but
//! realistic validator + node data (see `month` below), and query latencies. A release
//! build writes ≈ 42 M samples and 6.75 M outcome rows: two minutes or so here.
//! `collector`: the collector's CPU while it watches the replayed chain.

use crate::measure::{median_secs, tempfile_dir, thread_cpu_secs};
use crate::report::Reporter;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Collector CPU while watching the replayed chain in real time, as % of one core: the
/// collector runs alone on its own thread and runtime (the replay server's work is on
/// other threads and is not counted).
pub(crate) fn bench_collector(r: &mut Reporter) -> anyhow::Result<()> {
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
            let http = vigil::net::http_client()?;
            let mut chain = vigil::collect::chain::ChainCollector::new(
                "bench",
                &[("replay".into(), url)],
                &(0..8).collect::<Vec<_>>(),
                http.clone(),
            );
            let start_cpu = thread_cpu_secs().unwrap_or(0.0);
            let start = Instant::now();
            let mut slots = 0;
            while start.elapsed() < WATCH {
                let now = vigil::clock::now_ms();
                tokio::time::sleep(Duration::from_millis(
                    (chain.next_tick_ms(now, 500) - now).max(0) as u64,
                ))
                .await;
                for o in chain.tick(vigil::clock::now_ms()).await {
                    if matches!(o, vigil::collect::chain::Observation::Slot(_)) {
                        slots += 1;
                    }
                }
                if let Some(m) = &metrics {
                    let _ = vigil::collect::scrape::scrape("beacon", m, &http).await;
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

// ---------------------------------------------------------------------------------------
// `vigil bench store`

/// A small deterministic generator (xorshift64*): the same month on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// The month the size figures are measured on: synthetic, shaped like what Vigil keeps
/// for a mid-size operator on mainnet timing.
mod month {
    /// Mainnet slot length.
    pub(super) const SLOT_MS: i64 = 12_000;
    pub(super) const SLOTS_PER_EPOCH: i64 = 32;
    /// Mainnet genesis, so timestamps look real.
    pub(super) const GENESIS_MS: i64 = 1_606_824_023_000;
    /// 30 days of slots.
    pub(super) const SLOTS: i64 = 30 * 86_400_000 / SLOT_MS;
    pub(super) const EPOCHS: i64 = SLOTS / SLOTS_PER_EPOCH;
    /// Validators watched: a mid-size operator.
    pub(super) const VALIDATORS: u64 = 1_000;
    /// Two beacon nodes and one execution node, scraped every slot.
    pub(super) const NODES: usize = 3;
    /// Client metrics kept per node: 18 counters, 8 integer gauges, 4 constants, the
    /// head slot, 5 float counters (histogram sums), 4 noisy float gauges.
    pub(super) const METRICS_PER_NODE: usize = 40;
    /// This machine: disk free/total, CPU %, load 1/5/15, memory used/total, net rx/tx.
    pub(super) const SYSTEM_SERIES: usize = 10;
    /// Per slot, slot-aligned: block seen delay, sync participation, attestation count.
    pub(super) const CHAIN_SERIES: usize = 3;
    /// Slots per write batch while building the month (the writer commits per slot;
    /// the chunks come out the same, the build is faster).
    pub(super) const BATCH_SLOTS: i64 = 100;
}

/// How one synthetic series moves from sample to sample.
#[derive(Debug, Clone, Copy)]
enum Gen {
    /// Integer counter: +rate±rate/2 when active (probability `p`), else +0.
    Counter {
        v: f64,
        rate: u64,
        p: f64,
    },
    /// Integer gauge, random walk of ±step with probability `p`.
    Walk {
        v: f64,
        step: u64,
        p: f64,
    },
    Const(f64),
    /// +1 every sample (head slot).
    Tick(f64),
    /// Float counter: + a random float (seconds).
    FloatCounter {
        v: f64,
        mean: f64,
    },
    /// A noisy f32 reading widened to f64 (CPU %).
    Noisy {
        center: f64,
        spread: f64,
    },
    /// A two-decimal reading (load average).
    Decimal {
        v: f64,
    },
    /// k / den (sync participation).
    Fraction {
        den: u64,
    },
    /// Integer ms in [lo, lo + span) (block seen delay).
    Delay {
        lo: u64,
        span: u64,
    },
}

impl Gen {
    fn next(&mut self, rng: &mut Rng) -> f64 {
        match self {
            Gen::Counter { v, rate, p } => {
                if rng.chance(*p) {
                    *v += (*rate / 2 + rng.below(*rate + 1)) as f64;
                }
                *v
            }
            Gen::Walk { v, step, p } => {
                if rng.chance(*p) {
                    let d = rng.below(*step + 1) as f64;
                    *v = if rng.chance(0.5) {
                        *v + d
                    } else {
                        (*v - d).max(0.0)
                    };
                }
                *v
            }
            Gen::Const(v) => *v,
            Gen::Tick(v) => {
                *v += 1.0;
                *v
            }
            Gen::FloatCounter { v, mean } => {
                *v += *mean * 2.0 * rng.unit();
                *v
            }
            Gen::Noisy { center, spread } => {
                f64::from((*center + *spread * (rng.unit() - 0.5)) as f32)
            }
            Gen::Decimal { v } => {
                *v = ((*v + (rng.unit() - 0.5) * 0.1).max(0.0) * 100.0).round() / 100.0;
                *v
            }
            Gen::Fraction { den } => (*den - rng.below(*den / 20)) as f64 / *den as f64,
            Gen::Delay { lo, span } => (*lo + rng.below(*span)) as f64,
        }
    }
}

/// The generators of one node's client metrics (see [`month::METRICS_PER_NODE`]).
fn node_gens(rng: &mut Rng) -> Vec<Gen> {
    let mut g = Vec::new();
    for _ in 0..18 {
        let rate = 1 + rng.below(5_000);
        g.push(Gen::Counter {
            v: rng.below(1 << 30) as f64,
            rate,
            p: 0.3 + 0.7 * rng.unit(),
        });
    }
    for _ in 0..8 {
        g.push(Gen::Walk {
            v: rng.below(200) as f64,
            step: 1 + rng.below(3),
            p: 0.2,
        });
    }
    for i in 0..4 {
        g.push(Gen::Const(i as f64));
    }
    g.push(Gen::Tick(8_000_000.0));
    for _ in 0..5 {
        g.push(Gen::FloatCounter {
            v: rng.unit() * 1e5,
            mean: 0.05 + rng.unit(),
        });
    }
    for _ in 0..4 {
        g.push(Gen::Noisy {
            center: 50.0 * rng.unit(),
            spread: 5.0,
        });
    }
    g
}

fn system_gens() -> Vec<Gen> {
    vec![
        Gen::Walk {
            v: 800e9,
            step: 4096 * 64,
            p: 0.9,
        },
        Gen::Const(2e12),
        Gen::Noisy {
            center: 20.0,
            spread: 15.0,
        },
        Gen::Decimal { v: 0.8 },
        Gen::Decimal { v: 0.7 },
        Gen::Decimal { v: 0.6 },
        Gen::Walk {
            v: 12e9,
            step: 50 << 20,
            p: 0.8,
        },
        Gen::Const(32e9),
        Gen::Counter {
            v: 1e9,
            rate: 2_000_000,
            p: 1.0,
        },
        Gen::Counter {
            v: 1e9,
            rate: 1_500_000,
            p: 1.0,
        },
    ]
}

fn chain_gens() -> Vec<Gen> {
    vec![
        Gen::Delay {
            lo: 200,
            span: 2_500,
        },
        Gen::Fraction { den: 512 },
        Gen::Walk {
            v: 110.0,
            step: 10,
            p: 1.0,
        },
    ]
}

/// One validator's per-epoch state in the synthetic month.
struct ValidatorSim {
    balance: i64,
    /// Epoch phase of its withdrawal sweep.
    sweep_phase: i64,
}

/// Epochs between withdrawal sweeps of one validator (≈ 9 days on mainnet).
const SWEEP_EPOCHS: i64 = 2_025;

impl ValidatorSim {
    fn new(v: u64, rng: &mut Rng) -> ValidatorSim {
        ValidatorSim {
            balance: 32_000_000_000 + rng.below(20_000_000) as i64,
            sweep_phase: (v as i64 * 7) % SWEEP_EPOCHS,
        }
    }

    /// The outcome of one epoch: ~1 % missed, ~10 % late, ~2 % wrong head, rare
    /// proposals and sync duty; rewards and the balance follow.
    fn epoch(&mut self, v: u64, epoch: i64, rng: &mut Rng) -> vigil::model::ValidatorEpoch {
        let missed = rng.chance(0.01);
        let late = !missed && rng.chance(0.1);
        let head_ok = !missed && !late && !rng.chance(0.02);
        let (ih, it, is) = (
            3_400 + epoch / 1_000,
            6_300 + epoch / 500,
            3_400 + epoch / 1_000,
        );
        let rh = if head_ok { ih } else { 0 };
        let rt = if missed { -it } else { it };
        let rs = if missed { -is } else { is };
        let proposal = rng.chance(0.000_94);
        let sync = (epoch / 256 + v as i64) % 1_000 == 0;
        let mut income = rh + rt + rs;
        if proposal {
            income += 30_000_000 + rng.below(20_000_000) as i64;
        }
        if sync {
            income += 20_000;
        }
        self.balance += income;
        let mut withdrawals = 0;
        if (epoch + self.sweep_phase) % SWEEP_EPOCHS == 0 {
            withdrawals = self.balance - 32_000_000_000;
            self.balance = 32_000_000_000;
        }
        vigil::model::ValidatorEpoch {
            validator: v,
            epoch: epoch as u64,
            status: 2,
            slashed: Some(false),
            balance: Some(self.balance),
            effective_balance: Some(32_000_000_000),
            attested: Some(!missed),
            inclusion_delay: (!missed).then_some(if late { 2 } else { 1 }),
            earliest_inclusion_delay: Some(1),
            head_ok: Some(head_ok),
            target_ok: Some(!missed),
            source_ok: Some(!missed),
            reward_head: Some(rh),
            reward_target: Some(rt),
            reward_source: Some(rs),
            reward_inactivity: Some(0),
            ideal_head: Some(ih),
            ideal_target: Some(it),
            ideal_source: Some(is),
            proposals_assigned: u8::from(proposal),
            proposals_made: u8::from(proposal),
            proposals_orphaned: 0,
            proposal_reward: proposal.then_some(income),
            sync_member: Some(sync),
            sync_signed: if sync { 31 } else { 0 },
            sync_expected: if sync { 32 } else { 0 },
            sync_reward: sync.then_some(20_000),
            deposits: 0,
            withdrawals,
            finalized: true,
            node: (v * 2 / month::VALIDATORS) as u16,
        }
    }
}

/// A store in a fresh folder (removed with the bench's temp folder).
fn bench_store_at(dir: &Path, name: &str) -> anyhow::Result<Arc<vigil::store::Store>> {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    Ok(Arc::new(vigil::store::Store::open(&path)?))
}

fn file_bytes(store: &vigil::store::Store) -> anyhow::Result<f64> {
    store.compact()?;
    Ok(store.disk_stats()?.file_bytes as f64)
}

fn mainnet_identity(store: &vigil::store::Store) -> anyhow::Result<()> {
    let id = vigil::model::NetworkIdentity {
        genesis_time: (month::GENESIS_MS / 1_000) as u64,
        genesis_validators_root: format!("0x{}", "4b".repeat(32)),
        chain_id: Some(1),
    };
    store.record_identity(&id, &vigil::model::ChainSpec::MAINNET, month::GENESIS_MS)?;
    Ok(())
}

pub(crate) fn bench_store(r: &mut Reporter) -> anyhow::Result<()> {
    use vigil::store::{Batch, Sample, SeriesKey, SeriesKind};
    let tmp = tempfile_dir()?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // Ingest: 1,000 node-like series, 100 samples each per commit, one thread.
    {
        let store = bench_store_at(&tmp, "ingest.redb")?;
        const SERIES: usize = 1_000;
        const PER_COMMIT: i64 = 100;
        const COMMITS: i64 = 20;
        let keys: Vec<(SeriesKey, SeriesKind)> = (0..SERIES)
            .map(|i| {
                (
                    SeriesKey::new("m", &[("i".into(), i.to_string())]),
                    SeriesKind::Free,
                )
            })
            .collect();
        let ids = store.register_series(&keys)?;
        let mut gens: Vec<Gen> = Vec::new();
        while gens.len() < SERIES {
            gens.extend(node_gens(&mut rng));
        }
        let batches: Vec<Batch> = (0..COMMITS)
            .map(|c| {
                let mut samples = Vec::with_capacity(SERIES * PER_COMMIT as usize);
                for k in 0..PER_COMMIT {
                    let t = month::GENESIS_MS + (c * PER_COMMIT + k) * month::SLOT_MS;
                    for (id, g) in ids.iter().zip(gens.iter_mut()) {
                        samples.push(Sample {
                            series: *id,
                            ts_ms: t + rng.below(40) as i64,
                            value: g.next(&mut rng),
                        });
                    }
                }
                Batch {
                    samples,
                    outcomes: Vec::new(),
                }
            })
            .collect();
        let n: usize = batches.iter().map(|b| b.samples.len()).sum();
        let start = Instant::now();
        for b in &batches {
            store.apply(b)?;
        }
        r.add(
            "ingest_samples_per_s",
            n as f64 / start.elapsed().as_secs_f64(),
            "samples/s",
        );

        // The live shape: one sample for each of 10k series per slot commit.
        let keys: Vec<(SeriesKey, SeriesKind)> = (0..10_000)
            .map(|i| {
                (
                    SeriesKey::new("v", &[("i".into(), i.to_string())]),
                    SeriesKind::Slot,
                )
            })
            .collect();
        mainnet_identity(&store)?;
        let ids = store.register_series(&keys)?;
        let mut t = Vec::new();
        for slot in 0..21 {
            let b = Batch {
                samples: ids
                    .iter()
                    .map(|&series| Sample {
                        series,
                        ts_ms: month::GENESIS_MS + slot * month::SLOT_MS,
                        value: 32e9 + rng.below(1_000_000) as f64,
                    })
                    .collect(),
                outcomes: Vec::new(),
            };
            let s = Instant::now();
            store.apply(&b)?;
            t.push(s.elapsed().as_secs_f64());
        }
        t.sort_by(f64::total_cmp);
        r.add(
            "ingest_slot_commit_10k_series_ms",
            t[t.len() / 2] * 1e3,
            "ms",
        );
    }

    // A month: node + chain series, validator series, outcomes, each in its own store
    // so each part's bytes are its own.
    let node = bench_store_at(&tmp, "month-node.redb")?;
    let vals = bench_store_at(&tmp, "month-validators.redb")?;
    let outs = bench_store_at(&tmp, "month-outcomes.redb")?;
    for s in [&node, &vals, &outs] {
        mainnet_identity(s)?;
    }
    let mut node_keys = Vec::new();
    let mut node_gen = Vec::new();
    for n in 0..month::NODES {
        for (i, g) in node_gens(&mut rng).into_iter().enumerate() {
            node_keys.push((
                SeriesKey::new(
                    &format!("client_metric_{i}"),
                    &[("node".into(), n.to_string())],
                ),
                SeriesKind::Free,
            ));
            node_gen.push(g);
        }
    }
    debug_assert_eq!(node_gen.len(), month::NODES * month::METRICS_PER_NODE);
    for (i, g) in system_gens().into_iter().enumerate() {
        node_keys.push((
            SeriesKey::new(&format!("system_{i}"), &[]),
            SeriesKind::Free,
        ));
        node_gen.push(g);
    }
    let free_series = node_keys.len();
    for (i, g) in chain_gens().into_iter().enumerate() {
        node_keys.push((SeriesKey::new(&format!("chain_{i}"), &[]), SeriesKind::Slot));
        node_gen.push(g);
    }
    debug_assert_eq!(
        free_series,
        month::NODES * month::METRICS_PER_NODE + month::SYSTEM_SERIES
    );
    debug_assert_eq!(node_keys.len(), free_series + month::CHAIN_SERIES);
    let node_ids = node.register_series(&node_keys)?;
    let val_keys: Vec<(SeriesKey, SeriesKind)> = (0..month::VALIDATORS)
        .flat_map(|v| {
            let l = [("validator".to_string(), v.to_string())];
            [
                (
                    SeriesKey::new("validator_balance_gwei", &l),
                    SeriesKind::Slot,
                ),
                (
                    SeriesKey::new("validator_effectiveness", &l),
                    SeriesKind::Slot,
                ),
            ]
        })
        .collect();
    let val_ids = vals.register_series(&val_keys)?;
    let mut sims: Vec<ValidatorSim> = (0..month::VALIDATORS)
        .map(|v| ValidatorSim::new(v, &mut rng))
        .collect();
    let (mut node_samples, mut val_samples, mut rows) = (0u64, 0u64, 0u64);
    let build = Instant::now();
    let mut slot = 0;
    while slot < month::SLOTS {
        let end = (slot + month::BATCH_SLOTS).min(month::SLOTS);
        let mut nb = Batch::default();
        let mut vb = Batch::default();
        let mut ob = Batch::default();
        for s in slot..end {
            let start = month::GENESIS_MS + s * month::SLOT_MS;
            for (i, (id, g)) in node_ids.iter().zip(node_gen.iter_mut()).enumerate() {
                // Each node is scraped at its own moment in the slot, give or take.
                let at = if i < free_series {
                    start + (i / month::METRICS_PER_NODE) as i64 * 1_000 + rng.below(40) as i64
                } else {
                    start + 4_000
                };
                nb.samples.push(Sample {
                    series: *id,
                    ts_ms: at,
                    value: g.next(&mut rng),
                });
            }
            if s % month::SLOTS_PER_EPOCH == 0 {
                let epoch = s / month::SLOTS_PER_EPOCH;
                for (v, sim) in sims.iter_mut().enumerate() {
                    let row = sim.epoch(v as u64, epoch, &mut rng);
                    let eff = if row.attested == Some(false) {
                        0.0
                    } else if row.head_ok == Some(false) || row.inclusion_delay == Some(2) {
                        0.84375
                    } else {
                        1.0
                    };
                    vb.samples.push(Sample {
                        series: val_ids[v * 2],
                        ts_ms: start + 6_000,
                        value: row.balance.unwrap_or_default() as f64,
                    });
                    vb.samples.push(Sample {
                        series: val_ids[v * 2 + 1],
                        ts_ms: start + 6_000,
                        value: eff,
                    });
                    ob.outcomes.push((1, row));
                }
            }
        }
        node_samples += nb.samples.len() as u64;
        val_samples += vb.samples.len() as u64;
        rows += ob.outcomes.len() as u64;
        node.apply(&nb)?;
        vals.apply(&vb)?;
        outs.apply(&ob)?;
        slot = end;
    }
    r.add(
        "month_build_observations_per_s",
        (node_samples + val_samples + rows) as f64 / build.elapsed().as_secs_f64(),
        "obs/s",
    );
    let end_ms = month::GENESIS_MS + month::SLOTS * month::SLOT_MS;

    // Queries, on the month (before compaction moves nothing a reader would see).
    let counter = &node_keys[0].0;
    let q = median_secs(21, || {
        let _ = node.series_range(counter, end_ms - 30 * 86_400_000, end_ms, usize::MAX);
    });
    let n = node
        .series_range(counter, end_ms - 30 * 86_400_000, end_ms, usize::MAX)?
        .len();
    anyhow::ensure!(n as i64 == month::SLOTS, "{n} samples read back");
    r.add("query_30d_series_ms", q * 1e3, "ms");
    let q = median_secs(21, || {
        let _ = node.series_range(counter, end_ms - 30 * 86_400_000, end_ms, 10_000);
    });
    r.add("query_30d_series_newest_10k_ms", q * 1e3, "ms");
    let balance = &val_keys[1_000].0;
    let q = median_secs(21, || {
        let _ = vals.series_range(balance, end_ms - 30 * 86_400_000, end_ms, usize::MAX);
    });
    r.add("query_30d_validator_balance_ms", q * 1e3, "ms");
    let q = median_secs(11, || {
        let _ = outs.outcomes_for_validator(1, 500, 0..=u64::MAX);
    });
    let h = outs.outcomes_for_validator(1, 500, 0..=u64::MAX)?;
    anyhow::ensure!(
        h.len() as i64 == month::EPOCHS,
        "{} epochs read back",
        h.len()
    );
    r.add("query_validator_30d_outcomes_ms", q * 1e3, "ms");

    // Bytes on disk, after compaction (redb reuses freed pages but never shrinks).
    let node_bytes = file_bytes(&node)?;
    let val_bytes = file_bytes(&vals)?;
    let out_bytes = file_bytes(&outs)?;
    r.add(
        "bytes_per_sample",
        (node_bytes + val_bytes) / (node_samples + val_samples) as f64,
        "B",
    );
    r.add(
        "bytes_per_sample_node",
        node_bytes / node_samples as f64,
        "B",
    );
    r.add(
        "bytes_per_sample_validator",
        val_bytes / val_samples as f64,
        "B",
    );
    r.add("bytes_per_outcome_row", out_bytes / rows as f64, "B");
    r.add(
        "mb_per_validator_month",
        (val_bytes + out_bytes) / month::VALIDATORS as f64 / 1e6,
        "MB",
    );
    r.add(
        "month_store_mb",
        (node_bytes + val_bytes + out_bytes) / 1e6,
        "MB",
    );
    drop((node, vals, outs));

    // One epoch of 10k validators.
    {
        let store = bench_store_at(&tmp, "epochs-10k.redb")?;
        let mut sims: Vec<ValidatorSim> = (0..10_000)
            .map(|v| ValidatorSim::new(v, &mut rng))
            .collect();
        for epoch in 0..10 {
            let rows: Vec<vigil::model::ValidatorEpoch> = sims
                .iter_mut()
                .enumerate()
                .map(|(v, s)| s.epoch(300_000 + v as u64, epoch, &mut rng))
                .collect();
            store.put_outcomes(1, &rows)?;
        }
        let q = median_secs(21, || {
            let _ = store.outcomes_for_epoch(1, 5);
        });
        anyhow::ensure!(store.outcomes_for_epoch(1, 5)?.len() == 10_000);
        r.add("query_epoch_10k_outcomes_ms", q * 1e3, "ms");
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
