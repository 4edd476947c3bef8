//! The latest findings: what the dashboard, `/metrics`, the API and reports show "now".
//!
//! Fed from every evaluation (the input and what each plugin made of it): the latest
//! state of every watched validator, every node's health, and per plugin its latest
//! validator scores (per component/window), subject scores, recommendations, checks and
//! derived series values. Kept in memory for fast pages (a 10k-validator overview reads
//! no store), and written beside the store as `dashboard-snapshot.json` so that a
//! restarted daemon shows data at once instead of an empty page until the next epoch.
//!
//! Replacement rules follow the contract's "this holds now" semantics: a plugin's
//! recommendations and checks are replaced by its next output for the same input kind
//! (an empty list clears them); scores and series values are replaced key by key.

use crate::contract::{CheckStatus, Input, InputKind, Severity};
use crate::evaluate::Evaluation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// File name of the persisted snapshot, beside the store.
pub const SNAPSHOT_FILE: &str = "dashboard-snapshot.json";
/// Snapshot format; an unknown version is ignored (the next evaluations refill it).
const FORMAT: u32 = 1;
/// Income samples kept per validator: one an hour, a day and a bit.
const INCOME_SAMPLES: usize = 26;
/// How often the snapshot is written at most for node and slot ticks (epochs, which
/// carry the validators' rows, are written at once): a 10k-validator snapshot is a few
/// MB, not something to write every slot.
const PERSIST_EVERY: Duration = Duration::from_secs(60);

/// The chain being watched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkView {
    pub name: String,
    pub iteration: u32,
    pub genesis_time: u64,
    pub seconds_per_slot: u32,
    pub slots_per_epoch: u32,
}

/// One watched validator at its latest epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidatorView {
    pub index: u64,
    /// Latest epoch this row describes.
    pub epoch: u64,
    /// Beacon API status name (`active_ongoing`, …).
    pub status: String,
    pub slashed: Option<bool>,
    pub balance_gwei: Option<i64>,
    pub effective_balance_gwei: Option<i64>,
    /// The latest epoch's attestation was included.
    pub attested: Option<bool>,
    pub inclusion_delay: Option<u64>,
    /// Labels: node, client, operator ….
    pub labels: BTreeMap<String, String>,
    /// `(time ms, balance − deposits + withdrawals so far)`, about one an hour.
    #[serde(default)]
    pub income_samples: VecDeque<(i64, i64)>,
    /// Running sum of deposits − withdrawals since first seen, gwei.
    #[serde(default)]
    pub flows_gwei: i64,
}

impl ValidatorView {
    /// Income over the last day (or since first seen, when less), gwei.
    pub fn income_1d_gwei(&self) -> Option<i64> {
        let (t_last, v_last) = *self.income_samples.back()?;
        let (_, v_first) = self
            .income_samples
            .iter()
            .find(|(t, _)| t_last - t <= 86_400_000)?;
        Some(v_last - v_first)
    }

    /// Green, amber or red, and why: what the overview shows at a glance.
    pub fn health(&self) -> (&'static str, &'static str) {
        if self.slashed == Some(true) {
            return ("bad", "slashed");
        }
        match self.status.as_str() {
            "active_ongoing" => match self.attested {
                Some(true) => ("ok", "attesting"),
                Some(false) => ("bad", "missed attestation"),
                None => ("warn", "no data"),
            },
            "active_exiting" => ("warn", "exiting"),
            "pending_initialized" | "pending_queued" => ("warn", "pending"),
            "unknown" => ("warn", "unknown"),
            _ => ("idle", "exited"),
        }
    }
}

/// A node's health at the latest tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub name: String,
    /// "consensus" or "execution".
    pub layer: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub client: Option<String>,
    pub version: Option<String>,
    pub syncing: Option<bool>,
    pub head_lag_slots: Option<i64>,
    pub peers: Option<u64>,
    pub block_age_ms: Option<i64>,
}

impl NodeView {
    pub fn health(&self) -> (&'static str, String) {
        if !self.reachable {
            return ("bad", "unreachable".into());
        }
        if self.syncing == Some(true) {
            return ("warn", "syncing".into());
        }
        if self.head_lag_slots.is_some_and(|l| l > 2) {
            return (
                "warn",
                format!("head {} slots behind", self.head_lag_slots.unwrap_or(0)),
            );
        }
        ("ok", "synced".into())
    }
}

/// A subject score (a group, a node, the network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectScoreView {
    pub subject: Vec<(String, String)>,
    pub component: String,
    pub window: String,
    pub value: f64,
}

/// A recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationView {
    pub subject: Vec<(String, String)>,
    pub title: String,
    pub text: String,
    pub priority: String,
    pub action_id: Option<String>,
}

/// A health check line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    pub name: String,
    pub subject: Vec<(String, String)>,
    /// ok, warn or fail.
    pub status: String,
    pub text: String,
}

/// The latest value of a derived series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesValue {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: i64,
}

/// What one plugin found last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginFindings {
    pub version: String,
    pub last_run_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_duration_us: u64,
    /// `"component/window"` → validator → 0..100.
    pub scores: BTreeMap<String, BTreeMap<u64, f64>>,
    pub subject_scores: Vec<SubjectScoreView>,
    /// By input kind (`epoch`, `node`, …).
    pub recommendations: BTreeMap<String, Vec<RecommendationView>>,
    pub checks: BTreeMap<String, Vec<CheckView>>,
    /// Series without a `validator` label, by canonical key.
    pub series: BTreeMap<String, SeriesValue>,
    /// Series with a `validator` label: name → validator → latest value.
    pub validator_series: BTreeMap<String, BTreeMap<u64, f64>>,
}

/// Everything the dashboard shows "now".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub updated_ms: i64,
    pub network: Option<NetworkView>,
    pub slot: Option<u64>,
    pub epoch: Option<u64>,
    pub validators: BTreeMap<u64, ValidatorView>,
    pub nodes: Vec<NodeView>,
    pub plugins: BTreeMap<String, PluginFindings>,
}

impl Snapshot {
    /// A validator score from whichever plugin gave it (the first by name).
    pub fn score(&self, component: &str, window: &str, validator: u64) -> Option<f64> {
        let key = format!("{component}/{window}");
        self.plugins
            .values()
            .find_map(|p| p.scores.get(&key)?.get(&validator).copied())
    }

    /// All validators' values of one score, from the first plugin that has it.
    pub fn scores(&self, component: &str, window: &str) -> Option<&BTreeMap<u64, f64>> {
        let key = format!("{component}/{window}");
        self.plugins.values().find_map(|p| p.scores.get(&key))
    }

    /// The latest value of a per-validator series.
    pub fn validator_series(&self, name: &str, validator: u64) -> Option<f64> {
        self.plugins
            .values()
            .find_map(|p| p.validator_series.get(name)?.get(&validator).copied())
    }

    /// The latest value of an aggregate series with exactly these labels.
    pub fn series(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.plugins.values().find_map(|p| {
            p.series
                .values()
                .find(|s| {
                    s.name == name
                        && s.labels.len() == labels.len()
                        && labels
                            .iter()
                            .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
                })
                .map(|s| s.value)
        })
    }

    /// Attestation effectiveness of a validator, %: the plugins' series, else their
    /// `attestation/1d` score.
    pub fn effectiveness(&self, validator: u64) -> Option<f64> {
        self.validator_series("attestation_effectiveness_percent", validator)
            .or_else(|| self.score("attestation", "1d", validator))
    }

    /// Every recommendation of every plugin, highest priority first.
    pub fn recommendations(&self) -> Vec<(&str, &RecommendationView)> {
        let mut out: Vec<(&str, &RecommendationView)> = self
            .plugins
            .iter()
            .flat_map(|(p, f)| {
                f.recommendations
                    .values()
                    .flatten()
                    .map(move |r| (p.as_str(), r))
            })
            .collect();
        out.sort_by_key(|(_, r)| priority_rank(&r.priority));
        out
    }

    /// Every check of every plugin.
    pub fn checks(&self) -> Vec<(&str, &CheckView)> {
        self.plugins
            .iter()
            .flat_map(|(p, f)| f.checks.values().flatten().map(move |c| (p.as_str(), c)))
            .collect()
    }

    /// Every subject score of every plugin.
    pub fn subject_scores(&self) -> Vec<&SubjectScoreView> {
        self.plugins
            .values()
            .flat_map(|f| f.subject_scores.iter())
            .collect()
    }
}

/// Sort key of a priority name (critical first).
pub fn priority_rank(p: &str) -> u8 {
    match p {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        _ => 4,
    }
}

/// The severity's name.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Info => "info",
    }
}

/// The input kind's name.
pub fn kind_name(k: InputKind) -> &'static str {
    match k {
        InputKind::Epoch => "epoch",
        InputKind::Slot => "slot",
        InputKind::Node => "node",
        InputKind::Reset => "reset",
    }
}

/// Status names in contract order (`validator-status` positions).
pub const STATUS_NAMES: [&str; 10] = [
    "pending_initialized",
    "pending_queued",
    "active_ongoing",
    "active_exiting",
    "active_slashed",
    "exited_unslashed",
    "exited_slashed",
    "withdrawal_possible",
    "withdrawal_done",
    "unknown",
];

fn tri(v: u8) -> Option<bool> {
    match v {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// The live snapshot, its file, and a change counter the dashboard's live feed waits on.
pub struct Findings {
    snap: RwLock<Snapshot>,
    file: Option<PathBuf>,
    last_persist: std::sync::Mutex<Option<Instant>>,
    changes: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Findings")
            .field("file", &self.file)
            .finish()
    }
}

impl Findings {
    /// Empty findings kept in memory only.
    pub fn in_memory() -> Findings {
        Findings {
            snap: RwLock::new(Snapshot {
                format: FORMAT,
                ..Snapshot::default()
            }),
            file: None,
            last_persist: std::sync::Mutex::new(None),
            changes: tokio::sync::watch::channel(0).0,
        }
    }

    /// Findings persisted in `dir` (the store's folder), loading what is there. A
    /// missing or unreadable file starts empty (logged): the next evaluations refill it.
    pub fn open(dir: &Path) -> Findings {
        let file = dir.join(SNAPSHOT_FILE);
        let mut f = Findings::in_memory();
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Snapshot>(&bytes) {
                Ok(s) if s.format == FORMAT => {
                    *f.snap.get_mut().unwrap_or_else(|e| e.into_inner()) = s
                }
                Ok(_) => {
                    tracing::warn!(file = %file.display(), "dashboard snapshot of another format ignored; it refills with the next evaluations")
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), "dashboard snapshot unreadable ({e}); it refills with the next evaluations")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %file.display(), "cannot read the dashboard snapshot: {e}")
            }
        }
        f.file = Some(file);
        f
    }

    /// A copy-free read of the snapshot.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snap.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A clone of the snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.read().clone()
    }

    /// Waits for changes: the value is the change count.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Tell the live feed something changed elsewhere (an alert was acked, a silence
    /// added).
    pub fn touch(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Replace the whole snapshot (tests, benchmarks).
    pub fn replace(&self, s: Snapshot) {
        *self.snap.write().unwrap_or_else(|e| e.into_inner()) = s;
        self.changes.send_modify(|n| *n += 1);
    }

    /// Take in one evaluated input.
    pub fn observe(&self, input: &Input, ev: &Evaluation) {
        {
            let mut s = self.snap.write().unwrap_or_else(|e| e.into_inner());
            s.updated_ms = ev.now_ms;
            observe_input(&mut s, input);
            observe_outputs(&mut s, ev);
        }
        self.changes.send_modify(|n| *n += 1);
        self.persist(matches!(input, Input::Epoch(_)));
    }

    /// Write the snapshot file (atomically), at most once per [`PERSIST_EVERY`] unless `now`.
    pub fn persist(&self, now: bool) {
        let Some(file) = &self.file else { return };
        {
            let mut last = self.last_persist.lock().unwrap_or_else(|e| e.into_inner());
            if !now && last.is_some_and(|t| t.elapsed() < PERSIST_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let bytes = match serde_json::to_vec(&*self.read()) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("cannot encode the dashboard snapshot: {e}");
                return;
            }
        };
        let tmp = file.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, file)) {
            tracing::warn!(file = %file.display(), "dashboard snapshot not saved (a restart shows data only after the next epoch): {e}");
        }
    }
}

fn observe_input(s: &mut Snapshot, input: &Input) {
    let net = |n: &crate::contract::NetworkInfo| NetworkView {
        name: n.name.clone(),
        iteration: n.iteration,
        genesis_time: n.genesis_time,
        seconds_per_slot: n.seconds_per_slot,
        slots_per_epoch: n.slots_per_epoch,
    };
    match input {
        Input::Epoch(e) => {
            s.network = Some(net(&e.network));
            if s.epoch.is_some_and(|x| x > e.epoch) {
                // A late re-delivery of an older epoch: the views are newer already.
                return;
            }
            s.epoch = Some(e.epoch);
            let epoch_ms = (e.network.genesis_time as i64
                + (e.epoch as i64 + 1)
                    * e.network.slots_per_epoch as i64
                    * e.network.seconds_per_slot as i64)
                * 1000;
            let c = &e.validators;
            for (i, &index) in c.index.iter().enumerate() {
                let v = s.validators.entry(index).or_insert_with(|| ValidatorView {
                    index,
                    ..ValidatorView::default()
                });
                let redelivery = v.epoch == e.epoch;
                v.epoch = e.epoch;
                v.status = STATUS_NAMES
                    .get(c.status.get(i).copied().unwrap_or(9) as usize)
                    .unwrap_or(&"unknown")
                    .to_string();
                v.slashed = c.slashed.get(i).copied().and_then(tri);
                v.balance_gwei = c.balance.get(i).copied().filter(|b| *b != i64::MIN);
                v.effective_balance_gwei = c
                    .effective_balance
                    .get(i)
                    .copied()
                    .filter(|b| *b != i64::MIN);
                v.attested = c.attested.get(i).copied().and_then(tri);
                v.inclusion_delay = c.inclusion_delay.get(i).copied().filter(|d| *d != u64::MAX);
                for col in &c.labels {
                    if let Some(val) = col
                        .codes
                        .get(i)
                        .and_then(|code| col.values.get(*code as usize))
                    {
                        v.labels.insert(col.name.clone(), val.clone());
                    }
                }
                if !redelivery {
                    v.flows_gwei += c.deposits.get(i).copied().unwrap_or(0)
                        - c.withdrawals.get(i).copied().unwrap_or(0);
                }
                if let Some(b) = v.balance_gwei {
                    let value = b - v.flows_gwei;
                    let hourly = v
                        .income_samples
                        .iter()
                        .rev()
                        .nth(1)
                        .is_some_and(|(t, _)| epoch_ms - t < 3_600_000);
                    if hourly || redelivery {
                        // Keep one sample an hour: the newest moves forward.
                        v.income_samples.pop_back();
                    }
                    v.income_samples.push_back((epoch_ms, value));
                    while v.income_samples.len() > INCOME_SAMPLES {
                        v.income_samples.pop_front();
                    }
                }
            }
        }
        Input::Slot(sl) => {
            s.network = Some(net(&sl.network));
            s.slot = Some(s.slot.map_or(sl.slot, |x| x.max(sl.slot)));
        }
        Input::Node(n) => {
            if let Some(nw) = &n.network {
                s.network = Some(net(nw));
            }
            if let Some(w) = n.wall_slot {
                s.slot = Some(s.slot.map_or(w, |x| x.max(w)));
            }
            let mut nodes: Vec<NodeView> = n
                .consensus
                .iter()
                .map(|c| NodeView {
                    name: c.name.clone(),
                    layer: "consensus".into(),
                    reachable: c.reachable,
                    error: c.error.clone(),
                    client: c.client.as_ref().map(|v| v.name.clone()),
                    version: c.client.as_ref().and_then(|v| v.version.clone()),
                    syncing: c.is_syncing,
                    head_lag_slots: c.head_lag_slots,
                    peers: c.peers,
                    block_age_ms: None,
                })
                .collect();
            nodes.extend(n.execution.iter().map(|e| NodeView {
                name: e.name.clone(),
                layer: "execution".into(),
                reachable: e.reachable,
                error: e.error.clone(),
                client: e.client.as_ref().map(|v| v.name.clone()),
                version: e.client.as_ref().and_then(|v| v.version.clone()),
                syncing: e.is_syncing,
                head_lag_slots: None,
                peers: e.peers,
                block_age_ms: e.block_age_ms,
            }));
            s.nodes = nodes;
        }
        Input::Reset(r) => {
            // A new network: the old validators' rows describe another chain.
            s.network = Some(net(&r.current));
            s.validators.clear();
            s.epoch = None;
            s.slot = None;
        }
    }
}

fn labels_of(l: &[(String, String)]) -> Vec<(String, String)> {
    l.to_vec()
}

fn observe_outputs(s: &mut Snapshot, ev: &Evaluation) {
    let kind = kind_name(ev.kind).to_string();
    for r in &ev.results {
        let f = s.plugins.entry(r.plugin.clone()).or_default();
        f.version = r.version.clone();
        f.last_run_ms = Some(ev.now_ms);
        f.last_duration_us = r.duration.as_micros() as u64;
        let out = match &r.outcome {
            Ok(o) => {
                f.last_error = None;
                o
            }
            Err(e) => {
                f.last_error = Some(e.to_string());
                continue;
            }
        };
        for sc in &out.scores {
            let m = f
                .scores
                .entry(format!("{}/{}", sc.component, sc.window))
                .or_default();
            for (v, x) in sc.validators.iter().zip(&sc.values) {
                m.insert(*v, *x);
            }
        }
        for ss in &out.subject_scores {
            let view = SubjectScoreView {
                subject: labels_of(&ss.subject),
                component: ss.component.clone(),
                window: ss.window.clone(),
                value: ss.value,
            };
            match f.subject_scores.iter_mut().find(|x| {
                x.subject == view.subject
                    && x.component == view.component
                    && x.window == view.window
            }) {
                Some(x) => *x = view,
                None => f.subject_scores.push(view),
            }
        }
        f.recommendations.insert(
            kind.clone(),
            out.recommendations
                .iter()
                .map(|r| RecommendationView {
                    subject: labels_of(&r.subject),
                    title: r.title.clone(),
                    text: r.text.clone(),
                    priority: severity_name(r.priority).into(),
                    action_id: r.action_id.clone(),
                })
                .collect(),
        );
        f.checks.insert(
            kind.clone(),
            out.checks
                .iter()
                .map(|c| CheckView {
                    name: c.name.clone(),
                    subject: labels_of(&c.subject),
                    status: match c.status {
                        CheckStatus::Ok => "ok",
                        CheckStatus::Warn => "warn",
                        CheckStatus::Fail => "fail",
                    }
                    .into(),
                    text: c.text.clone(),
                })
                .collect(),
        );
        for p in &out.series {
            let t = p.timestamp_ms.unwrap_or(ev.now_ms);
            let validator = p
                .labels
                .iter()
                .find(|(k, _)| k == "validator")
                .and_then(|(_, v)| v.parse::<u64>().ok());
            match validator {
                Some(v) if p.labels.len() == 1 => {
                    f.validator_series
                        .entry(p.name.clone())
                        .or_default()
                        .insert(v, p.value);
                }
                _ => {
                    let key = crate::store::SeriesKey::new(&p.name, &p.labels).canonical();
                    let newer = f.series.get(&key).is_none_or(|old| old.timestamp_ms <= t);
                    if newer {
                        f.series.insert(
                            key,
                            SeriesValue {
                                name: p.name.clone(),
                                labels: labels_of(&p.labels),
                                value: p.value,
                                timestamp_ms: t,
                            },
                        );
                    }
                }
            }
        }
        // Columnar per-validator series land where their point-by-point form would:
        // validator-only series in `validator_series`, the rest by canonical key.
        for s in &out.validator_series {
            if s.labels.is_empty() {
                f.validator_series
                    .entry(s.name.clone())
                    .or_default()
                    .extend(s.validators.iter().copied().zip(s.values.iter().copied()));
                continue;
            }
            let t = s.timestamp_ms.unwrap_or(ev.now_ms);
            let mut points = Vec::new();
            crate::evaluate::expand_validator_series(s, ev.now_ms, &mut points);
            for p in points {
                let key = p.key.canonical();
                if f.series.get(&key).is_none_or(|old| old.timestamp_ms <= t) {
                    f.series.insert(
                        key,
                        SeriesValue {
                            name: s.name.clone(),
                            labels: labels_of(&p.key.labels),
                            value: p.value,
                            timestamp_ms: t,
                        },
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columnar_validator_series_land_like_their_points() {
        use crate::contract::{Output, ValidatorSeries};
        use crate::evaluate::PluginResult;
        let vs = |labels: Vec<(String, String)>, values: Vec<f64>| ValidatorSeries {
            name: "composite_score_percent".into(),
            labels,
            validators: vec![3, 8],
            values,
            timestamp_ms: None,
        };
        let out = Output {
            alerts: Vec::new(),
            scores: Vec::new(),
            subject_scores: Vec::new(),
            recommendations: Vec::new(),
            series: Vec::new(),
            checks: Vec::new(),
            validator_series: vec![
                vs(Vec::new(), vec![97.0, 12.5]),
                vs(vec![("window".into(), "7d".into())], vec![95.0, 50.0]),
            ],
        };
        let ev = Evaluation {
            generation: 1,
            kind: InputKind::Epoch,
            now_ms: 9_000,
            results: vec![PluginResult {
                plugin: "efficiency".into(),
                version: "0.1.0".into(),
                outcome: Ok(out),
                duration: std::time::Duration::from_millis(1),
            }],
            host_alerts: Vec::new(),
            commit_error: None,
        };
        let mut s = Snapshot::default();
        observe_outputs(&mut s, &ev);
        assert_eq!(s.validator_series("composite_score_percent", 8), Some(12.5));
        assert_eq!(s.validator_series("composite_score_percent", 3), Some(97.0));
        let f = &s.plugins["efficiency"];
        let seven = &f.series[r#"composite_score_percent{validator="8",window="7d"}"#];
        assert_eq!((seven.value, seven.timestamp_ms), (50.0, 9_000));
        assert_eq!(f.series.len(), 2);
    }

    #[test]
    fn snapshot_survives_a_restart_and_a_corrupt_file_starts_empty() {
        let dir = std::env::temp_dir().join(format!("vigil-findings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = Findings::open(&dir);
        let mut s = Snapshot {
            format: FORMAT,
            epoch: Some(12),
            ..Snapshot::default()
        };
        s.validators.insert(
            6,
            ValidatorView {
                index: 6,
                status: "active_ongoing".into(),
                ..ValidatorView::default()
            },
        );
        f.replace(s.clone());
        f.persist(true);
        assert_eq!(Findings::open(&dir).snapshot(), s);
        std::fs::write(dir.join(SNAPSHOT_FILE), b"{not json").unwrap();
        let empty = Findings::open(&dir);
        assert!(empty.snapshot().validators.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn income_is_balance_change_net_of_flows_over_a_day() {
        let mut v = ValidatorView::default();
        v.income_samples.push_back((0, 32_000_000_000));
        v.income_samples.push_back((3_600_000, 32_000_010_000));
        v.income_samples.push_back((90_000_000, 32_000_050_000));
        // The first sample is more than a day before the last: the second is the base.
        assert_eq!(v.income_1d_gwei(), Some(40_000));
        assert_eq!(ValidatorView::default().income_1d_gwei(), None);
    }
}
