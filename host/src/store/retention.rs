//! Retention and hourly rollups.
//!
//! Raw samples are kept for [`RetentionPolicy::raw`] (default 30 days). When a sealed or
//! open chunk's last sample is older than that, [`Store::run_retention`] folds it into
//! hourly rollups (min, max, mean, last, count) and deletes it, in the same transaction,
//! so a crash leaves either both or neither and a second run finds nothing to do: it is
//! idempotent. Rollups merge (a late chunk for an hour already rolled up updates it),
//! and are kept for [`RetentionPolicy::rollups`] (default five years), dropped a whole
//! span at a time.
//!
//! NaN samples carry no value: rollups skip them. An hour of only NaN has no rollup.
//!
//! Rollups of one series live in chunks of [`ROLLUP_SPAN_MS`] (30 days of hours), coded
//! like raw chunks with six columns: min, max, mean, last, count, and the offset of the
//! last sample within its hour (so a late chunk cannot overwrite a later `last`).

use super::codec;
use super::tables::{SERIES_CHUNKS, SERIES_INFO, SERIES_OPEN, SERIES_ROLLUPS};
use super::{SeriesKey, Store, StoreError};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::collections::BTreeMap;
use std::time::Duration;

/// One hour, the rollup resolution.
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// Hours per rollup chunk: 30 days, so a year of one series is 13 small values and a
/// late merge re-codes at most 720 rows.
pub(crate) const ROLLUP_SPAN_MS: i64 = 30 * 24 * HOUR_MS;
/// Default raw retention: a month of full-resolution history, enough for the
/// dashboard's windows and the plugins' lookbacks.
pub const DEFAULT_RAW_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Default rollup retention: five years of hourly history (years of trend for tax-year
/// and client-upgrade comparisons at a few bytes per series-hour).
pub const DEFAULT_ROLLUP_RETENTION: Duration = Duration::from_secs(5 * 365 * 86_400);
/// Series handled per retention transaction: bounds one transaction's size on the
/// first run after a long stop.
const SERIES_PER_TX: usize = 1_000;
/// Rollup chunk columns.
const COLUMNS: usize = 6;

/// How long data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Raw samples older than this are rolled up and deleted.
    pub raw: Duration,
    /// Rollups older than this are deleted; `None` keeps them forever.
    pub rollups: Option<Duration>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            raw: DEFAULT_RAW_RETENTION,
            rollups: Some(DEFAULT_ROLLUP_RETENTION),
        }
    }
}

/// What one retention run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub chunks_rolled_up: u64,
    pub samples_rolled_up: u64,
    pub rollup_spans_dropped: u64,
}

/// One hour of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    /// Start of the hour, Unix ms.
    pub hour_ms: i64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// The hour's last sample.
    pub last: f64,
    /// Samples (NaN excluded).
    pub count: u64,
    /// When in the hour the last sample was taken, ms from the hour's start.
    last_offset_ms: i64,
}

impl Rollup {
    fn of(ts: i64, v: f64) -> Rollup {
        let hour_ms = ts.div_euclid(HOUR_MS) * HOUR_MS;
        Rollup {
            hour_ms,
            min: v,
            max: v,
            mean: v,
            last: v,
            count: 1,
            last_offset_ms: ts - hour_ms,
        }
    }

    fn merge(&mut self, o: &Rollup) {
        let n = (self.count + o.count) as f64;
        self.mean = (self.mean * self.count as f64 + o.mean * o.count as f64) / n;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.count += o.count;
        if o.last_offset_ms >= self.last_offset_ms {
            self.last = o.last;
            self.last_offset_ms = o.last_offset_ms;
        }
    }
}

fn span_of(ts: i64) -> i64 {
    ts.div_euclid(ROLLUP_SPAN_MS).saturating_mul(ROLLUP_SPAN_MS)
}

fn decode_rollups(bytes: &[u8]) -> Result<Vec<Rollup>, codec::CodecError> {
    let d = codec::decode_chunk(bytes)?;
    if d.columns.len() != COLUMNS {
        return Err(codec::CodecError("rollup chunk without its six columns"));
    }
    let c = &d.columns;
    Ok((0..d.ts.len())
        .map(|i| Rollup {
            hour_ms: d.ts[i],
            min: c[0][i],
            max: c[1][i],
            mean: c[2][i],
            last: c[3][i],
            count: c[4][i] as u64,
            last_offset_ms: c[5][i] as i64,
        })
        .collect())
}

fn encode_rollups(iteration: u32, rows: &[Rollup]) -> Vec<u8> {
    let ts: Vec<i64> = rows.iter().map(|r| r.hour_ms).collect();
    let col = |f: fn(&Rollup) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let cols = [
        col(|r| r.min),
        col(|r| r.max),
        col(|r| r.mean),
        col(|r| r.last),
        col(|r| r.count as f64),
        col(|r| r.last_offset_ms as f64),
    ];
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    codec::encode_chunk(iteration, HOUR_MS, &ts, &refs)
}

/// Hourly rollups of samples (sorted by time). The mean is the hour's sum over its
/// count, so a plain hour's mean is exact where running means would drift.
fn roll_up(ts: &[i64], vals: &[f64]) -> BTreeMap<i64, Rollup> {
    let mut out: BTreeMap<i64, (Rollup, f64)> = BTreeMap::new();
    for (&t, &v) in ts.iter().zip(vals) {
        if v.is_nan() {
            continue;
        }
        let r = Rollup::of(t, v);
        out.entry(r.hour_ms)
            .and_modify(|(e, sum)| {
                *sum += v;
                e.min = e.min.min(v);
                e.max = e.max.max(v);
                e.count += 1;
                e.last = v;
                e.last_offset_ms = r.last_offset_ms;
            })
            .or_insert((r, v));
    }
    out.into_iter()
        .map(|(h, (mut r, sum))| {
            r.mean = sum / r.count as f64;
            (h, r)
        })
        .collect()
}

pub(super) fn read_rollups(
    store: &Store,
    tx: &ReadTransaction,
    id: u64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Rollup>, StoreError> {
    let table = tx
        .open_table(SERIES_ROLLUPS)
        .map_err(store.io("opening table series_rollups"))?;
    let mut out = Vec::new();
    for row in table
        .range((id, span_of(from_ms))..=(id, to_ms))
        .map_err(store.io("reading rollups"))?
    {
        let (_, v) = row.map_err(store.io("reading rollups"))?;
        let rows = decode_rollups(v.value()).map_err(store.corrupt("reading rollups"))?;
        out.extend(
            rows.into_iter()
                .filter(|r| (from_ms..=to_ms).contains(&r.hour_ms)),
        );
    }
    Ok(out)
}

impl Store {
    /// The hourly rollups of a series whose hour starts in `[from_ms, to_ms]`, oldest
    /// first (only hours whose raw samples have aged out).
    pub fn series_rollups(
        &self,
        key: &SeriesKey,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Rollup>, StoreError> {
        let Some(id) = self.series_id(key)? else {
            return Ok(Vec::new());
        };
        let tx = self.read()?;
        read_rollups(self, &tx, id.0, from_ms, to_ms)
    }

    /// Roll up and delete raw chunks older than `policy.raw`, and drop rollups older
    /// than `policy.rollups`, as of `now_ms`. Idempotent; safe to interrupt.
    pub fn run_retention(
        &self,
        now_ms: i64,
        policy: &RetentionPolicy,
    ) -> Result<RetentionReport, StoreError> {
        let raw_horizon = now_ms.saturating_sub(policy.raw.as_millis() as i64);
        let rollup_horizon = policy
            .rollups
            .map(|d| now_ms.saturating_sub(d.as_millis() as i64));
        let ids: Vec<u64> = {
            let tx = self.read()?;
            let info = tx
                .open_table(SERIES_INFO)
                .map_err(self.io("opening table series_info"))?;
            let mut ids = Vec::with_capacity(info.len().unwrap_or(0) as usize);
            for row in info.iter().map_err(self.io("reading series info"))? {
                ids.push(row.map_err(self.io("reading series info"))?.0.value());
            }
            ids
        };
        let mut report = RetentionReport::default();
        for part in ids.chunks(SERIES_PER_TX) {
            let r = self.write("running retention", |tx| {
                let mut r = RetentionReport::default();
                for &id in part {
                    age_out(self, tx, id, raw_horizon, &mut r)?;
                    if let Some(h) = rollup_horizon {
                        drop_rollups(self, tx, id, h, &mut r)?;
                    }
                }
                Ok(r)
            })?;
            report.chunks_rolled_up += r.chunks_rolled_up;
            report.samples_rolled_up += r.samples_rolled_up;
            report.rollup_spans_dropped += r.rollup_spans_dropped;
        }
        Ok(report)
    }
}

/// Fold one series' chunks that ended before `horizon` into its rollups.
fn age_out(
    store: &Store,
    tx: &WriteTransaction,
    id: u64,
    horizon: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    let mut chunks = tx
        .open_table(SERIES_CHUNKS)
        .map_err(store.io("opening table series_chunks"))?;
    let mut open = tx
        .open_table(SERIES_OPEN)
        .map_err(store.io("opening table series_open"))?;
    let mut aged: Vec<(Option<i64>, codec::Decoded)> = Vec::new();
    for row in chunks
        .range((id, i64::MIN)..=(id, horizon))
        .map_err(store.io("reading series chunks"))?
    {
        let (k, v) = row.map_err(store.io("reading series chunks"))?;
        let h = codec::chunk_header(v.value()).map_err(store.corrupt("reading a series chunk"))?;
        if h.last_ms >= horizon {
            // Chunks do not overlap: every later one ends later still.
            break;
        }
        let d = codec::decode_chunk(v.value()).map_err(store.corrupt("reading a series chunk"))?;
        aged.push((Some(k.value().1), d));
    }
    if let Some(v) = open.get(id).map_err(store.io("reading an open chunk"))? {
        let d = codec::decode_chunk(v.value()).map_err(store.corrupt("reading an open chunk"))?;
        if d.header.count > 0 && d.header.last_ms < horizon {
            aged.push((None, d));
        }
    }
    if aged.is_empty() {
        return Ok(());
    }
    let mut hours: BTreeMap<i64, Rollup> = BTreeMap::new();
    let mut iteration = 0;
    for (key, d) in &aged {
        for (h, r) in roll_up(&d.ts, &d.columns[0]) {
            hours.entry(h).and_modify(|e| e.merge(&r)).or_insert(r);
        }
        iteration = iteration.max(d.header.iteration);
        report.chunks_rolled_up += 1;
        report.samples_rolled_up += d.header.count as u64;
        match key {
            Some(first) => {
                chunks
                    .remove((id, *first))
                    .map_err(store.io("deleting an aged chunk"))?;
            }
            None => {
                open.remove(id)
                    .map_err(store.io("deleting an aged open chunk"))?;
            }
        }
    }
    let mut rollups = tx
        .open_table(SERIES_ROLLUPS)
        .map_err(store.io("opening table series_rollups"))?;
    let mut by_span: BTreeMap<i64, Vec<Rollup>> = BTreeMap::new();
    for r in hours.into_values() {
        by_span.entry(span_of(r.hour_ms)).or_default().push(r);
    }
    for (span, new) in by_span {
        let mut merged: BTreeMap<i64, Rollup> = match rollups
            .get((id, span))
            .map_err(store.io("reading rollups"))?
        {
            Some(v) => decode_rollups(v.value())
                .map_err(store.corrupt("reading rollups"))?
                .into_iter()
                .map(|r| (r.hour_ms, r))
                .collect(),
            None => BTreeMap::new(),
        };
        for r in new {
            merged
                .entry(r.hour_ms)
                .and_modify(|e| e.merge(&r))
                .or_insert(r);
        }
        let rows: Vec<Rollup> = merged.into_values().collect();
        rollups
            .insert((id, span), encode_rollups(iteration, &rows).as_slice())
            .map_err(store.io("writing rollups"))?;
    }
    Ok(())
}

/// Drop whole rollup spans that ended before `horizon`.
fn drop_rollups(
    store: &Store,
    tx: &WriteTransaction,
    id: u64,
    horizon: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    let mut rollups = tx
        .open_table(SERIES_ROLLUPS)
        .map_err(store.io("opening table series_rollups"))?;
    let cutoff = horizon.saturating_sub(ROLLUP_SPAN_MS);
    let mut old = Vec::new();
    for row in rollups
        .range((id, i64::MIN)..(id, cutoff))
        .map_err(store.io("reading rollups"))?
    {
        old.push(row.map_err(store.io("reading rollups"))?.0.value().1);
    }
    for span in old {
        rollups
            .remove((id, span))
            .map_err(store.io("dropping old rollups"))?;
        report.rollup_spans_dropped += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Sample, SeriesKind};

    const DAY: i64 = 86_400_000;

    fn policy(raw_days: u64, rollup_days: Option<u64>) -> RetentionPolicy {
        RetentionPolicy {
            raw: Duration::from_secs(raw_days * 86_400),
            rollups: rollup_days.map(|d| Duration::from_secs(d * 86_400)),
        }
    }

    #[test]
    fn aged_chunks_become_hourly_rollups_and_reads_stitch_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("r.redb")).unwrap();
        let key = SeriesKey::new("temp", &[]);
        let id = s
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        // Ten days, one sample a minute: value = minute of the hour.
        let samples: Vec<Sample> = (0..10 * 24 * 60)
            .map(|m| Sample {
                series: id,
                ts_ms: m * 60_000,
                value: (m % 60) as f64,
            })
            .collect();
        s.append_samples(&samples).unwrap();
        let now = 10 * DAY;
        let p = policy(3, None);
        let r1 = s.run_retention(now, &p).unwrap();
        assert!(r1.chunks_rolled_up > 0);
        // Idempotent.
        assert_eq!(
            s.run_retention(now, &p).unwrap(),
            RetentionReport::default()
        );
        let hours = s.series_rollups(&key, 0, now).unwrap();
        // Everything up to the chunk straddling the horizon (7 days ago) is rolled up;
        // that chunk holds at most CHUNK_MAX_SAMPLES minutes.
        let straddle_hours = (crate::store::series::CHUNK_MAX_SAMPLES / 60 + 1) as i64;
        let n = hours.len() as i64;
        assert!(n >= 7 * 24 - straddle_hours && n <= 7 * 24, "{n}");
        let h = hours[5];
        assert_eq!(h.hour_ms, 5 * HOUR_MS);
        assert_eq!((h.min, h.max, h.last, h.count), (0.0, 59.0, 59.0, 60));
        assert!((h.mean - 29.5).abs() < 1e-9);
        // A range read over all ten days: hourly means first, then raw minutes; rolled
        // up + raw = every sample exactly once.
        let all = s.series_range(&key, 0, now, usize::MAX).unwrap();
        assert_eq!(all[0], (0, 29.5));
        assert_eq!(all[1], (HOUR_MS, 29.5));
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        let raw = &all[hours.len()..];
        let rolled = r1.samples_rolled_up as usize;
        assert_eq!(raw.len() + rolled, samples.len());
        assert!(
            raw.iter()
                .zip(&samples[rolled..])
                .all(|(p, x)| *p == (x.ts_ms, x.value))
        );
        // The newest `limit` are raw.
        let newest = s.series_range(&key, 0, now, 5).unwrap();
        assert_eq!(newest.last().unwrap().0, (10 * 24 * 60 - 1) * 60_000);
    }

    #[test]
    fn late_data_merges_into_existing_rollups_and_old_rollups_drop() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("r.redb")).unwrap();
        let key = SeriesKey::new("x", &[]);
        let id = s
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        let at = |ts: i64, value: f64| Sample {
            series: id,
            ts_ms: ts,
            value,
        };
        s.append_samples(&[at(1_000, 1.0), at(2_000, f64::NAN), at(3_000, 3.0)])
            .unwrap();
        s.append_samples(&[at(100 * DAY, 0.0)]).unwrap();
        s.run_retention(50 * DAY, &policy(30, None)).unwrap();
        // A late sample in the same hour, rolled up later: merged, and `last` stays
        // the sample latest in the hour.
        s.append_samples(&[at(500, 10.0)]).unwrap();
        s.run_retention(50 * DAY, &policy(30, None)).unwrap();
        let h = s.series_rollups(&key, 0, DAY).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].min, h[0].max, h[0].last, h[0].count),
            (1.0, 10.0, 3.0, 3)
        );
        assert!((h[0].mean - 14.0 / 3.0).abs() < 1e-9);
        // Five years on, the rollups go; the raw sample of day 100 is rolled up too.
        let r = s
            .run_retention(100 * DAY + 5 * 365 * DAY, &RetentionPolicy::default())
            .unwrap();
        assert_eq!(r.rollup_spans_dropped, 1);
        assert!(s.series_rollups(&key, 0, DAY).unwrap().is_empty());
        assert_eq!(s.series_rollups(&key, 0, i64::MAX).unwrap().len(), 1);
    }
}
