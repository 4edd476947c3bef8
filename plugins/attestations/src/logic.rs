//! Streak bookkeeping and effectiveness, in plain functions so they unit-test natively.

use std::collections::BTreeMap;
use vigil_plugin_sdk::columns::{Tri, count};
use vigil_plugin_sdk::duties::{
    attestation_contribution, by_node, duty_alert, inclusion_contribution, parse_severity,
};
use vigil_plugin_sdk::prelude::*;

/// `[plugin.attestations]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub consecutive: u32,
    pub severity: String,
    pub max_inclusion_delay: u64,
    pub late_consecutive: u32,
    pub wrong_consecutive: u32,
    /// Emit the per-validator series (one point per validator and epoch); large setups
    /// that only want the scores can turn it off.
    pub validator_series: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            consecutive: 2,
            severity: "critical".to_string(),
            max_inclusion_delay: 2,
            late_consecutive: 2,
            wrong_consecutive: 3,
            validator_series: true,
        }
    }
}

impl Config {
    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("consecutive", self.consecutive, 1, 100)?;
        ConfigError::check_range("max_inclusion_delay", self.max_inclusion_delay, 1, 64)?;
        ConfigError::check_range("late_consecutive", self.late_consecutive, 1, 100)?;
        ConfigError::check_range("wrong_consecutive", self.wrong_consecutive, 1, 100)?;
        self.severity()?;
        Ok(())
    }

    fn severity(&self) -> Result<Severity, ConfigError> {
        match parse_severity("severity", &self.severity)? {
            Severity::Info => Err(ConfigError::key(
                "severity",
                "a missed attestation is not a notice: use critical, high, medium or low",
            )),
            s => Ok(s),
        }
    }
}

/// What survives between epochs: the running streaks and the last epoch counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub streaks: Streaks<u64>,
    #[serde(default)]
    pub late: Streaks<u64>,
    #[serde(default)]
    pub wrong: Streaks<u64>,
    /// Newest epoch already counted; a revision of it is not counted again.
    pub last_epoch: Option<u64>,
}

/// Extend `old`'s streak of `v` into `new` when bad, keep it when unknown.
fn carry(old: &Streaks<u64>, new: &mut Streaks<u64>, v: u64, bad: Option<bool>) {
    match bad {
        Some(true) => new.set(v, old.get(&v) + 1),
        Some(false) => {}
        None => new.set(v, old.get(&v)),
    }
}

impl Tracker {
    /// Count one completed epoch. Returns false when it was already counted.
    ///
    /// The loop touches the streak maps only for misses and unknown outcomes (rare),
    /// never for the healthy majority.
    pub fn observe(&mut self, cfg: &Config, epoch: &EpochInput) -> bool {
        if self.last_epoch.is_some_and(|last| epoch.epoch <= last) {
            return false;
        }
        let v = &epoch.validators;
        let old = std::mem::take(&mut self.streaks);
        let old_late = std::mem::take(&mut self.late);
        let old_wrong = std::mem::take(&mut self.wrong);
        for i in 0..v.len() {
            if !v.is_active(i) {
                continue;
            }
            let index = v.index[i];
            let attested = v.attested(i);
            carry(&old, &mut self.streaks, index, attested.known().map(|a| !a));
            if attested == Tri::No {
                continue; // a miss is neither late nor wrong
            }
            let late = match (count(v.inclusion_delay[i]), attested) {
                (Some(d), Tri::Yes) => {
                    let best = count(v.earliest_inclusion_delay[i]).unwrap_or(1).min(d);
                    Some(d - best > cfg.max_inclusion_delay.saturating_sub(1))
                }
                _ => None,
            };
            carry(&old_late, &mut self.late, index, late);
            let flags = [v.head_ok[i], v.target_ok[i], v.source_ok[i]].map(Tri::from_u8);
            let wrong = if flags.contains(&Tri::No) {
                Some(true)
            } else if flags.contains(&Tri::Yes) {
                Some(false)
            } else {
                None
            };
            carry(&old_wrong, &mut self.wrong, index, wrong);
        }
        self.last_epoch = Some(epoch.epoch);
        true
    }

    /// Raise one alert per node and condition for validators at or past the threshold.
    pub fn report(&self, cfg: &Config, epoch: &EpochInput, out: &mut Output) {
        let v = &epoch.validators;
        let severity = cfg.severity().unwrap_or(Severity::Critical);
        let kinds = [
            (
                &self.streaks,
                cfg.consecutive,
                "attestations_missed",
                severity,
                "missed attestations",
            ),
            (
                &self.late,
                cfg.late_consecutive,
                "attestation_late",
                Severity::Medium,
                "had attestations included late",
            ),
            (
                &self.wrong,
                cfg.wrong_consecutive,
                "attestation_wrong_vote",
                Severity::Medium,
                "voted a wrong head, target or source",
            ),
        ];
        for (streaks, n, name, severity, what) in kinds {
            let hits: BTreeMap<u64, u32> = streaks.at_least(n).map(|(k, c)| (*k, c)).collect();
            for (node, validators) in by_node(v, hits.keys().copied()) {
                let longest = validators.iter().map(|x| hits[x]).max().unwrap_or(0);
                out.alert(
                    duty_alert(
                        name,
                        severity,
                        node,
                        validators,
                        &format!(
                            "{what} for {longest} consecutive epochs (up to epoch {})",
                            epoch.epoch
                        ),
                    )
                    .value(longest as f64)
                    .threshold(n as f64),
                );
            }
        }
        out.series(SeriesPoint::new(
            "validators_missing_streak",
            self.streaks.len() as f64,
        ));
    }
}

/// Per validator: attestation and inclusion effectiveness of this epoch, as columnar
/// per-validator series (label `validator`). (The `epoch` scores of the same components
/// come from the efficiency plugin, which computes them with the same functions.)
pub fn effectiveness(epoch: &EpochInput, series: bool, out: &mut Output) {
    if !series {
        return;
    }
    let v = &epoch.validators;
    let brpi = epoch.network_stats.base_reward_per_increment;
    let mut att = ValidatorSeries::new("attestation_effectiveness_percent", v.len());
    let mut inc = ValidatorSeries::new("inclusion_effectiveness_percent", v.len());
    for i in 0..v.len() {
        if let Some((n, d)) = attestation_contribution(v, i, brpi)
            && d != 0.0
        {
            att.push(v.index[i], (n / d * 100.0).clamp(0.0, 100.0));
        }
        if let Some((n, d)) = inclusion_contribution(v, i) {
            inc.push(v.index[i], (n / d * 100.0).clamp(0.0, 100.0));
        }
    }
    out.validator_series(att).validator_series(inc);
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::testing::{self, Harness};

    /// Epoch `e` where the validators in `missed` did not attest and the rest did.
    fn epoch(e: u64, n: usize, missed: &[u64]) -> Input {
        let mut input = testing::epoch_input(e, n);
        for i in 0..n {
            let miss = missed.contains(&(i as u64));
            input.validators.attested[i] = if miss { 0 } else { 1 };
            input.validators.inclusion_delay[i] = if miss { UNKNOWN_U64 } else { 1 };
            input.validators.earliest_inclusion_delay[i] = 1;
        }
        Input::Epoch(input)
    }

    #[test]
    fn single_miss_stays_quiet_second_raises() {
        let mut h = Harness::<crate::Attestations>::with_toml("").unwrap();
        assert!(
            h.evaluate(&epoch(10, 8, &[6, 7]))
                .unwrap()
                .alerts
                .is_empty()
        );
        let out = h.evaluate(&epoch(11, 8, &[6, 7])).unwrap();
        let a = out.find_alert("attestations_missed").unwrap();
        assert_eq!(a.validators, vec![6, 7]);
        assert_eq!(a.affected_count, 2);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.value, Some(2.0));
        assert_eq!(a.subject, vec![("node".to_string(), "unknown".to_string())]);
        assert!(a.summary.contains("6, 7"), "{}", a.summary);
        // Effectiveness: the missing ones at 0, the others at 100.
        let inc = |v: u64| out.validator_value("inclusion_effectiveness_percent", v);
        assert_eq!((inc(6), inc(0)), (Some(0.0), Some(100.0)));
        assert_eq!(
            out.validator_value("attestation_effectiveness_percent", 7),
            Some(0.0)
        );
        // Columnar, one series per name, the validator label added by the host.
        assert!(out.series.iter().all(|p| p.labels.is_empty()));
        let att = &out.validator_series[0];
        assert_eq!(att.name, "attestation_effectiveness_percent");
        assert!(att.labels.is_empty());
        assert_eq!(att.validators, (0..8).collect::<Vec<u64>>());
    }

    #[test]
    fn recovery_ends_the_streak_and_unknown_does_not() {
        let mut h = Harness::<crate::Attestations>::with_toml("consecutive = 2").unwrap();
        h.evaluate(&epoch(1, 8, &[6])).unwrap();
        let unknown = Input::Epoch(testing::epoch_input(2, 8));
        assert!(h.evaluate(&unknown).unwrap().alerts.is_empty());
        assert!(
            h.evaluate(&epoch(3, 8, &[6]))
                .unwrap()
                .find_alert("attestations_missed")
                .is_some()
        );
        assert!(h.evaluate(&epoch(4, 8, &[])).unwrap().alerts.is_empty());
    }

    #[test]
    fn streak_survives_restart_and_is_not_double_counted() {
        let mut h = Harness::<crate::Attestations>::with_toml("consecutive = 3").unwrap();
        h.evaluate(&epoch(1, 8, &[6])).unwrap();
        h.evaluate(&epoch(1, 8, &[6])).unwrap(); // revision of the same epoch
        h.restart("{\"consecutive\": 3}").unwrap();
        assert!(h.evaluate(&epoch(2, 8, &[6])).unwrap().alerts.is_empty());
        assert!(
            h.evaluate(&epoch(3, 8, &[6]))
                .unwrap()
                .find_alert("attestations_missed")
                .is_some()
        );
    }

    #[test]
    fn late_and_wrong_votes_raise_after_their_streaks() {
        let mut h = Harness::<crate::Attestations>::with_toml(
            "late_consecutive = 2\nwrong_consecutive = 2",
        )
        .unwrap();
        let late = |e: u64| {
            let Input::Epoch(mut x) = epoch(e, 4, &[]) else {
                unreachable!()
            };
            x.validators.inclusion_delay[2] = 5; // earliest 1: 4 slots late
            x.validators.target_ok[3] = 0;
            x.validators.head_ok[1] = 1;
            Input::Epoch(x)
        };
        assert!(h.evaluate(&late(1)).unwrap().alerts.is_empty());
        let out = h.evaluate(&late(2)).unwrap();
        assert_eq!(
            out.find_alert("attestation_late").unwrap().validators,
            vec![2]
        );
        assert_eq!(
            out.find_alert("attestation_wrong_vote").unwrap().validators,
            vec![3]
        );
        assert!(out.find_alert("attestations_missed").is_none());
        // A skipped slot is not the validator's fault: delay 3 with earliest 3 is on time.
        let Input::Epoch(mut x) = epoch(3, 4, &[]) else {
            unreachable!()
        };
        x.validators.inclusion_delay[2] = 3;
        x.validators.earliest_inclusion_delay[2] = 3;
        assert!(
            h.evaluate(&Input::Epoch(x))
                .unwrap()
                .find_alert("attestation_late")
                .is_none()
        );
    }

    #[test]
    fn bad_severity_names_key() {
        let e = Harness::<crate::Attestations>::with_toml("severity = \"loud\"")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("severity"));
        let e = Harness::<crate::Attestations>::with_toml("max_inclusion_delay = 0")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("max_inclusion_delay"));
    }
}
