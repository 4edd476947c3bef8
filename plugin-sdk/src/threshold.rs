//! Thresholds and streaks.

use crate::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A limit on a value: breached when above (or below) it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// Breached when the value is strictly above the limit (e.g. sync distance).
    Above(f64),
    /// Breached when the value is strictly below the limit (e.g. peers).
    Below(f64),
}

impl Threshold {
    /// True when `value` crosses the limit.
    pub fn breached(&self, value: f64) -> bool {
        match *self {
            Threshold::Above(limit) => value > limit,
            Threshold::Below(limit) => value < limit,
        }
    }

    /// The limit itself.
    pub fn limit(&self) -> f64 {
        match *self {
            Threshold::Above(l) | Threshold::Below(l) => l,
        }
    }

    /// The most severe of the `(threshold, severity)` pairs that `value` breaches, given
    /// in any order, e.g. `[(Below(10), Medium), (Below(3), Critical)]`.
    pub fn classify(levels: &[(Threshold, Severity)], value: f64) -> Option<Severity> {
        levels
            .iter()
            .filter(|(t, _)| t.breached(value))
            .map(|(_, s)| *s)
            .min_by_key(|s| severity_rank(*s))
    }
}

/// 0 = critical … 4 = info: lower is more severe.
pub fn severity_rank(s: Severity) -> u8 {
    match s {
        Severity::Critical => 0,
        Severity::High => 1,
        Severity::Medium => 2,
        Severity::Low => 3,
        Severity::Info => 4,
    }
}

/// Consecutive bad observations per subject: "raise after N in a row". Keep it in
/// [`crate::host::state`] with `get_json`/`set_json` so a restart does not reset the
/// counts. Only subjects with a running streak are stored, so 10k healthy validators
/// cost nothing. Key by validator index (`Streaks<u64>`) in per-validator loops: no
/// allocation per validator; by `String` for nodes or other named subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Streaks<K: Ord = String> {
    counts: BTreeMap<K, u32>,
}

impl<K: Ord> Default for Streaks<K> {
    fn default() -> Self {
        Streaks {
            counts: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Streaks<K> {
    /// Record one observation of `subject`: bad extends its streak, good ends it.
    /// Returns the streak length after this observation.
    pub fn observe(&mut self, subject: &K, bad: bool) -> u32 {
        if bad {
            let c = self.counts.entry(subject.clone()).or_insert(0);
            *c = c.saturating_add(1);
            *c
        } else {
            self.counts.remove(subject);
            0
        }
    }

    /// Set the streak of `subject` (0 removes it).
    pub fn set(&mut self, subject: K, run: u32) {
        if run == 0 {
            self.counts.remove(&subject);
        } else {
            self.counts.insert(subject, run);
        }
    }

    /// The current streak of `subject`.
    pub fn get(&self, subject: &K) -> u32 {
        self.counts.get(subject).copied().unwrap_or(0)
    }

    /// Subjects whose streak is at least `n`, with their lengths.
    pub fn at_least(&self, n: u32) -> impl Iterator<Item = (&K, u32)> {
        self.counts
            .iter()
            .filter(move |(_, c)| **c >= n)
            .map(|(s, c)| (s, *c))
    }

    /// Forget subjects not in `keep` (validators no longer watched).
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.counts.retain(|s, _| keep(s));
    }

    /// Number of subjects with a running streak.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// True when no subject has a running streak.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_picks_most_severe() {
        let levels = [
            (Threshold::Below(10.0), Severity::Medium),
            (Threshold::Below(3.0), Severity::Critical),
        ];
        assert_eq!(Threshold::classify(&levels, 2.0), Some(Severity::Critical));
        assert_eq!(Threshold::classify(&levels, 5.0), Some(Severity::Medium));
        assert_eq!(Threshold::classify(&levels, 10.0), None);
    }

    #[test]
    fn streaks_count_consecutive_only() {
        let mut s = Streaks::<u64>::default();
        assert_eq!(s.observe(&6, true), 1);
        assert_eq!(s.observe(&6, true), 2);
        assert_eq!(s.observe(&7, true), 1);
        assert_eq!(s.at_least(2).collect::<Vec<_>>(), vec![(&6, 2)]);
        assert_eq!(s.observe(&6, false), 0);
        assert_eq!(s.get(&6), 0);
        assert_eq!(s.len(), 1);
        // Named subjects, and a JSON round trip as kept in plugin state.
        let mut n = Streaks::<String>::default();
        n.observe(&"bn-1".to_string(), true);
        let back: Streaks<String> =
            serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back, n);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Streaks<u64>>(&json).unwrap(), s);
    }
}
