//! Streak bookkeeping, in plain functions so it unit-tests natively.

use std::collections::BTreeMap;
use vigil_plugin_sdk::columns::Tri;
use vigil_plugin_sdk::prelude::*;

/// `[plugin.missed-streak]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub consecutive: u32,
    pub severity: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            consecutive: 2,
            severity: "critical".to_string(),
        }
    }
}

impl Config {
    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("consecutive", self.consecutive, 1, 100)?;
        self.severity()?;
        Ok(())
    }

    fn severity(&self) -> Result<Severity, ConfigError> {
        match self.severity.as_str() {
            "critical" => Ok(Severity::Critical),
            "high" => Ok(Severity::High),
            "medium" => Ok(Severity::Medium),
            "low" => Ok(Severity::Low),
            other => Err(ConfigError::key(
                "severity",
                format!("{other:?} is not a severity: use critical, high, medium or low"),
            )),
        }
    }
}

/// What survives between epochs: the running streaks and the last epoch counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub streaks: Streaks<u64>,
    /// Newest epoch already counted; a revision of it is not counted again.
    pub last_epoch: Option<u64>,
}

impl Tracker {
    /// Count one completed epoch. Returns false when it was already counted.
    ///
    /// The loop over validators touches the streak map only for misses and unknown
    /// outcomes (rare), never for the healthy majority: 100k validators cost one pass
    /// over two byte columns.
    pub fn observe(&mut self, epoch: &EpochInput) -> bool {
        if self.last_epoch.is_some_and(|last| epoch.epoch <= last) {
            return false;
        }
        let v = &epoch.validators;
        let old = std::mem::take(&mut self.streaks);
        for i in 0..v.len() {
            if !v.is_active(i) {
                continue;
            }
            match v.attested(i) {
                Tri::Yes => {}
                Tri::No => {
                    let run = old.get(&v.index[i]);
                    self.streaks.set(v.index[i], run + 1);
                }
                // Unknown neither extends nor ends a streak.
                Tri::Unknown => {
                    let run = old.get(&v.index[i]);
                    if run > 0 {
                        self.streaks.set(v.index[i], run);
                    }
                }
            }
        }
        self.last_epoch = Some(epoch.epoch);
        true
    }

    /// Raise one alert per node for validators at or past the streak threshold.
    pub fn report(&self, cfg: &Config, epoch: &EpochInput, out: &mut Output) {
        let severity = cfg.severity().unwrap_or(Severity::Critical);
        let v = &epoch.validators;
        let mut by_node: BTreeMap<&str, (Vec<u64>, u32)> = BTreeMap::new();
        for (&index, streak) in self.streaks.at_least(cfg.consecutive) {
            let node = v
                .position(index)
                .and_then(|i| v.label("node", i))
                .unwrap_or("unknown");
            let e = by_node.entry(node).or_default();
            e.0.push(index);
            e.1 = e.1.max(streak);
        }
        for (node, (validators, longest)) in by_node {
            let n = validators.len();
            let shown: Vec<String> = validators.iter().take(10).map(u64::to_string).collect();
            let more = if n > 10 {
                format!(" and {} more", n - 10)
            } else {
                String::new()
            };
            out.alert(
                AlertCondition::new(
                    "attestations_missed",
                    severity,
                    format!(
                        "{n} validator(s) missed attestations for {longest} consecutive epochs (up to epoch {}): {}{more}",
                        epoch.epoch,
                        shown.join(", ")
                    ),
                )
                .subject("node", node)
                .value(longest as f64)
                .threshold(cfg.consecutive as f64)
                .validators(validators),
            );
        }
        out.series(SeriesPoint::new(
            "validators_missing_streak",
            self.streaks.len() as f64,
        ));
    }
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
        }
        Input::Epoch(input)
    }

    #[test]
    fn single_miss_stays_quiet_second_raises() {
        let mut h = Harness::<crate::MissedStreak>::with_toml("").unwrap();
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
    }

    #[test]
    fn recovery_ends_the_streak_and_unknown_does_not() {
        let mut h = Harness::<crate::MissedStreak>::with_toml("consecutive = 2").unwrap();
        h.evaluate(&epoch(1, 8, &[6])).unwrap();
        // unknown outcome: neither extends nor ends
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
        let mut h = Harness::<crate::MissedStreak>::with_toml("consecutive = 3").unwrap();
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
    fn bad_severity_names_key() {
        let e = Harness::<crate::MissedStreak>::with_toml("severity = \"loud\"")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("severity"));
        assert!(e.message.contains("critical, high, medium or low"));
    }
}
