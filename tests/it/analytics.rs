//! The shipped analytics plugins, built to wasm and run by the host's registry, judging
//! a replay of a real Lodestar dev chain (`tests/fixtures/lodestar/scenario-a.jsonl.gz`):
//! validators 6 and 7 went offline at slot 80 (epoch 10) and came back at slot 176
//! (epoch 22). The assertions are the facts the fixture's README lists.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vigil::collect::chain::Observation;
use vigil::contract::{Input, NodeInput, Severity, SystemInfo};
use vigil::evaluate::Evaluator;

use crate::support::{Env, plugins, test_limits};

/// Every plugin in plugins/.
pub(crate) const SHIPPED: [&str; 10] = [
    "attestations",
    "proposals",
    "sync-committee",
    "balance-earnings",
    "efficiency",
    "node-health",
    "clients",
    "recommendations",
    "ephemery",
    "threshold",
];

/// Empty slots of the recording, all duties of validator 6 or 7.
const EMPTY_SLOTS: [(u64, u64); 25] = [
    (81, 7),
    (82, 6),
    (83, 7),
    (84, 7),
    (90, 6),
    (93, 6),
    (95, 6),
    (96, 6),
    (103, 6),
    (106, 6),
    (109, 7),
    (111, 7),
    (115, 6),
    (117, 6),
    (123, 7),
    (127, 6),
    (131, 6),
    (132, 7),
    (135, 6),
    (160, 6),
    (161, 7),
    (163, 7),
    (166, 7),
    (170, 6),
    (173, 6),
];

/// One alert as raised: which input, which plugin, what.
#[derive(Debug, Clone)]
pub(crate) struct Raised {
    /// Epoch of an epoch input, slot of a slot input, `None` for node ticks.
    pub(crate) at: Option<u64>,
    pub(crate) epoch_input: bool,
    /// An epoch input for the newest epoch so far (not a re-delivery of an older one,
    /// which re-reports what holds now).
    pub(crate) fresh: bool,
    pub(crate) plugin: String,
    pub(crate) name: String,
    pub(crate) severity: Severity,
    pub(crate) validators: Vec<u64>,
    pub(crate) summary: String,
}

/// A series identity: name and labels.
pub(crate) type SeriesId = (String, Vec<(String, String)>);

/// Everything the plugins said about a run.
#[derive(Default)]
pub(crate) struct Judged {
    pub(crate) alerts: Vec<Raised>,
    /// (component, window, epoch) → validator → score, latest delivery wins.
    pub(crate) scores: BTreeMap<(String, String, u64), BTreeMap<u64, f64>>,
    /// Series points: (name, labels) → values in order.
    pub(crate) series: BTreeMap<SeriesId, Vec<f64>>,
    pub(crate) epoch_inputs: BTreeMap<u64, vigil::contract::EpochInput>,
    pub(crate) failures: Vec<String>,
    pub(crate) slots: BTreeSet<u64>,
}

/// The shipped plugins in a registry, judging observations as they come.
pub(crate) struct Judge {
    _env: Env,
    eval: Evaluator,
    pub(crate) judged: Judged,
}

impl Judge {
    pub(crate) fn new() -> Judge {
        for p in SHIPPED {
            let _ = plugins::path(p);
        }
        let env = Env::new(test_limits(), &SHIPPED);
        let report = env.registry.scan();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.added.len(), SHIPPED.len(), "{:?}", report.added);
        let eval = Evaluator::new(env.registry.clone(), Some(env.store.clone()));
        Judge {
            _env: env,
            eval,
            judged: Judged::default(),
        }
    }

    /// Judge one observation with every plugin.
    pub(crate) fn judge(&mut self, o: Observation) {
        let input = match o {
            Observation::Nodes {
                timestamp_ms,
                wall_slot,
                nodes,
                network,
            } => Input::Node(NodeInput {
                network,
                timestamp_ms,
                wall_slot,
                consensus: nodes,
                execution: Vec::new(),
                metrics: Vec::new(),
                system: SystemInfo::unknown(),
            }),
            Observation::Slot(s) => Input::Slot(s),
            Observation::Epoch { input, .. } => Input::Epoch(input),
            Observation::Reset(r) => Input::Reset(r),
        };
        let newest = self.judged.epoch_inputs.keys().next_back().copied();
        let fresh = matches!(&input, Input::Epoch(e) if newest.is_none_or(|n| e.epoch > n));
        let (at, epoch_input) = match &input {
            Input::Epoch(e) => {
                self.judged.epoch_inputs.insert(e.epoch, e.clone());
                (Some(e.epoch), true)
            }
            Input::Slot(s) => {
                self.judged.slots.insert(s.slot);
                (Some(s.slot), false)
            }
            _ => (None, false),
        };
        let ev = tokio::task::block_in_place(|| {
            self.eval
                .evaluate(&input, vigil::contract::Input::observed_at_ms(&input))
        });
        for r in &ev.results {
            let out = match &r.outcome {
                Ok(o) => o,
                Err(e) => {
                    self.judged.failures.push(format!("{}: {e}", r.plugin));
                    continue;
                }
            };
            for a in &out.alerts {
                self.judged.alerts.push(Raised {
                    at,
                    epoch_input,
                    fresh,
                    plugin: r.plugin.clone(),
                    name: a.name.clone(),
                    severity: a.severity,
                    validators: a.validators.clone(),
                    summary: a.summary.clone(),
                });
            }
            if let (Some(e), true) = (at, epoch_input) {
                for s in &out.scores {
                    let m = self
                        .judged
                        .scores
                        .entry((s.component.clone(), s.window.clone(), e))
                        .or_default();
                    for (v, x) in s.validators.iter().zip(&s.values) {
                        m.insert(*v, *x);
                    }
                }
            }
            for p in &out.series {
                self.judged
                    .series
                    .entry((p.name.clone(), p.labels.clone()))
                    .or_default()
                    .push(p.value);
            }
            // Columnar per-validator series, point by point as the host stores them.
            let mut points = Vec::new();
            for vs in &out.validator_series {
                vigil::evaluate::expand_validator_series(vs, ev.now_ms, &mut points);
            }
            for p in points {
                self.judged
                    .series
                    .entry((p.key.name, p.key.labels))
                    .or_default()
                    .push(p.value);
            }
        }
    }
}

impl Judged {
    /// Alerts named `name` raised for inputs at `at`.
    pub(crate) fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Raised> + 'a {
        self.alerts.iter().filter(move |a| a.name == name)
    }

    pub(crate) fn score(&self, component: &str, window: &str, epoch: u64, v: u64) -> Option<f64> {
        self.scores
            .get(&(component.to_string(), window.to_string(), epoch))
            .and_then(|m| m.get(&v).copied())
    }
}

/// Run the collector on the replay from `start_slot` until slot `until`, judging
/// everything it observes.
async fn judge_replay(start_slot: u64, until: u64) -> Judged {
    let mut judge = tokio::task::block_in_place(Judge::new);
    let (replay, mut chain) = crate::support::replay_and_collector(start_slot).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    while judge
        .judged
        .slots
        .iter()
        .next_back()
        .is_none_or(|s| *s < until)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "replay did not reach slot {until}"
        );
        let now = vigil::clock::now_ms();
        let next = chain.next_tick_ms(now, 500);
        tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64)).await;
        for o in chain.tick(vigil::clock::now_ms()).await {
            judge.judge(o);
        }
    }
    replay.stop().await;
    judge.judged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_plugins_judge_the_replayed_chain() {
    // Epoch 7 to epoch 29 at twice real speed: about three minutes.
    let j = judge_replay(56, 238).await;
    assert!(j.failures.is_empty(), "plugin failures: {:?}", j.failures);
    // What was seen, for the failure log: per epoch, validator 6's and 0's scores.
    for e in j.epoch_inputs.keys() {
        let sc = |c: &str, w: &str, v: u64| {
            j.score(c, w, *e, v)
                .map_or("-".into(), |x| format!("{x:.0}"))
        };
        eprintln!(
            "epoch {e}: v6 att {} inc {} comp {} comp1d {} | v0 comp {} comp1d {} | participation {:?}",
            sc("attestation", "epoch", 6),
            sc("inclusion", "epoch", 6),
            sc("composite", "epoch", 6),
            sc("composite", "1d", 6),
            sc("composite", "epoch", 0),
            sc("composite", "1d", 0),
            j.epoch_inputs[e].network_stats.participation_rate
        );
    }
    let healthy = |vals: &[u64]| vals.iter().any(|v| *v < 6);

    // Attestations: exactly 6 and 7, in the epochs of their second miss onwards (10 is
    // the first offline epoch, 21 the last), never a healthy validator.
    // (A re-delivered older epoch re-reports the streak that holds now.)
    let missed: BTreeMap<u64, Vec<u64>> = j
        .named("attestations_missed")
        .filter(|a| a.fresh)
        .map(|a| (a.at.unwrap(), a.validators.clone()))
        .collect();
    let epochs: BTreeSet<u64> = missed.keys().copied().collect();
    assert_eq!(epochs, (11..=21).collect(), "attestations_missed epochs");
    for a in j.named("attestations_missed") {
        assert_eq!(a.plugin, "attestations");
        assert_eq!(a.validators, vec![6, 7], "{a:?}");
        assert!(a.at.is_some_and(|e| (10..=21).contains(&e)), "{a:?}");
    }
    // Validator 1's single misses (epochs 8 and 28) stay below the default of 2: no
    // problem is raised for a healthy validator (notices of upcoming duties are not
    // problems: every validator gets those).
    let late_or_wrong: Vec<&Raised> = j
        .alerts
        .iter()
        .filter(|a| a.severity != Severity::Info && healthy(&a.validators))
        .collect();
    assert!(
        late_or_wrong.is_empty(),
        "healthy validators raised: {late_or_wrong:#?}"
    );

    assert!(
        j.named("proposal_upcoming").count() > 0,
        "upcoming proposal notices"
    );

    // Proposals: raised in the slot of each empty slot, naming its proposer.
    let first = *j.slots.iter().next().unwrap();
    for (slot, proposer) in EMPTY_SLOTS.iter().filter(|(s, _)| *s >= first && *s <= 238) {
        let a = j
            .named("proposal_missed")
            .find(|a| !a.epoch_input && a.at == Some(*slot))
            .unwrap_or_else(|| panic!("no proposal_missed at slot {slot}"));
        assert!(a.validators.contains(proposer), "slot {slot}: {a:?}");
        assert!(a.summary.contains(&slot.to_string()), "{}", a.summary);
    }
    // ... and not before the first empty slot, nor for any other slot.
    let empty: BTreeSet<u64> = EMPTY_SLOTS.iter().map(|e| e.0).collect();
    for a in j.named("proposal_missed") {
        let slots: Vec<u64> = a
            .summary
            .split("(slots ")
            .nth(1)
            .and_then(|x| x.split(')').next())
            .unwrap()
            .split(", ")
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(slots.iter().all(|s| empty.contains(s)), "{}", a.summary);
    }
    assert!(
        j.named("proposal_missed")
            .filter(|a| !a.epoch_input)
            .all(|a| a.at.is_some_and(|s| s >= 81)),
        "nothing before slot 81"
    );

    // Sync committee: 6 and 7 signed nothing in the fully offline epochs.
    for e in 11..=20u64 {
        let a = j
            .named("sync_committee_missed")
            .find(|a| a.at == Some(e))
            .unwrap_or_else(|| panic!("no sync_committee_missed at epoch {e}"));
        assert_eq!(a.validators, vec![6, 7], "epoch {e}");
    }
    assert!(
        j.named("sync_committee_missed")
            .all(|a| a.at.is_some_and(|e| (10..=22).contains(&e))),
        "sync misses only while offline"
    );

    // Balances: 6 and 7 lose, flagged; income excludes nothing here (no deposits).
    let dec: BTreeSet<u64> = j
        .named("balance_decreasing")
        .flat_map(|a| a.validators.clone())
        .collect();
    assert_eq!(dec, BTreeSet::from([6, 7]));

    // Effectiveness and composite: full before, nothing while offline, back after.
    for v in [6u64, 7] {
        let before = j.score("composite", "epoch", 8, v).unwrap();
        assert!(before >= 90.0, "validator {v} epoch 8 composite {before}");
        for e in 12..=20 {
            let during = j.score("composite", "epoch", e, v).unwrap();
            assert!(during <= 10.0, "validator {v} epoch {e} composite {during}");
            let att = j.score("attestation", "epoch", e, v).unwrap();
            assert!(att <= 10.0, "validator {v} epoch {e} attestation {att}");
        }
        let after = j.score("attestation", "epoch", 26, v).unwrap();
        assert!(after >= 80.0, "validator {v} epoch 26 attestation {after}");
        // The 1d window drops while offline and climbs again after the return.
        let w = |e| j.score("composite", "1d", e, v).unwrap();
        assert!(w(21) < w(9) - 20.0, "validator {v}: {} vs {}", w(21), w(9));
        assert!(
            w(28) > w(22),
            "validator {v} recovers: {} vs {}",
            w(28),
            w(22)
        );
        let inc = |e| j.score("inclusion", "epoch", e, v).unwrap();
        assert_eq!(inc(15), 0.0);
        assert!(inc(26) > 0.0);
    }
    // Healthy validators stay near the top; the network average is there to compare.
    assert!(j.score("composite", "1d", 28, 0).unwrap() >= 80.0);
    // Network figures from the host: 8 active validators of 32 ETH, the spec's base
    // reward, a participation figure.
    let input = &j.epoch_inputs[&25];
    let s = &input.network_stats;
    assert_eq!(s.active_validators, Some(8));
    assert_eq!(s.total_active_balance, Some(256_000_000_000));
    assert_eq!(s.base_reward_per_increment, Some(126_491));
    let p = s.participation_rate.expect("participation");
    assert!((0.5..=1.0).contains(&p), "participation {p}");
    let offline = j.epoch_inputs[&15]
        .network_stats
        .participation_rate
        .unwrap();
    assert!(offline < 0.8, "2 of 8 offline: participation {offline}");
    let net_apr = &j.series[&("network_apr_percent".to_string(), vec![])];
    assert!(net_apr.iter().all(|x| *x > 0.0));
    let income6 = &j.series[&(
        "income_gwei".to_string(),
        vec![("validator".to_string(), "6".to_string())],
    )];
    assert!(income6.iter().any(|x| *x < 0.0), "6 lost balance");
    // Deposits and withdrawals were read from every block: known zeros here.
    assert!(input.validators.deposits.iter().all(|d| *d == 0));
    assert!(input.validators.withdrawals.iter().all(|d| *d == 0));
}
