//! Per-validator sums over day windows (1d / 7d / 30d), fed one epoch at a time.
//!
//! An epoch is delivered several times as its data firms up (and a reorg can revise
//! it), so the latest delivery of each recent epoch is kept apart ("pending", keyed by
//! epoch) and replaced on re-delivery; an epoch is folded into its day bucket once it is
//! finalized or [`PENDING_EPOCHS`] newer epochs exist, after which it cannot change.
//!
//! Values are dense `f32` columns aligned with the sorted validator list: `width` values
//! per validator (numerator/denominator pairs), so 10k validators × 8 values is 320 KB
//! per day bucket, stored under its own state key (the host allows 1 MiB per value).
//! A window of `d` days is the current day, the `d − 1` days before it, and the
//! not-yet-covered part of the day before those, prorated, so a window always spans
//! about `d` days rather than jumping at midnight.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Epochs kept apart before they are folded into their day.
pub const PENDING_EPOCHS: u64 = 3;
/// Days kept: the longest window (30 d) plus the prorated day.
pub const DAYS_KEPT: u64 = 31;

/// Sums per validator over day windows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpochWindows {
    width: usize,
    epochs_per_day: u64,
    ids: Vec<u64>,
    pending: BTreeMap<u64, Vec<f32>>,
    days: BTreeMap<u64, Vec<f32>>,
    /// Newest epoch folded into a day: older deliveries are ignored.
    folded_upto: Option<u64>,
    /// Day buckets kept (default [`DAYS_KEPT`]).
    days_kept: u64,
    /// Everything ever folded, per validator (for "all time" figures).
    total: Vec<f64>,
    /// Keys to write on the next save.
    dirty_days: Vec<u64>,
    pending_changed: bool,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    width: usize,
    epochs_per_day: u64,
    ids: Vec<u64>,
    pending: Vec<u64>,
    days: Vec<u64>,
    folded_upto: Option<u64>,
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl EpochWindows {
    /// Sums of `width` values per validator; days of `epochs_per_day` epochs.
    pub fn new(width: usize, epochs_per_day: u64) -> EpochWindows {
        EpochWindows {
            width: width.max(1),
            epochs_per_day: epochs_per_day.max(1),
            days_kept: DAYS_KEPT,
            ..EpochWindows::default()
        }
    }

    /// Keep `days` day buckets instead of [`DAYS_KEPT`] (e.g. 91 for a 90-day window).
    pub fn keep_days(mut self, days: u64) -> EpochWindows {
        self.days_kept = days.max(1);
        self
    }

    /// Everything folded so far plus the pending epochs, per validator: "all time".
    pub fn all_time(&self) -> Vec<f64> {
        let mut out = self.total.clone();
        out.resize(self.ids.len() * self.width, 0.0);
        for buf in self.pending.values() {
            for (a, b) in out.iter_mut().zip(buf) {
                *a += *b as f64;
            }
        }
        out
    }

    /// The validators the columns describe, sorted.
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Values per validator.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Re-align every buffer with a new validator list (validators gone are dropped,
    /// new ones start at zero).
    fn realign(&mut self, ids: &[u64]) {
        let w = self.width;
        let old_pos: BTreeMap<u64, usize> =
            self.ids.iter().enumerate().map(|(p, v)| (*v, p)).collect();
        let remap = |old: &Vec<f32>| {
            let mut new = vec![0.0f32; ids.len() * w];
            for (p, v) in ids.iter().enumerate() {
                if let Some(&o) = old_pos.get(v) {
                    new[p * w..(p + 1) * w].copy_from_slice(&old[o * w..(o + 1) * w]);
                }
            }
            new
        };
        for buf in self.pending.values_mut() {
            *buf = remap(buf);
        }
        let days: Vec<u64> = self.days.keys().copied().collect();
        for (_, buf) in self.days.iter_mut() {
            *buf = remap(buf);
        }
        let mut total = vec![0.0f64; ids.len() * w];
        for (p, v) in ids.iter().enumerate() {
            if let Some(&o) = old_pos.get(v)
                && self.total.len() >= (o + 1) * w
            {
                total[p * w..(p + 1) * w].copy_from_slice(&self.total[o * w..(o + 1) * w]);
            }
        }
        self.total = total;
        self.dirty_days.extend(days);
        self.ids = ids.to_vec();
        self.pending_changed = true;
    }

    /// Record the latest delivery of `epoch`: `values` holds `width` values per
    /// validator of `ids` (sorted). Returns false when the epoch was already folded
    /// (too old to change).
    pub fn record(&mut self, epoch: u64, finalized: bool, ids: &[u64], values: Vec<f32>) -> bool {
        if self.folded_upto.is_some_and(|f| epoch <= f) {
            return false;
        }
        if ids != self.ids.as_slice() {
            self.realign(ids);
        }
        debug_assert_eq!(values.len(), ids.len() * self.width);
        self.pending.insert(epoch, values);
        self.pending_changed = true;
        let newest = *self.pending.keys().next_back().unwrap_or(&epoch);
        let fold: Vec<u64> = self
            .pending
            .keys()
            .copied()
            .filter(|e| *e + PENDING_EPOCHS <= newest || (*e == epoch && finalized))
            .collect();
        for e in fold {
            if let Some(buf) = self.pending.remove(&e) {
                let day = e / self.epochs_per_day;
                let bucket = self.days.entry(day).or_insert_with(|| vec![0.0; buf.len()]);
                for (a, b) in bucket.iter_mut().zip(&buf) {
                    *a += b;
                }
                self.total.resize(buf.len(), 0.0);
                for (a, b) in self.total.iter_mut().zip(&buf) {
                    *a += *b as f64;
                }
                if !self.dirty_days.contains(&day) {
                    self.dirty_days.push(day);
                }
                self.folded_upto = Some(self.folded_upto.map_or(e, |f| f.max(e)));
            }
        }
        let oldest_day = (newest / self.epochs_per_day).saturating_sub(self.days_kept.max(1));
        self.days.retain(|d, _| *d >= oldest_day);
        true
    }

    /// Sums over the last `days` days up to epoch `now` (inclusive): dense, `width`
    /// values per validator of [`EpochWindows::ids`].
    pub fn sums(&self, days: u64, now: u64) -> Vec<f32> {
        let mut out = vec![0.0f32; self.ids.len() * self.width];
        let epd = self.epochs_per_day;
        let today = now / epd;
        let elapsed = ((now % epd) + 1) as f32 / epd as f32;
        let first_full = today.saturating_sub(days.saturating_sub(1));
        for (d, buf) in self.days.range(first_full.saturating_sub(1)..=today) {
            let weight = if *d + 1 == first_full {
                1.0 - elapsed
            } else {
                1.0
            };
            if weight <= 0.0 {
                continue;
            }
            for (a, b) in out.iter_mut().zip(buf) {
                *a += weight * b;
            }
        }
        let from_epoch = first_full * epd;
        for (_, buf) in self.pending.range(from_epoch..=now) {
            for (a, b) in out.iter_mut().zip(buf) {
                *a += b;
            }
        }
        out
    }

    /// Write what changed to the plugin's state under `prefix`.
    pub fn save(&mut self, prefix: &str) -> Result<(), String> {
        use crate::host::state;
        if !self.dirty_days.is_empty() {
            let bytes: Vec<u8> = self.total.iter().flat_map(|x| x.to_le_bytes()).collect();
            state::set(&format!("{prefix}:total"), &bytes)?;
        }
        for d in std::mem::take(&mut self.dirty_days) {
            match self.days.get(&d) {
                Some(buf) => state::set(&format!("{prefix}:day:{d}"), &to_bytes(buf))?,
                None => state::delete(&format!("{prefix}:day:{d}")),
            }
        }
        if self.pending_changed {
            let old: Option<Meta> = state::get_json(&format!("{prefix}:meta"));
            for e in old.map(|m| m.pending).unwrap_or_default() {
                if !self.pending.contains_key(&e) {
                    state::delete(&format!("{prefix}:epoch:{e}"));
                }
            }
            for (e, buf) in &self.pending {
                state::set(&format!("{prefix}:epoch:{e}"), &to_bytes(buf))?;
            }
            self.pending_changed = false;
        }
        let meta = Meta {
            width: self.width,
            epochs_per_day: self.epochs_per_day,
            ids: self.ids.clone(),
            pending: self.pending.keys().copied().collect(),
            days: self.days.keys().copied().collect(),
            folded_upto: self.folded_upto,
        };
        state::set_json(&format!("{prefix}:meta"), &meta)
    }

    /// Load what [`EpochWindows::save`] wrote; `None` when nothing (or another shape)
    /// was saved.
    /// Remove everything [`EpochWindows::save`] wrote under `prefix` (a new chain).
    pub fn delete(prefix: &str) {
        use crate::host::state;
        if let Some(meta) = state::get_json::<Meta>(&format!("{prefix}:meta")) {
            for e in meta.pending {
                state::delete(&format!("{prefix}:epoch:{e}"));
            }
            for d in meta.days {
                state::delete(&format!("{prefix}:day:{d}"));
            }
        }
        state::delete(&format!("{prefix}:total"));
        state::delete(&format!("{prefix}:meta"));
    }

    /// Keep [`EpochWindows::keep_days`] again after loading when it was not the default.
    pub fn load(prefix: &str, width: usize, epochs_per_day: u64) -> Option<EpochWindows> {
        use crate::host::state;
        let meta: Meta = state::get_json(&format!("{prefix}:meta"))?;
        if meta.width != width || meta.epochs_per_day != epochs_per_day {
            return None;
        }
        let len = meta.ids.len() * width;
        let read = |key: String| {
            state::get(&key)
                .map(|b| from_bytes(&b))
                .filter(|v| v.len() == len)
        };
        let mut w = EpochWindows::new(width, epochs_per_day);
        w.ids = meta.ids;
        w.folded_upto = meta.folded_upto;
        w.total = state::get(&format!("{prefix}:total"))
            .map(|b| {
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect()
            })
            .unwrap_or_default();
        for e in meta.pending {
            if let Some(buf) = read(format!("{prefix}:epoch:{e}")) {
                w.pending.insert(e, buf);
            }
        }
        for d in meta.days {
            if let Some(buf) = read(format!("{prefix}:day:{d}")) {
                w.days.insert(d, buf);
            }
        }
        Some(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redelivery_replaces_and_folding_freezes() {
        let mut w = EpochWindows::new(2, 10);
        assert!(w.record(1, false, &[5], vec![0.0, 1.0]));
        // Re-delivered with rewards: replaces, not adds.
        assert!(w.record(1, false, &[5], vec![1.0, 1.0]));
        assert_eq!(w.sums(1, 1), vec![1.0, 1.0]);
        for e in 2..=5 {
            w.record(e, false, &[5], vec![1.0, 1.0]);
        }
        // Epoch 1 is folded now: a late revision is refused.
        assert!(!w.record(1, false, &[5], vec![0.0, 1.0]));
        assert_eq!(w.sums(1, 5), vec![5.0, 5.0]);
    }

    #[test]
    fn windows_prorate_the_oldest_day_and_follow_the_validator_set() {
        let mut w = EpochWindows::new(1, 10);
        for e in 0..=24 {
            w.record(e, true, &[1], vec![1.0]);
        }
        // Epoch 24: half of day 2, plus the uncovered half of day 1 prorated.
        assert!((w.sums(1, 24)[0] - 10.0).abs() < 1e-6);
        for e in 25..30 {
            w.record(e, false, &[1], vec![1.0]);
        }
        // Epoch 29: day 2 fully elapsed (3 epochs of it still pending), so "1d" is day 2.
        assert_eq!(w.sums(1, 29), vec![10.0]);
        assert_eq!(w.sums(7, 29), vec![30.0]);
        w.record(30, true, &[1, 2], vec![1.0, 1.0]);
        assert_eq!(w.ids(), &[1, 2]);
        assert_eq!(w.sums(7, 30), vec![31.0, 1.0]);
    }

    #[test]
    fn survives_a_restart() {
        let mut w = EpochWindows::new(2, 10);
        for e in 0..6 {
            w.record(e, false, &[3, 4], vec![1.0, 2.0, 3.0, 4.0]);
        }
        let mut h = crate::testing::TestHost::default();
        crate::testing::with_test_host(&mut h, || w.save("eff").unwrap());
        let back = crate::testing::with_test_host(&mut h, || EpochWindows::load("eff", 2, 10));
        let mut w2 = back.unwrap();
        assert_eq!(w2.sums(7, 5), w.sums(7, 5));
        w2.dirty_days.clear();
        w.dirty_days.clear();
        w2.pending_changed = w.pending_changed;
        assert_eq!(w2, w);
        crate::testing::with_test_host(&mut h, || EpochWindows::delete("eff"));
        assert!(h.state.is_empty(), "{:?}", h.state.keys());
    }
}
