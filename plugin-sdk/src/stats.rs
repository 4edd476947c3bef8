//! Window statistics plugin authors would otherwise copy from plugin to plugin.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The last `capacity` observations, with mean, min, max, standard deviation and
/// percentiles. Serializable, so a window can live in [`crate::host::state`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    capacity: usize,
    values: VecDeque<f64>,
}

impl Window {
    /// A window keeping the last `capacity` values (at least 1).
    pub fn new(capacity: usize) -> Window {
        Window {
            capacity: capacity.max(1),
            values: VecDeque::new(),
        }
    }

    /// Add a value, dropping the oldest when full. NaN is ignored.
    pub fn push(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(v);
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// True once `capacity` values have been seen.
    pub fn is_full(&self) -> bool {
        self.values.len() == self.capacity
    }

    /// The newest value.
    pub fn last(&self) -> Option<f64> {
        self.values.back().copied()
    }

    /// Sum of the values.
    pub fn sum(&self) -> f64 {
        self.values.iter().sum()
    }

    /// Arithmetic mean.
    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.sum() / self.len() as f64)
    }

    /// Smallest value.
    pub fn min(&self) -> Option<f64> {
        self.values.iter().copied().reduce(f64::min)
    }

    /// Largest value.
    pub fn max(&self) -> Option<f64> {
        self.values.iter().copied().reduce(f64::max)
    }

    /// Population standard deviation.
    pub fn stddev(&self) -> Option<f64> {
        let mean = self.mean()?;
        let var = self.values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / self.len() as f64;
        Some(var.sqrt())
    }

    /// Percentile `p` in 0..=100 by linear interpolation between closest ranks.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = self.values.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = (p.clamp(0.0, 100.0) / 100.0) * (sorted.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
    }

    /// The values, oldest first.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.values.iter().copied()
    }
}

/// A ratio summed before dividing: Σ numerators / Σ denominators. This is how
/// effectiveness over a window is computed (balance-weighted), never a mean of ratios.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RatioSum {
    pub numerator: f64,
    pub denominator: f64,
}

impl RatioSum {
    /// Add one observation's numerator and denominator.
    pub fn add(&mut self, numerator: f64, denominator: f64) {
        self.numerator += numerator;
        self.denominator += denominator;
    }

    /// Merge another sum (e.g. a validator's into its group's).
    pub fn merge(&mut self, other: RatioSum) {
        self.add(other.numerator, other.denominator);
    }

    /// The ratio, `None` with nothing in the denominator.
    pub fn ratio(&self) -> Option<f64> {
        (self.denominator != 0.0).then(|| self.numerator / self.denominator)
    }

    /// The ratio as a 0..100 score, clamped (negative rewards display as 0).
    pub fn percent(&self) -> Option<f64> {
        self.ratio().map(|r| (r * 100.0).clamp(0.0, 100.0))
    }
}

/// Least-squares fit `y = intercept + slope · x`. Returns `(slope, intercept)`, or `None`
/// with fewer than two distinct `x`. Used for trends such as days until the disk is full.
pub fn linear_fit(points: impl IntoIterator<Item = (f64, f64)>) -> Option<(f64, f64)> {
    let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (x, y) in points {
        n += 1.0;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    let denom = n * sxx - sx * sx;
    if n < 2.0 || denom.abs() < f64::EPSILON * n * sxx.abs().max(1.0) {
        return None;
    }
    let slope = (n * sxy - sx * sy) / denom;
    Some((slope, (sy - slope * sx) / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_keeps_last_values() {
        let mut w = Window::new(3);
        for v in [1.0, 2.0, 3.0, 4.0, f64::NAN] {
            w.push(v);
        }
        assert_eq!(w.values().collect::<Vec<_>>(), vec![2.0, 3.0, 4.0]);
        assert_eq!(w.mean(), Some(3.0));
        assert_eq!(w.min(), Some(2.0));
        assert_eq!(w.max(), Some(4.0));
        assert_eq!(w.percentile(50.0), Some(3.0));
        assert_eq!(w.percentile(75.0), Some(3.5));
        assert!((w.stddev().unwrap() - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(w.is_full());
    }

    #[test]
    fn ratio_sums_before_dividing() {
        // 1/1 and 0/3: mean of ratios would be 50 %, the balance-weighted truth is 25 %.
        let mut r = RatioSum::default();
        r.add(1.0, 1.0);
        r.add(0.0, 3.0);
        assert_eq!(r.percent(), Some(25.0));
        assert_eq!(RatioSum::default().ratio(), None);
    }

    #[test]
    fn linear_fit_finds_slope() {
        let (slope, icpt) = linear_fit([(0.0, 10.0), (1.0, 8.0), (2.0, 6.0)]).unwrap();
        assert!((slope + 2.0).abs() < 1e-12 && (icpt - 10.0).abs() < 1e-12);
        assert!(linear_fit([(1.0, 1.0), (1.0, 2.0)]).is_none());
    }
}
