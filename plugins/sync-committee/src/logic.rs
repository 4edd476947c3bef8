//! Sync committee judgement, in plain functions so it unit-tests natively.

use vigil_plugin_sdk::columns::Tri;
use vigil_plugin_sdk::duties::{by_node, duty_alert};
use vigil_plugin_sdk::prelude::*;

/// `[plugin.sync-committee]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub below_average_epochs: u32,
    pub margin: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            below_average_epochs: 3,
            margin: 0.05,
        }
    }
}

impl Config {
    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("below_average_epochs", self.below_average_epochs, 1, 1000)?;
        ConfigError::check_range("margin", self.margin, 0.0, 1.0)?;
        Ok(())
    }
}

/// Below-average streaks and the last epoch counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub below: Streaks<u64>,
    pub last_epoch: Option<u64>,
}

impl Tracker {
    /// Judge one epoch (a re-delivery re-reports but does not extend streaks).
    pub fn judge(&mut self, cfg: &Config, e: &EpochInput, out: &mut Output) {
        let v = &e.validators;
        let fresh = self.last_epoch.is_none_or(|l| e.epoch > l);
        let average = e.network_stats.sync_participation;
        let mut silent = Vec::new();
        let mut members = Vec::new();
        let mut participation = ValidatorSeries::new("sync_participation_percent", 0);
        for i in 0..v.len() {
            let (signed, expected) = (v.sync_signed[i], v.sync_expected[i]);
            if Tri::from_u8(v.sync_member[i]) != Tri::Yes || expected == 0 {
                continue;
            }
            members.push(v.index[i]);
            let share = signed as f64 / expected as f64;
            participation.push(v.index[i], share * 100.0);
            if signed == 0 {
                silent.push(v.index[i]);
            }
            if fresh && let Some(avg) = average {
                self.below.observe(&v.index[i], share < avg - cfg.margin);
            }
        }
        if fresh {
            // Members no longer (new period): their streaks end.
            self.below.retain(|x| members.contains(x));
            self.last_epoch = Some(e.epoch);
        }
        out.validator_series(participation);
        if let Some(avg) = average {
            out.series(SeriesPoint::new(
                "sync_network_participation_percent",
                avg * 100.0,
            ));
        }
        for (node, vals) in by_node(v, silent.iter().copied()) {
            out.alert(duty_alert(
                "sync_committee_missed",
                Severity::Critical,
                node,
                vals,
                &format!("signed no sync committee message in epoch {}", e.epoch),
            ));
        }
        let low: Vec<u64> = self
            .below
            .at_least(cfg.below_average_epochs)
            .map(|(k, _)| *k)
            .filter(|k| !silent.contains(k))
            .collect();
        for (node, vals) in by_node(v, low) {
            out.alert(
                duty_alert(
                    "sync_participation_low",
                    Severity::Medium,
                    node,
                    vals,
                    &format!(
                        "signed fewer sync committee messages than the chain's average ({:.0} %) for {} epochs",
                        average.unwrap_or(0.0) * 100.0,
                        cfg.below_average_epochs
                    ),
                )
                .threshold(average.unwrap_or(0.0) * 100.0),
            );
        }
        let upcoming: Vec<u64> = e
            .next_sync_committee
            .iter()
            .copied()
            .filter(|x| !members.contains(x))
            .collect();
        if !upcoming.is_empty() {
            let period = e.network.epochs_per_sync_committee_period.max(1) as u64;
            let starts = (e.epoch / period + 1) * period;
            for (node, vals) in by_node(v, upcoming) {
                out.alert(
                    duty_alert(
                        "sync_committee_upcoming",
                        Severity::Info,
                        node,
                        vals,
                        &format!("join the sync committee at epoch {starts}: keep them online"),
                    )
                    .value(starts as f64),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::testing::{self, Harness};

    /// Epoch `e`: 8 members, 8 blocks; `signed[v]` overrides the default 8.
    fn epoch(e: u64, signed: &[(usize, u32)], avg: f64) -> Input {
        let mut x = testing::epoch_input(e, 8);
        for i in 0..8 {
            x.validators.sync_member[i] = 1;
            x.validators.sync_expected[i] = 8;
            x.validators.sync_signed[i] = signed.iter().find(|s| s.0 == i).map_or(8, |s| s.1);
        }
        x.network_stats.sync_participation = Some(avg);
        Input::Epoch(x)
    }

    #[test]
    fn silent_member_raises_at_once_below_average_after_n() {
        let mut h = Harness::<crate::SyncCommittee>::with_toml("").unwrap();
        let out = h
            .evaluate(&epoch(1, &[(6, 0), (7, 0), (2, 6)], 0.9))
            .unwrap();
        let a = out.find_alert("sync_committee_missed").unwrap();
        assert_eq!(a.validators, vec![6, 7]);
        assert!(out.find_alert("sync_participation_low").is_none());
        h.evaluate(&epoch(2, &[(2, 6)], 0.9)).unwrap();
        // Same epoch re-delivered: not a third epoch.
        assert!(
            h.evaluate(&epoch(2, &[(2, 6)], 0.9))
                .unwrap()
                .find_alert("sync_participation_low")
                .is_none()
        );
        let out = h.evaluate(&epoch(3, &[(2, 6)], 0.9)).unwrap();
        assert_eq!(
            out.find_alert("sync_participation_low").unwrap().validators,
            vec![2]
        );
        // Back to full participation: quiet.
        assert!(h.evaluate(&epoch(4, &[], 0.9)).unwrap().alerts.is_empty());
    }

    #[test]
    fn next_period_membership_is_announced() {
        let mut h = Harness::<crate::SyncCommittee>::with_toml("").unwrap();
        let mut x = testing::epoch_input(5, 8);
        x.next_sync_committee = vec![3, 4];
        x.validators.sync_member[4] = 1;
        x.validators.sync_expected[4] = 8;
        x.validators.sync_signed[4] = 8;
        let out = h.evaluate(&Input::Epoch(x)).unwrap();
        let a = out.find_alert("sync_committee_upcoming").unwrap();
        assert_eq!(
            (a.validators.clone(), a.severity, a.value),
            (vec![3], Severity::Info, Some(8.0))
        );
    }

    #[test]
    fn margin_out_of_range_is_refused() {
        let e = Harness::<crate::SyncCommittee>::with_toml("margin = 2.0")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("margin"));
    }
}
