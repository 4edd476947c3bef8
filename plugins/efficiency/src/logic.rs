//! Scoring, in plain functions so it unit-tests natively.

use std::collections::BTreeMap;
use vigil_plugin_sdk::duties::{
    attestation_contribution, composite, inclusion_contribution, proposal_contribution,
    sync_contribution,
};
use vigil_plugin_sdk::prelude::*;
use vigil_plugin_sdk::windows::EpochWindows;

/// `[plugin.efficiency]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub below_network_points: f64,
    pub group_labels: Vec<String>,
    /// Emit `composite_score_percent` per validator each epoch (false: scores only).
    pub validator_series: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            below_network_points: 10.0,
            group_labels: Vec::new(),
            validator_series: true,
        }
    }
}

impl Config {
    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range(
            "below_network_points",
            self.below_network_points,
            0.0,
            100.0,
        )
    }
}

/// Values per validator per epoch: (numerator, denominator) of each component.
const WIDTH: usize = 8;
const COMPONENTS: [&str; 4] = ["attestation", "inclusion", "proposal", "sync"];
const WINDOWS: [(&str, u64); 3] = [("1d", 1), ("7d", 7), ("30d", 30)];

/// Per-validator and network windows.
#[derive(Debug, Clone, Default)]
pub struct Scorer {
    pub validators: EpochWindows,
    /// One pseudo-validator: [participation, 1, sync participation, 1] per epoch.
    pub network: EpochWindows,
}

/// Component ratios (0..1) of one validator from its sums, `None` without a duty.
fn ratios(s: &[f32]) -> [Option<f64>; 4] {
    let r = |k: usize| (s[2 * k + 1] > 0.0).then(|| s[2 * k] as f64 / s[2 * k + 1] as f64);
    [r(0), r(1), r(2), r(3)]
}

fn pct(x: f64) -> f64 {
    (x * 100.0).clamp(0.0, 100.0)
}

impl Scorer {
    /// Load from host state (fresh when there is none).
    pub fn load(epochs_per_day: u64) -> Scorer {
        Scorer {
            validators: EpochWindows::load("v", WIDTH, epochs_per_day)
                .unwrap_or_else(|| EpochWindows::new(WIDTH, epochs_per_day)),
            network: EpochWindows::load("n", 4, epochs_per_day)
                .unwrap_or_else(|| EpochWindows::new(4, epochs_per_day)),
        }
    }

    /// Forget everything (a new chain): every window key goes.
    pub fn clear() {
        EpochWindows::delete("v");
        EpochWindows::delete("n");
    }

    /// Persist what changed.
    pub fn save(&mut self) -> Result<(), String> {
        self.validators.save("v")?;
        self.network.save("n")
    }

    /// Score one delivered epoch.
    pub fn observe(&mut self, cfg: &Config, e: &EpochInput, out: &mut Output) {
        let v = &e.validators;
        let n = v.len();
        let brpi = e.network_stats.base_reward_per_increment;
        let mut values = vec![0.0f32; n * WIDTH];
        for i in 0..n {
            let c = [
                attestation_contribution(v, i, brpi),
                inclusion_contribution(v, i),
                proposal_contribution(v, i),
                sync_contribution(v, i),
            ];
            for (k, x) in c.iter().enumerate() {
                if let Some((num, den)) = x {
                    values[i * WIDTH + 2 * k] = *num as f32;
                    values[i * WIDTH + 2 * k + 1] = *den as f32;
                }
            }
        }
        // The epoch's own scores come straight from its contributions.
        self.emit(cfg, v, "epoch", &v.index, &values, out);
        self.validators
            .record(e.epoch, e.finalized, &v.index, values);
        let stats = &e.network_stats;
        let (p, s) = (stats.participation_rate, stats.sync_participation);
        if p.is_some() || s.is_some() {
            self.network.record(
                e.epoch,
                e.finalized,
                &[0],
                vec![
                    p.unwrap_or(0.0) as f32,
                    p.map_or(0.0, |_| 1.0),
                    s.unwrap_or(0.0) as f32,
                    s.map_or(0.0, |_| 1.0),
                ],
            );
        }
        let ids = self.validators.ids().to_vec();
        let mut network_1d = None;
        for (window, days) in WINDOWS {
            let sums = self.validators.sums(days, e.epoch);
            self.emit(cfg, v, window, &ids, &sums, out);
            if !self.network.ids().is_empty() {
                let ns = self.network.sums(days, e.epoch);
                let [att, _, _, sync] = [
                    (ns[1] > 0.0).then(|| (ns[0] / ns[1]) as f64),
                    None,
                    None,
                    (ns[3] > 0.0).then(|| (ns[2] / ns[3]) as f64),
                ];
                let avg = [
                    ("attestation", att),
                    ("sync", sync),
                    ("composite", composite(att, None, sync)),
                ];
                for (component, x) in avg {
                    if let Some(x) = x {
                        out.subject_score(
                            SubjectScore::new(component, window, pct(x))
                                .subject("network", "average"),
                        );
                    }
                }
                if window == "1d" {
                    network_1d = composite(att, None, sync).map(pct);
                }
            }
            if window == "1d" && cfg.validator_series {
                let mut series = ValidatorSeries::new("composite_score_percent", ids.len());
                for (p, &id) in ids.iter().enumerate() {
                    let r = ratios(&sums[p * WIDTH..(p + 1) * WIDTH]);
                    if let Some(c) = composite(r[0], r[2], r[3]) {
                        series.push(id, pct(c));
                    }
                }
                out.validator_series(series);
            }
            if window == "1d"
                && let Some(avg) = network_1d
            {
                self.compare(cfg, &ids, &sums, avg, out);
            }
        }
    }

    /// Validator scores and group scores of one window from dense sums aligned with `ids`.
    fn emit(
        &self,
        cfg: &Config,
        v: &ValidatorColumns,
        window: &str,
        ids: &[u64],
        sums: &[f32],
        out: &mut Output,
    ) {
        let mut per: Vec<(Vec<u64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); 5];
        for (p, id) in ids.iter().enumerate() {
            let r = ratios(&sums[p * WIDTH..(p + 1) * WIDTH]);
            for k in 0..4 {
                if let Some(x) = r[k] {
                    per[k].0.push(*id);
                    per[k].1.push(pct(x));
                }
            }
            if let Some(c) = composite(r[0], r[2], r[3]) {
                per[4].0.push(*id);
                per[4].1.push(pct(c));
            }
        }
        for (k, (vals, scores)) in per.into_iter().enumerate() {
            let component = COMPONENTS.get(k).copied().unwrap_or("composite");
            out.scores(component, window, vals, scores);
        }
        // Groups: sum the members' sums, then divide.
        for col in v
            .labels
            .iter()
            .filter(|c| cfg.group_labels.is_empty() || cfg.group_labels.contains(&c.name))
        {
            let mut groups: BTreeMap<u32, [f64; WIDTH]> = BTreeMap::new();
            for (p, id) in ids.iter().enumerate() {
                let Some(i) = v.position(*id) else { continue };
                let g = groups.entry(col.codes[i]).or_insert([0.0; WIDTH]);
                for (a, b) in g.iter_mut().zip(&sums[p * WIDTH..(p + 1) * WIDTH]) {
                    *a += *b as f64;
                }
            }
            for (code, s) in groups {
                let name = &col.values[code as usize];
                let f: Vec<f32> = s.iter().map(|x| *x as f32).collect();
                let r = ratios(&f);
                let comp = composite(r[0], r[2], r[3]);
                for (component, x) in COMPONENTS
                    .iter()
                    .copied()
                    .zip(r)
                    .chain([("composite", comp)])
                {
                    if let Some(x) = x {
                        out.subject_score(
                            SubjectScore::new(component, window, pct(x)).subject(&col.name, name),
                        );
                    }
                }
            }
        }
    }

    /// The check line: validators below the network's composite (1d).
    fn compare(&self, cfg: &Config, ids: &[u64], sums: &[f32], network: f64, out: &mut Output) {
        let mut below = Vec::new();
        for (p, id) in ids.iter().enumerate() {
            let r = ratios(&sums[p * WIDTH..(p + 1) * WIDTH]);
            if let Some(c) = composite(r[0], r[2], r[3])
                && pct(c) < network - cfg.below_network_points
            {
                below.push(*id);
            }
        }
        let text = if below.is_empty() {
            format!(
                "every validator within {} points of the network's composite ({network:.1} %, 1d)",
                cfg.below_network_points
            )
        } else {
            format!(
                "{} validator(s) more than {} points below the network's composite ({network:.1} %, 1d): {}",
                below.len(),
                cfg.below_network_points,
                vigil_plugin_sdk::duties::name_validators(&below)
            )
        };
        let check = if below.is_empty() {
            Check::ok("efficiency_vs_network", text)
        } else {
            Check::warn("efficiency_vs_network", text)
        };
        out.check(check);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::LabelColumn;
    use vigil_plugin_sdk::testing::{self, Harness};

    /// Epoch `e`: 4 validators, 0-2 attest fully, 3 misses when `down`; validator 1 has
    /// a proposal duty it fills; all are sync members signing 8/8 except 3 when down.
    fn epoch(e: u64, down: bool) -> Input {
        let mut x = testing::epoch_input(e, 4);
        let v = &mut x.validators;
        for i in 0..4 {
            let miss = down && i == 3;
            v.attested[i] = if miss { 0 } else { 1 };
            for (col, ideal) in [
                (&mut v.reward_head, 14),
                (&mut v.reward_target, 26),
                (&mut v.reward_source, 14),
            ] {
                col[i] = if miss { 0 } else { ideal };
            }
            v.ideal_head[i] = 14;
            v.ideal_target[i] = 26;
            v.ideal_source[i] = 14;
            v.inclusion_delay[i] = if miss { UNKNOWN_U64 } else { 1 };
            v.earliest_inclusion_delay[i] = 1;
            v.sync_member[i] = 1;
            v.sync_expected[i] = 8;
            v.sync_signed[i] = if miss { 0 } else { 8 };
        }
        v.proposals_assigned[1] = 1;
        v.proposals_made[1] = 1;
        v.labels = vec![
            LabelColumn {
                name: "node".into(),
                values: vec!["bn".into()],
                codes: vec![0; 4],
            },
            LabelColumn {
                name: "operator".into(),
                values: vec!["a".into(), "b".into()],
                codes: vec![0, 0, 1, 1],
            },
        ];
        x.network_stats.participation_rate = Some(0.75);
        x.network_stats.sync_participation = Some(0.75);
        Input::Epoch(x)
    }

    fn score(out: &Output, component: &str, window: &str, v: u64) -> Option<f64> {
        let s = out
            .scores
            .iter()
            .find(|s| s.component == component && s.window == window)?;
        let p = s.validators.iter().position(|x| *x == v)?;
        Some(s.values[p])
    }

    #[test]
    fn composite_weights_and_fallbacks() {
        let mut h = Harness::<crate::Efficiency>::with_toml("").unwrap();
        let out = h.evaluate(&epoch(1, true)).unwrap();
        // Validator 1: every duty, all perfect.
        assert_eq!(score(&out, "composite", "epoch", 1), Some(100.0));
        // Validator 0: no proposal duty: 56/64 attestation + 8/64 sync = 100.
        assert_eq!(score(&out, "composite", "epoch", 0), Some(100.0));
        assert_eq!(score(&out, "proposal", "epoch", 0), None);
        // Validator 3: missed everything.
        assert_eq!(score(&out, "composite", "epoch", 3), Some(0.0));
        // Groups: operator b = validators 2 and 3, summed before dividing: 50 %.
        let b = out
            .subject_scores
            .iter()
            .find(|s| {
                s.component == "attestation"
                    && s.window == "1d"
                    && s.subject == vec![("operator".to_string(), "b".to_string())]
            })
            .unwrap();
        assert_eq!(b.value, 50.0);
        // Only the labels asked for.
        let mut h2 = Harness::<crate::Efficiency>::with_toml("group_labels = [\"node\"]").unwrap();
        let out2 = h2.evaluate(&epoch(1, true)).unwrap();
        assert!(
            out2.subject_scores
                .iter()
                .all(|s| s.subject[0].0 != "operator")
        );
        assert!(out2.subject_scores.iter().any(|s| s.subject[0].0 == "node"));
        let net = out
            .subject_scores
            .iter()
            .find(|s| s.component == "composite" && s.window == "1d" && s.subject[0].0 == "network")
            .unwrap();
        assert_eq!(net.value, 75.0);
        let c = out
            .checks
            .iter()
            .find(|c| c.name == "efficiency_vs_network")
            .unwrap();
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.text.contains(": 3"), "{}", c.text);
    }

    #[test]
    fn drop_and_recover_over_windows_with_redelivery() {
        let mut h = Harness::<crate::Efficiency>::with_toml("").unwrap();
        for e in 1..=4 {
            h.evaluate(&epoch(e, false)).unwrap();
        }
        // Epoch 5 first delivered as a miss, then re-delivered as a miss again: once.
        h.evaluate(&epoch(5, true)).unwrap();
        let out = h.evaluate(&epoch(5, true)).unwrap();
        let a = score(&out, "attestation", "1d", 3).unwrap();
        assert!((a - 80.0).abs() < 1e-3, "{a}");
        // Back: the window still remembers the miss, the epoch score is full.
        let out = h.evaluate(&epoch(6, false)).unwrap();
        assert_eq!(score(&out, "attestation", "epoch", 3), Some(100.0));
        let a = score(&out, "attestation", "7d", 3).unwrap();
        assert!((a - 500.0 / 6.0).abs() < 1e-3, "{a}");
        let comp = out.validator_value("composite_score_percent", 3).unwrap();
        assert!(comp < 100.0);
        // The windows survive a restart.
        h.restart("{}").unwrap();
        let out = h.evaluate(&epoch(7, false)).unwrap();
        let a = score(&out, "attestation", "7d", 3).unwrap();
        assert!((a - 600.0 / 7.0).abs() < 1e-3, "{a}");
    }

    #[test]
    fn bad_config_is_refused() {
        let e = Harness::<crate::Efficiency>::with_toml("below_network_points = -1")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("below_network_points"));
    }
}
