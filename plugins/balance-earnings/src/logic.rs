//! The ledger: recent balances and incomes per validator, windows of the total.

use std::collections::BTreeMap;
use vigil_plugin_sdk::columns::gwei;
use vigil_plugin_sdk::duties::{by_node, duty_alert};
use vigil_plugin_sdk::prelude::*;
use vigil_plugin_sdk::windows::EpochWindows;

/// `[plugin.balance-earnings]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub window_epochs: u32,
    pub suppress_epochs_after_reset: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window_epochs: 3,
            suppress_epochs_after_reset: 4,
        }
    }
}

impl Config {
    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("window_epochs", self.window_epochs, 1, 1000)?;
        ConfigError::check_range(
            "suppress_epochs_after_reset",
            self.suppress_epochs_after_reset,
            0,
            10_000,
        )?;
        Ok(())
    }
}

/// One delivered epoch: balances and incomes of its validators (`i64::MIN` unknown).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub ids: Vec<u64>,
    pub balance: Vec<i64>,
    pub income: Vec<i64>,
}

/// Small state kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// Per-epoch total income of the last day (for the projection band).
    pub(crate) recent_totals: BTreeMap<u64, f64>,
    pub(crate) rows: Vec<u64>,
    pub(crate) suppress_until: Option<u64>,
    pub(crate) reset_seen: bool,
}

/// Everything the plugin keeps.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub rows: BTreeMap<u64, EpochRow>,
    /// One pseudo-validator (0), [`WIDTH`] values per epoch.
    pub totals: EpochWindows,
    pub recent_totals: BTreeMap<u64, f64>,
    pub suppress_until: Option<u64>,
    pub reset_seen: bool,
    dirty_rows: Vec<u64>,
    removed_rows: Vec<u64>,
}

/// Per epoch, all watched validators: income, effective balance, 1 (epochs), ideal
/// income (spec base reward, when known), income of the epochs whose ideal is known.
const WIDTH: usize = 5;
/// Days in a year of the spec's timing (82,181.25 mainnet epochs).
const DAYS_PER_YEAR: f64 = 365.25;
const WINDOWS: [(&str, u64); 4] = [("1d", 1), ("7d", 7), ("30d", 30), ("90d", 90)];

fn encode_row(r: &EpochRow) -> Vec<u8> {
    let mut b = Vec::with_capacity(r.ids.len() * 24);
    for ((i, bal), inc) in r.ids.iter().zip(&r.balance).zip(&r.income) {
        b.extend_from_slice(&i.to_le_bytes());
        b.extend_from_slice(&bal.to_le_bytes());
        b.extend_from_slice(&inc.to_le_bytes());
    }
    b
}

fn decode_row(b: &[u8]) -> EpochRow {
    let mut r = EpochRow::default();
    for c in b.chunks_exact(24) {
        let n = |k: usize| <[u8; 8]>::try_from(&c[k..k + 8]).unwrap_or([0; 8]);
        r.ids.push(u64::from_le_bytes(n(0)));
        r.balance.push(i64::from_le_bytes(n(8)));
        r.income.push(i64::from_le_bytes(n(16)));
    }
    r
}

impl Ledger {
    /// Load from host state (a fresh ledger when there is none).
    pub fn load(epochs_per_day: u64) -> Ledger {
        let meta: Meta = host::state::get_json("meta").unwrap_or_default();
        let mut l = Ledger {
            totals: EpochWindows::load("totals", WIDTH, epochs_per_day)
                .unwrap_or_else(|| EpochWindows::new(WIDTH, epochs_per_day))
                .keep_days(91),
            recent_totals: meta.recent_totals,
            suppress_until: meta.suppress_until,
            reset_seen: meta.reset_seen,
            ..Ledger::default()
        };
        for e in meta.rows {
            if let Some(b) = host::state::get(&format!("row:{e}")) {
                l.rows.insert(e, decode_row(&b));
            }
        }
        l
    }

    /// Forget everything (a new chain).
    pub fn clear() {
        let meta: Meta = host::state::get_json("meta").unwrap_or_default();
        for e in meta.rows {
            host::state::delete(&format!("row:{e}"));
        }
        host::state::delete("meta");
        EpochWindows::delete("totals");
    }

    /// Persist what changed.
    pub fn save(&mut self) -> Result<(), String> {
        for e in std::mem::take(&mut self.removed_rows) {
            host::state::delete(&format!("row:{e}"));
        }
        for e in std::mem::take(&mut self.dirty_rows) {
            if let Some(r) = self.rows.get(&e) {
                host::state::set(&format!("row:{e}"), &encode_row(r))?;
            }
        }
        if !self.totals.ids().is_empty() {
            self.totals.save("totals")?;
        }
        host::state::set_json(
            "meta",
            &Meta {
                recent_totals: self.recent_totals.clone(),
                rows: self.rows.keys().copied().collect(),
                suppress_until: self.suppress_until,
                reset_seen: self.reset_seen,
            },
        )
    }

    /// Judge one delivered epoch.
    pub fn observe(&mut self, cfg: &Config, e: &EpochInput, out: &mut Output) {
        let v = &e.validators;
        if self.reset_seen {
            self.suppress_until = Some(e.epoch + cfg.suppress_epochs_after_reset as u64);
            self.reset_seen = false;
        }
        // Income against the previous epoch's balances (as delivered most recently).
        let prev = e.epoch.checked_sub(1).and_then(|p| self.rows.get(&p));
        let mut row = EpochRow {
            ids: v.index.clone(),
            balance: v.balance.clone(),
            income: vec![i64::MIN; v.len()],
        };
        let (mut total_income, mut total_stake, mut complete) = (0i64, 0i64, !v.is_empty());
        let mut income_series = ValidatorSeries::new("income_gwei", v.len());
        for i in 0..v.len() {
            let before = prev.and_then(|p| {
                let k = if p.ids.get(i) == Some(&v.index[i]) {
                    Some(i)
                } else {
                    p.ids.binary_search(&v.index[i]).ok()
                };
                k.and_then(|k| gwei(p.balance[k]))
            });
            let income = match (
                before,
                gwei(v.balance[i]),
                gwei(v.deposits[i]),
                gwei(v.withdrawals[i]),
            ) {
                (Some(b0), Some(b1), Some(d), Some(w)) => Some(b1 - b0 - d + w),
                _ => None,
            };
            match income {
                Some(x) => {
                    row.income[i] = x;
                    total_income += x;
                    total_stake += gwei(v.effective_balance[i]).unwrap_or(0);
                    income_series.push(v.index[i], x as f64);
                }
                None => complete = false,
            }
        }
        out.validator_series(income_series);
        self.rows.insert(e.epoch, row);
        self.dirty_rows.push(e.epoch);
        let keep_from = e.epoch.saturating_sub(cfg.window_epochs.max(4) as u64 + 1);
        let old: Vec<u64> = self.rows.range(..keep_from).map(|(k, _)| *k).collect();
        for k in old {
            self.rows.remove(&k);
            self.removed_rows.push(k);
        }
        // Totals: only epochs whose every income is known count toward earnings.
        if complete {
            self.totals.record(e.epoch, e.finalized, &[0], {
                let ideal = e.network_stats.base_reward_per_increment.map(|b| {
                    (total_stake / vigil_plugin_sdk::duties::EFFECTIVE_BALANCE_INCREMENT * b) as f32
                });
                vec![
                    total_income as f32,
                    total_stake as f32,
                    1.0,
                    ideal.unwrap_or(0.0),
                    ideal.map_or(0.0, |_| total_income as f32),
                ]
            });
            self.recent_totals.insert(e.epoch, total_income as f64);
        }
        let epd = vigil_plugin_sdk::duties::epochs_per_day(&e.network);
        let first = e.epoch.saturating_sub(epd);
        self.recent_totals.retain(|k, _| *k >= first);
        self.report_totals(e, epd, out);
        self.report_decreasing(cfg, e, out);
    }

    fn report_totals(&self, e: &EpochInput, epd: u64, out: &mut Output) {
        if self.totals.ids().is_empty() {
            return;
        }
        for (name, days) in WINDOWS {
            let s = self.totals.sums(days, e.epoch);
            out.series(SeriesPoint::new("earnings_gwei", s[0] as f64).label("window", name));
        }
        let all = self.totals.all_time();
        out.series(SeriesPoint::new("earnings_gwei", all[0]).label("window", "all"));
        let epochs_per_year = epd as f64 * 365.0; // DATA-MODEL: APR × 365 / window days
        for (name, days) in [("7d", 7), ("31d", 31)] {
            let s = self.totals.sums(days, e.epoch);
            let (income, stake) = (s[0] as f64, s[1] as f64);
            if stake > 0.0 {
                // income / mean stake, annualised over the epochs actually covered.
                let apr = income / stake * epochs_per_year * 100.0;
                out.series(SeriesPoint::new("apr_percent", apr).label("window", name));
            }
        }
        let s30 = self.totals.sums(30, e.epoch);
        let stats = &e.network_stats;
        if s30[2] > 0.0 {
            // DATA-MODEL: own effectiveness × the network's ideal, the band from the
            // proposal lottery (expected proposals = slots × own / active validators).
            // Without the spec's inputs: the 30-day mean income ± 1.645 σ per epoch.
            let stake = e
                .validators
                .effective_balance
                .iter()
                .filter_map(|x| gwei(*x))
                .sum::<i64>();
            let ideal_per_epoch = stats.base_reward_per_increment.map(|b| {
                (stake / vigil_plugin_sdk::duties::EFFECTIVE_BALANCE_INCREMENT * b) as f64
            });
            let effectiveness =
                (s30[3] > 0.0).then(|| (s30[4] as f64 / s30[3] as f64).clamp(0.0, 1.2));
            let per_epoch = s30[0] as f64 / s30[2] as f64;
            let w: Window = {
                let mut w = Window::new(self.recent_totals.len().max(1));
                for x in self.recent_totals.values() {
                    w.push(*x);
                }
                w
            };
            let sd = w.stddev().unwrap_or(0.0);
            for (horizon, days) in [("30d", 30.0), ("365d", 365.0)] {
                let epochs = days * epd as f64;
                let (mid, spread) = match (ideal_per_epoch, effectiveness, stats.active_validators)
                {
                    (Some(ideal), Some(eff), Some(active)) if active > 0 => {
                        let mid = eff * ideal * epochs;
                        let slots = epochs * e.network.slots_per_epoch as f64;
                        let lambda = slots * e.validators.len() as f64 / active as f64;
                        // The proposer's share of the reward (8/64), drawn by lottery.
                        let proposals = mid * vigil_plugin_sdk::duties::WEIGHT_PROPOSER
                            / vigil_plugin_sdk::duties::WEIGHT_DENOMINATOR;
                        (
                            mid,
                            if lambda > 0.0 {
                                1.645 * proposals / lambda.sqrt()
                            } else {
                                proposals
                            },
                        )
                    }
                    _ => (per_epoch * epochs, 1.645 * sd * epochs.sqrt()),
                };
                for (band, value) in [("low", mid - spread), ("mid", mid), ("high", mid + spread)] {
                    out.series(
                        SeriesPoint::new("projected_earnings_gwei", value)
                            .label("horizon", horizon)
                            .label("band", band),
                    );
                }
            }
        }
        if let Some(p) = stats.participation_rate {
            out.series(SeriesPoint::new("network_participation_ratio", p));
        }
        if let (Some(brpi), Some(p)) = (stats.base_reward_per_increment, stats.participation_rate) {
            let apr = brpi as f64 * epd as f64 * DAYS_PER_YEAR / 1e9 * p * 100.0;
            out.series(SeriesPoint::new("network_apr_percent", apr));
        }
    }

    fn report_decreasing(&self, cfg: &Config, e: &EpochInput, out: &mut Output) {
        if self.suppress_until.is_some_and(|u| e.epoch < u) {
            return;
        }
        let n = cfg.window_epochs as u64;
        let rows: Vec<&EpochRow> = (e.epoch + 1 - n.min(e.epoch + 1)..=e.epoch)
            .filter_map(|k| self.rows.get(&k))
            .collect();
        if rows.len() as u64 != n {
            return;
        }
        let v = &e.validators;
        let mut falling = Vec::new();
        let mut loss = 0i64;
        for i in 0..v.len() {
            let mut sum = 0i64;
            let mut known = true;
            for r in &rows {
                match r
                    .ids
                    .binary_search(&v.index[i])
                    .ok()
                    .and_then(|k| gwei(r.income[k]))
                {
                    Some(x) => sum += x,
                    None => known = false,
                }
            }
            if known && sum < 0 {
                falling.push(v.index[i]);
                loss += sum;
            }
        }
        for (node, vals) in by_node(v, falling) {
            out.alert(
                duty_alert(
                    "balance_decreasing",
                    Severity::High,
                    node,
                    vals,
                    &format!("lost balance over the last {n} epochs (up to epoch {}; {loss} gwei in all)", e.epoch),
                )
                .value(loss as f64)
                .threshold(0.0),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::testing::{self, Harness};
    use vigil_plugin_sdk::{NetworkInfo, ResetInput};

    const G: i64 = 32_000_000_000;

    /// Epoch `e`: validators 0..4, balance = 32 ETH + e·gain (validator 3 loses instead).
    fn epoch(e: u64) -> Input {
        let mut x = testing::epoch_input(e, 4);
        for i in 0..4 {
            let gain = if i == 3 { -5_000 } else { 10_000 };
            x.validators.balance[i] = G + e as i64 * gain;
        }
        x.network_stats.base_reward_per_increment = Some(126_491);
        x.network_stats.active_validators = Some(1000);
        x.network_stats.participation_rate = Some(0.9);
        Input::Epoch(x)
    }

    fn series(out: &Output, name: &str, label: (&str, &str)) -> Option<f64> {
        if label.0 == "validator" {
            return out.validator_value(name, label.1.parse().unwrap());
        }
        out.series
            .iter()
            .find(|p| p.name == name && p.labels.iter().any(|(k, v)| k == label.0 && v == label.1))
            .map(|p| p.value)
    }

    #[test]
    fn income_excludes_deposits_and_withdrawals() {
        let mut h = Harness::<crate::BalanceEarnings>::with_toml("").unwrap();
        h.evaluate(&epoch(1)).unwrap();
        let Input::Epoch(mut x) = epoch(2) else {
            unreachable!()
        };
        // Validator 0: a 1 ETH deposit arrived (balance +1 ETH more), validator 1 was
        // swept 2 ETH (balance −2 ETH): neither is income.
        x.validators.balance[0] += 1_000_000_000;
        x.validators.deposits[0] = 1_000_000_000;
        x.validators.balance[1] -= 2_000_000_000;
        x.validators.withdrawals[1] = 2_000_000_000;
        x.validators.withdrawals[2] = i64::MIN; // unknown: no income figure
        let out = h.evaluate(&Input::Epoch(x)).unwrap();
        assert_eq!(
            series(&out, "income_gwei", ("validator", "0")),
            Some(10_000.0)
        );
        assert_eq!(
            series(&out, "income_gwei", ("validator", "1")),
            Some(10_000.0)
        );
        assert_eq!(series(&out, "income_gwei", ("validator", "2")), None);
        assert_eq!(
            series(&out, "income_gwei", ("validator", "3")),
            Some(-5_000.0)
        );
    }

    #[test]
    fn earnings_apr_projection_and_network_apr() {
        let mut h = Harness::<crate::BalanceEarnings>::with_toml("").unwrap();
        let mut out = Output::default();
        for e in 1..=10 {
            out = h.evaluate(&epoch(e)).unwrap();
        }
        // 9 epochs of income 3·10_000 − 5_000 = 25_000 gwei.
        assert_eq!(
            series(&out, "earnings_gwei", ("window", "all")),
            Some(225_000.0)
        );
        assert_eq!(
            series(&out, "earnings_gwei", ("window", "1d")),
            Some(225_000.0)
        );
        let apr = series(&out, "apr_percent", ("window", "7d")).unwrap();
        // 25_000 per epoch on 128 ETH, 5400 epochs a day (2 s slots, 8-slot epochs).
        let expect = 25_000.0 / 128e9 * 5400.0 * 365.0 * 100.0;
        assert!((apr - expect).abs() < 1e-6 * expect, "{apr} vs {expect}");
        let high = series(&out, "projected_earnings_gwei", ("band", "high")).unwrap();
        let low = series(&out, "projected_earnings_gwei", ("band", "low")).unwrap();
        assert!(low < high);
        let net = out
            .series
            .iter()
            .find(|p| p.name == "network_apr_percent")
            .unwrap()
            .value;
        assert!((net - 126_491.0 * 5400.0 * 365.25 / 1e9 * 0.9 * 100.0).abs() < 1e-6);
        // Projection from the spec: effectiveness (income / ideal) × ideal × horizon.
        let ideal = 128.0 * 126_491.0;
        let eff = 25_000.0 / ideal;
        let mid = series(&out, "projected_earnings_gwei", ("band", "mid")).unwrap();
        assert!(
            (mid - eff * ideal * 30.0 * 5400.0).abs() < 1e-3 * mid,
            "{mid}"
        );
    }

    #[test]
    fn falling_balance_raises_and_reset_suppresses() {
        let mut h = Harness::<crate::BalanceEarnings>::with_toml("window_epochs = 3").unwrap();
        for e in 1..=3 {
            assert!(
                h.evaluate(&epoch(e)).unwrap().alerts.is_empty(),
                "epoch {e}"
            );
        }
        let out = h.evaluate(&epoch(4)).unwrap();
        assert_eq!(
            out.find_alert("balance_decreasing").unwrap().validators,
            vec![3]
        );
        let net = NetworkInfo {
            iteration: 2,
            ..testing::network()
        };
        h.evaluate(&Input::Reset(ResetInput {
            previous: None,
            current: net,
            detected_at_ms: 1,
        }))
        .unwrap();
        for e in 1..=4 {
            assert!(
                h.evaluate(&epoch(e)).unwrap().alerts.is_empty(),
                "suppressed at {e}"
            );
        }
        assert!(
            h.evaluate(&epoch(5))
                .unwrap()
                .find_alert("balance_decreasing")
                .is_some()
        );
    }

    #[test]
    fn ledger_survives_a_restart() {
        let mut h = Harness::<crate::BalanceEarnings>::with_toml("").unwrap();
        for e in 1..=5 {
            h.evaluate(&epoch(e)).unwrap();
        }
        h.restart("{}").unwrap();
        let out = h.evaluate(&epoch(6)).unwrap();
        assert_eq!(
            series(&out, "income_gwei", ("validator", "0")),
            Some(10_000.0)
        );
        assert_eq!(
            series(&out, "earnings_gwei", ("window", "all")),
            Some(125_000.0)
        );
    }
}
