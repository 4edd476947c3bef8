//! Time series: identities, appends into chunks, and range reads.
//!
//! A series is a name + sorted labels ([`SeriesKey`]), given a [`SeriesId`] once
//! ([`Store::register_series`]). Samples are `(Unix ms, f64)`. A slot-aligned series
//! ([`SeriesKind::Slot`]) has its timestamps snapped down to the start of their slot on
//! the current iteration's grid and stored as slot offsets; a free one keeps the ms.
//!
//! Samples go into the series' open chunk ([`SERIES_OPEN`]); a full chunk (about a
//! page once sealed, [`CHUNK_SEAL_BYTES`]; or [`CHUNK_MAX_SAMPLES`] samples; or
//! [`CHUNK_SPAN_MS`] of time) is sealed into [`SERIES_CHUNKS`] in the same
//! transaction. A sample at or before the open chunk's last timestamp is merged into
//! the chunk covering its time (insert-sorted); two samples with the same (snapped)
//! timestamp: the last written wins.
//!
//! Reads return raw samples where they exist and the hourly rollups' means (stamped at
//! the hour's start) for the time before the oldest raw sample (see `retention.rs`).

use super::codec::{self, OpenChunk, Refused};
use super::iterations::Grid;
use super::tables::{SERIES_CHUNKS, SERIES_INFO, SERIES_KEYS, SERIES_OPEN, legacy};
use super::{Store, StoreError};
use redb::{ReadableTable, Table, WriteTransaction};
use std::collections::HashMap;
use std::ops::Range;

/// Largest sealed chunk: with its 16-byte key and redb's leaf framing it still fits one
/// 4 KiB page; a byte more and the leaf takes an 8 KiB allocation.
pub(crate) const CHUNK_MAX_BYTES: usize = 4_032;
/// Seal a chunk once its sealed form reaches this (over 90 % of a page). Measured with
/// `vigil bench store`: chunks of a fixed 360 samples left 40 % of every page empty for
/// noisy floats (two ~2.5 KB chunks do not share a 4 KiB page), and appends interleaved
/// across series split leaves in half; page-sized chunks sit one to a leaf.
pub(crate) const CHUNK_SEAL_BYTES: usize = 3_840;
/// Most samples in one chunk: bounds what a point read decodes (a constant series
/// codes in ~2 bits a sample, so bytes alone would allow 16k).
pub(crate) const CHUNK_MAX_SAMPLES: usize = 4_096;
/// Longest time one chunk covers: retention drops and rolls up whole chunks, so raw
/// data outlives its retention by at most this much. A week lets an epoch-sampled
/// series (225 samples a day) still fill most of a page.
pub(crate) const CHUNK_SPAN_MS: i64 = 7 * 24 * 3_600_000;
/// Headroom kept when predicting where the sealed form will reach [`CHUNK_SEAL_BYTES`]
/// (percent): the next look comes a little early rather than late.
const CHECK_HEADROOM_PCT: usize = 90;
/// Least growth of the open form between two looks at the sealed size: each look
/// re-codes the chunk (~0.1 ms), and looking at every sample near the end made
/// ingest 4× slower (measured). The sealed form usually grows no faster than the open
/// one, so it overshoots [`CHUNK_SEAL_BYTES`] by about this at most, which
/// [`CHUNK_MAX_BYTES`] leaves room for; a chunk that still comes out larger is split.
const CHECK_MIN_STEP_BYTES: usize = 64;
const _: () = assert!(CHUNK_SEAL_BYTES + CHECK_MIN_STEP_BYTES <= CHUNK_MAX_BYTES);

/// A series identity: name and labels (sorted when canonicalised).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl SeriesKey {
    /// A key with its labels sorted.
    pub fn new(name: &str, labels: &[(String, String)]) -> SeriesKey {
        let mut labels = labels.to_vec();
        labels.sort();
        SeriesKey {
            name: name.to_string(),
            labels,
        }
    }

    /// `name{a="1",b="2"}` with sorted labels: the stored identity.
    pub fn canonical(&self) -> String {
        let mut s = self.name.clone();
        s.push('{');
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(k);
            s.push_str("=\"");
            for c in v.chars() {
                if c == '"' || c == '\\' {
                    s.push('\\');
                }
                s.push(c);
            }
            s.push('"');
        }
        s.push('}');
        s
    }
}

/// A series' stored id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u64);

/// How a series' timestamps are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// Exact ms (node ticks, scraped metrics, plugins' derived series).
    Free,
    /// Belongs to a slot (per-slot and per-epoch data): snapped down to the slot's
    /// start on the current iteration's grid, stored as slot offsets (cheaper by
    /// ≈ 1.3 B/sample). Free until an iteration is recorded.
    Slot,
}

impl SeriesKind {
    fn code(self) -> u8 {
        match self {
            SeriesKind::Free => 0,
            SeriesKind::Slot => 1,
        }
    }

    fn from_code(c: u8) -> SeriesKind {
        if c == 1 {
            SeriesKind::Slot
        } else {
            SeriesKind::Free
        }
    }
}

/// One sample of a registered series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub series: SeriesId,
    pub ts_ms: i64,
    pub value: f64,
}

/// One point of a series named by key (plugins' derived series).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub key: SeriesKey,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// What appends need to know about the network: read once per transaction.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AppendContext {
    pub(crate) iteration: u32,
    pub(crate) grid: Option<Grid>,
}

impl Store {
    pub(crate) fn append_context(&self) -> AppendContext {
        match self.current_iteration() {
            Some(it) => AppendContext {
                iteration: it.number,
                grid: Some(it.grid()),
            },
            None => AppendContext::default(),
        }
    }

    /// The id of a series, if it was ever registered.
    pub fn series_id(&self, key: &SeriesKey) -> Result<Option<SeriesId>, StoreError> {
        let tx = self.read()?;
        let keys = tx
            .open_table(SERIES_KEYS)
            .map_err(self.io("opening table series_keys"))?;
        Ok(keys
            .get(key.canonical().as_str())
            .map_err(self.io("reading series ids"))?
            .map(|v| SeriesId(v.value())))
    }

    /// Ids for these series, registering the new ones in one transaction. A series keeps
    /// the kind it was first registered with.
    pub fn register_series(
        &self,
        keys: &[(SeriesKey, SeriesKind)],
    ) -> Result<Vec<SeriesId>, StoreError> {
        let canon: Vec<(String, SeriesKind)> = keys
            .iter()
            .map(|(k, kind)| (k.canonical(), *kind))
            .collect();
        {
            let tx = self.read()?;
            let table = tx
                .open_table(SERIES_KEYS)
                .map_err(self.io("opening table series_keys"))?;
            let mut ids = Vec::with_capacity(canon.len());
            for (c, _) in &canon {
                match table
                    .get(c.as_str())
                    .map_err(self.io("reading series ids"))?
                {
                    Some(v) => ids.push(SeriesId(v.value())),
                    None => break,
                }
            }
            if ids.len() == canon.len() {
                return Ok(ids);
            }
        }
        self.write("registering series", |tx| ensure_ids(self, tx, &canon))
    }

    /// Append samples in one transaction (outside the writer: tools and tests).
    pub fn append_samples(&self, samples: &[Sample]) -> Result<(), StoreError> {
        let ctx = self.append_context();
        self.write("appending samples", |tx| append(self, tx, samples, &ctx))
    }

    /// Points of one series in `[from_ms, to_ms]`, oldest first, at most `limit` (the
    /// newest are kept). Raw samples where they exist; before the oldest raw sample,
    /// the hourly rollups' means, stamped at the start of their hour.
    pub fn series_range(
        &self,
        key: &SeriesKey,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        if limit == 0 || from_ms > to_ms {
            return Ok(Vec::new());
        }
        let tx = self.read()?;
        let keys = tx
            .open_table(SERIES_KEYS)
            .map_err(self.io("opening table series_keys"))?;
        let Some(id) = keys
            .get(key.canonical().as_str())
            .map_err(self.io("reading series ids"))?
            .map(|v| v.value())
        else {
            return Ok(Vec::new());
        };
        let open = tx
            .open_table(SERIES_OPEN)
            .map_err(self.io("opening table series_open"))?;
        let chunks = tx
            .open_table(SERIES_CHUNKS)
            .map_err(self.io("opening table series_chunks"))?;
        // Chunks newest first, until they hold `limit` points in range.
        let mut parts: Vec<(codec::Decoded, Range<usize>)> = Vec::new();
        let mut raw = 0usize;
        let mut keep = |d: codec::Decoded, raw: &mut usize| {
            let r = in_range(&d.ts, from_ms, to_ms);
            *raw += r.len();
            parts.push((d, r));
        };
        if let Some(b) = open.get(id).map_err(self.io("reading an open chunk"))? {
            let b = b.value();
            let h = codec::chunk_header(b).map_err(self.corrupt("reading an open chunk"))?;
            if h.count > 0 && h.first_ms <= to_ms && h.last_ms >= from_ms {
                keep(
                    codec::decode_chunk(b).map_err(self.corrupt("reading an open chunk"))?,
                    &mut raw,
                );
            }
        }
        for row in chunks
            .range((id, i64::MIN)..=(id, to_ms))
            .map_err(self.io("reading series chunks"))?
            .rev()
        {
            if raw >= limit {
                break;
            }
            let (_, v) = row.map_err(self.io("reading series chunks"))?;
            let b = v.value();
            let h = codec::chunk_header(b).map_err(self.corrupt("reading a series chunk"))?;
            if h.last_ms < from_ms {
                break;
            }
            keep(
                codec::decode_chunk(b).map_err(self.corrupt("reading a series chunk"))?,
                &mut raw,
            );
        }
        let mut rollups = Vec::new();
        if raw < limit {
            let oldest_raw = oldest_raw_ms(self, &open, &chunks, id)?;
            let to = oldest_raw.map_or(to_ms, |o| to_ms.min(o.saturating_sub(1)));
            if from_ms <= to {
                rollups = super::retention::read_rollups(self, &tx, id, from_ms, to)?;
            }
        }
        // Oldest first: the newest rollups that fit, then raw points, skipping the
        // oldest raw ones past the limit.
        let raw_kept = raw.min(limit);
        let rollups_kept = rollups.len().min(limit - raw_kept);
        let mut out = Vec::with_capacity(raw_kept + rollups_kept);
        out.extend(
            rollups[rollups.len() - rollups_kept..]
                .iter()
                .map(|r| (r.hour_ms, r.mean)),
        );
        let mut skip = raw - raw_kept;
        for (d, r) in parts.iter().rev() {
            let dropped = skip.min(r.len());
            skip -= dropped;
            let r = r.start + dropped..r.end;
            out.extend(
                d.ts[r.clone()]
                    .iter()
                    .copied()
                    .zip(d.columns[0][r].iter().copied()),
            );
        }
        Ok(out)
    }
}

/// The indices of sorted timestamps within `[from_ms, to_ms]`.
fn in_range(ts: &[i64], from_ms: i64, to_ms: i64) -> Range<usize> {
    ts.partition_point(|&t| t < from_ms)..ts.partition_point(|&t| t <= to_ms)
}

fn oldest_raw_ms(
    store: &Store,
    open: &impl ReadableTable<u64, &'static [u8]>,
    chunks: &impl ReadableTable<(u64, i64), &'static [u8]>,
    id: u64,
) -> Result<Option<i64>, StoreError> {
    if let Some(row) = chunks
        .range((id, i64::MIN)..=(id, i64::MAX))
        .map_err(store.io("reading series chunks"))?
        .next()
    {
        let (k, _) = row.map_err(store.io("reading series chunks"))?;
        return Ok(Some(k.value().1));
    }
    Ok(
        match open.get(id).map_err(store.io("reading an open chunk"))? {
            Some(b) => {
                let h = codec::chunk_header(b.value())
                    .map_err(store.corrupt("reading an open chunk"))?;
                (h.count > 0).then_some(h.first_ms)
            }
            None => None,
        },
    )
}

/// Ids for canonical keys, allocating the missing ones (next after the highest).
fn ensure_ids(
    store: &Store,
    tx: &WriteTransaction,
    keys: &[(String, SeriesKind)],
) -> Result<Vec<SeriesId>, StoreError> {
    let mut table = tx
        .open_table(SERIES_KEYS)
        .map_err(store.io("opening table series_keys"))?;
    let mut info = tx
        .open_table(SERIES_INFO)
        .map_err(store.io("opening table series_info"))?;
    let mut next = info
        .last()
        .map_err(store.io("reading series ids"))?
        .map_or(1, |(k, _)| k.value() + 1);
    let mut ids = Vec::with_capacity(keys.len());
    for (c, kind) in keys {
        let existing = table
            .get(c.as_str())
            .map_err(store.io("reading series ids"))?
            .map(|v| v.value());
        let id = match existing {
            Some(id) => id,
            None => {
                table
                    .insert(c.as_str(), next)
                    .map_err(store.io("writing a series id"))?;
                info.insert(next, (kind.code(), c.as_str()))
                    .map_err(store.io("writing a series id"))?;
                next += 1;
                next - 1
            }
        };
        ids.push(SeriesId(id));
    }
    Ok(ids)
}

/// Append derived series points (free series), registering their keys.
pub(super) fn append_points(
    store: &Store,
    tx: &WriteTransaction,
    points: &[SeriesPoint],
    ctx: &AppendContext,
) -> Result<(), StoreError> {
    if points.is_empty() {
        return Ok(());
    }
    let mut canon: Vec<(String, SeriesKind)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut which = Vec::with_capacity(points.len());
    for p in points {
        let c = p.key.canonical();
        let i = *index.entry(c.clone()).or_insert_with(|| {
            canon.push((c, SeriesKind::Free));
            canon.len() - 1
        });
        which.push(i);
    }
    let ids = ensure_ids(store, tx, &canon)?;
    let samples: Vec<Sample> = points
        .iter()
        .zip(which)
        .map(|(p, i)| Sample {
            series: ids[i],
            ts_ms: p.timestamp_ms,
            value: p.value,
        })
        .collect();
    append(store, tx, &samples, ctx)
}

struct Tables<'tx> {
    info: Table<'tx, u64, (u8, &'static str)>,
    open: Table<'tx, u64, &'static [u8]>,
    chunks: Table<'tx, (u64, i64), &'static [u8]>,
}

/// Append samples of registered series (any order; see the module doc for late ones
/// and duplicates).
pub(super) fn append(
    store: &Store,
    tx: &WriteTransaction,
    samples: &[Sample],
    ctx: &AppendContext,
) -> Result<(), StoreError> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut t = Tables {
        info: tx
            .open_table(SERIES_INFO)
            .map_err(store.io("opening table series_info"))?,
        open: tx
            .open_table(SERIES_OPEN)
            .map_err(store.io("opening table series_open"))?,
        chunks: tx
            .open_table(SERIES_CHUNKS)
            .map_err(store.io("opening table series_chunks"))?,
    };
    // Group by series, keeping arrival order within one (for last-write-wins).
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|&i| samples[i].series);
    let mut group: Vec<(i64, f64)> = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let id = samples[order[start]].series;
        let mut end = start;
        group.clear();
        while end < order.len() && samples[order[end]].series == id {
            let s = &samples[order[end]];
            group.push((s.ts_ms, s.value));
            end += 1;
        }
        append_one(store, &mut t, id.0, &mut group, ctx)?;
        start = end;
    }
    Ok(())
}

fn append_one(
    store: &Store,
    t: &mut Tables<'_>,
    id: u64,
    group: &mut [(i64, f64)],
    ctx: &AppendContext,
) -> Result<(), StoreError> {
    let kind = match t.info.get(id).map_err(store.io("reading series info"))? {
        Some(v) => SeriesKind::from_code(v.value().0),
        None => {
            tracing::warn!(series = id, "samples for an unregistered series dropped");
            return Ok(());
        }
    };
    let step = match (kind, ctx.grid) {
        (SeriesKind::Slot, Some(g)) => {
            for p in group.iter_mut() {
                p.0 = g.snap(p.0);
            }
            g.slot_ms
        }
        _ => 1,
    };
    // Sorted by time, arrival order kept among equals; then keep the last of each time.
    group.sort_by_key(|p| p.0);
    let mut deduped: Vec<(i64, f64)> = Vec::with_capacity(group.len());
    for &p in group.iter() {
        match deduped.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => deduped.push(p),
        }
    }
    let mut oc = match t.open.get(id).map_err(store.io("reading an open chunk"))? {
        Some(b) => {
            OpenChunk::from_bytes(b.value()).map_err(store.corrupt("reading an open chunk"))?
        }
        None => OpenChunk::new(ctx.iteration, step),
    };
    if oc.len() > 0 && (oc.iteration() != ctx.iteration || oc.step_ms() != step) {
        seal(store, t, id, &oc)?;
        oc = OpenChunk::new(ctx.iteration, step);
    } else if oc.len() == 0 {
        oc = OpenChunk::new(ctx.iteration, step);
    }
    let mut late = Vec::new();
    for &(ts, v) in &deduped {
        if oc.len() > 0 && ts <= oc.last_ms() {
            late.push((ts, v));
            continue;
        }
        if oc.len() >= CHUNK_MAX_SAMPLES
            || (oc.len() > 0 && ts.saturating_sub(oc.first_ms()) >= CHUNK_SPAN_MS)
        {
            seal(store, t, id, &oc)?;
            oc = OpenChunk::new(ctx.iteration, step);
        }
        if oc.push(ts, v) == Err(Refused::OffGrid) {
            seal(store, t, id, &oc)?;
            oc = OpenChunk::new(ctx.iteration, step);
            // An empty chunk takes any first sample.
            let _ = oc.push(ts, v);
        }
        if oc.size_bound() >= oc.check_at().max(CHUNK_SEAL_BYTES) {
            let bound = oc.size_bound();
            let sealed = oc.seal();
            if sealed.len() >= CHUNK_SEAL_BYTES {
                write_sealed_bytes(store, t, id, &oc, sealed)?;
                oc = OpenChunk::new(ctx.iteration, step);
            } else {
                // Look again when the sealed form should be about full: the open form
                // may code several times larger (decimals, integers the open coder
                // takes one by one).
                let missing = (CHUNK_SEAL_BYTES - sealed.len()) * bound / sealed.len().max(1);
                let step = (missing * CHECK_HEADROOM_PCT / 100).max(CHECK_MIN_STEP_BYTES);
                oc.set_check_at(bound + step);
            }
        }
    }
    if !late.is_empty() {
        oc = merge_late(store, t, id, oc, &late)?;
    }
    t.open
        .insert(id, oc.to_bytes().as_slice())
        .map_err(store.io("writing an open chunk"))?;
    Ok(())
}

fn seal(store: &Store, t: &mut Tables<'_>, id: u64, oc: &OpenChunk) -> Result<(), StoreError> {
    write_sealed_bytes(store, t, id, oc, oc.seal())
}

/// Store `oc`'s sealed form, split in halves if it came out larger than a page.
fn write_sealed_bytes(
    store: &Store,
    t: &mut Tables<'_>,
    id: u64,
    oc: &OpenChunk,
    sealed: Vec<u8>,
) -> Result<(), StoreError> {
    if sealed.len() <= CHUNK_MAX_BYTES {
        t.chunks
            .insert((id, oc.first_ms()), sealed.as_slice())
            .map_err(store.io("sealing a chunk"))?;
        return Ok(());
    }
    write_sealed(
        store,
        t,
        id,
        oc.iteration(),
        oc.step_ms(),
        &points_of(&oc.decoded()),
    )
}

/// Merge `(ts, v)` into `into`, sorted by time; on equal times `new` wins.
fn merge_sorted(into: &[(i64, f64)], new: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(into.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < into.len() || j < new.len() {
        match (into.get(i), new.get(j)) {
            (Some(a), Some(b)) if a.0 < b.0 => {
                out.push(*a);
                i += 1;
            }
            (Some(a), Some(b)) if a.0 == b.0 => {
                out.push(*b);
                i += 1;
                j += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                out.push(*b);
                j += 1;
            }
            (Some(a), None) => {
                out.push(*a);
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

fn points_of(d: &codec::Decoded) -> Vec<(i64, f64)> {
    d.ts.iter()
        .copied()
        .zip(d.columns[0].iter().copied())
        .collect()
}

/// Late samples bound for one sealed chunk (keyed by its first ms), or for a new chunk
/// before every other one (`None`).
type LateGroup = (Option<i64>, Vec<(i64, f64)>);

/// The slow path: samples at or before the open chunk's end go into the chunk covering
/// their time; before the first chunk they form a chunk of their own.
fn merge_late(
    store: &Store,
    t: &mut Tables<'_>,
    id: u64,
    oc: OpenChunk,
    late: &[(i64, f64)],
) -> Result<OpenChunk, StoreError> {
    let mut into_open = Vec::new();
    let mut into_sealed: Vec<LateGroup> = Vec::new();
    for &p in late {
        if p.0 >= oc.first_ms() {
            into_open.push(p);
            continue;
        }
        let target = t
            .chunks
            .range((id, i64::MIN)..=(id, p.0))
            .map_err(store.io("reading series chunks"))?
            .next_back()
            .transpose()
            .map_err(store.io("reading series chunks"))?
            .map(|(k, _)| k.value().1);
        match into_sealed.last_mut() {
            Some((k, pts)) if *k == target => pts.push(p),
            _ => into_sealed.push((target, vec![p])),
        }
    }
    for (key, pts) in into_sealed {
        match key {
            Some(first) => {
                let old = t
                    .chunks
                    .get((id, first))
                    .map_err(store.io("reading a series chunk"))?
                    .map(|b| codec::decode_chunk(b.value()))
                    .transpose()
                    .map_err(store.corrupt("reading a series chunk"))?;
                let (iteration, step, merged) = match old {
                    Some(d) => (
                        d.header.iteration,
                        d.header.step_ms,
                        merge_sorted(&points_of(&d), &pts),
                    ),
                    None => (oc.iteration(), oc.step_ms(), pts),
                };
                write_sealed(store, t, id, iteration, step, &merged)?;
            }
            None => write_sealed(store, t, id, oc.iteration(), oc.step_ms(), &pts)?,
        }
    }
    if into_open.is_empty() {
        return Ok(oc);
    }
    let merged = merge_sorted(&points_of(&oc.decoded()), &into_open);
    let mut fresh = OpenChunk::new(
        oc.iteration(),
        codec::grid_step(&ts_of(&merged), oc.step_ms()),
    );
    for (ts, v) in merged {
        // Sorted, unique and on the grid just computed: always taken.
        let _ = fresh.push(ts, v);
    }
    Ok(fresh)
}

fn ts_of(points: &[(i64, f64)]) -> Vec<i64> {
    points.iter().map(|p| p.0).collect()
}

/// Store sorted points as sealed chunks keyed by their first time: one, or halves
/// (recursively) while the coded form exceeds [`CHUNK_MAX_BYTES`].
fn write_sealed(
    store: &Store,
    t: &mut Tables<'_>,
    id: u64,
    iteration: u32,
    step: i64,
    points: &[(i64, f64)],
) -> Result<(), StoreError> {
    let Some(first) = points.first() else {
        return Ok(());
    };
    let ts = ts_of(points);
    let vals: Vec<f64> = points.iter().map(|p| p.1).collect();
    let bytes = codec::encode_chunk(iteration, step, &ts, &[&vals]);
    if bytes.len() > CHUNK_MAX_BYTES && points.len() > 1 {
        let (a, b) = points.split_at(points.len() / 2);
        write_sealed(store, t, id, iteration, step, a)?;
        return write_sealed(store, t, id, iteration, step, b);
    }
    t.chunks
        .insert((id, first.0), bytes.as_slice())
        .map_err(store.io("writing a series chunk"))?;
    Ok(())
}

/// Schema 1 → 2: raw `(id, ms) → f64` rows become free chunked series.
pub(super) fn migrate_v1(store: &Store, tx: &WriteTransaction) -> Result<(), StoreError> {
    let keys: Vec<(String, u64)> = {
        let table = tx
            .open_table(SERIES_KEYS)
            .map_err(store.io("opening table series_keys"))?;
        let mut v = Vec::new();
        for row in table.iter().map_err(store.io("reading series ids"))? {
            let (k, id) = row.map_err(store.io("reading series ids"))?;
            v.push((k.value().to_string(), id.value()));
        }
        v
    };
    {
        let mut info = tx
            .open_table(SERIES_INFO)
            .map_err(store.io("opening table series_info"))?;
        for (c, id) in &keys {
            info.insert(*id, (SeriesKind::Free.code(), c.as_str()))
                .map_err(store.io("migrating series ids"))?;
        }
    }
    let samples: Vec<Sample> = {
        let old = match tx.open_table(legacy::SERIES_POINTS_V1) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(store.io("opening table series_points")(e)),
        };
        let mut v = Vec::new();
        for row in old.iter().map_err(store.io("reading series points"))? {
            let (k, val) = row.map_err(store.io("reading series points"))?;
            let (id, ts) = k.value();
            v.push(Sample {
                series: SeriesId(id),
                ts_ms: ts,
                value: val.value(),
            });
        }
        v
    };
    append(store, tx, &samples, &AppendContext::default())?;
    tx.delete_table(legacy::SERIES_POINTS_V1)
        .map_err(store.io("deleting table series_points"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChainSpec, NetworkIdentity};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.redb")).unwrap();
        (dir, s)
    }

    #[test]
    fn canonical_sorts_and_escapes() {
        let k = SeriesKey::new("x", &[("b".into(), "2".into()), ("a".into(), "q\"".into())]);
        assert_eq!(k.canonical(), "x{a=\"q\\\"\",b=\"2\"}");
    }

    #[test]
    fn range_keeps_newest_within_limit() {
        let (_d, s) = store();
        let key = SeriesKey::new("lag", &[("node".into(), "bn".into())]);
        let other = SeriesKey::new("lag", &[("node".into(), "other".into())]);
        let mut pts: Vec<SeriesPoint> = (0..10)
            .map(|i| SeriesPoint {
                key: key.clone(),
                timestamp_ms: i * 1000,
                value: i as f64,
            })
            .collect();
        pts.push(SeriesPoint {
            key: other,
            timestamp_ms: 5000,
            value: 99.0,
        });
        s.commit_evaluation(&[], &pts).unwrap();
        let r = s.series_range(&key, 2000, 8000, 3).unwrap();
        assert_eq!(r, vec![(6000, 6.0), (7000, 7.0), (8000, 8.0)]);
    }

    #[test]
    fn registration_is_stable_and_keeps_the_first_kind() {
        let (_d, s) = store();
        let a = SeriesKey::new("a", &[]);
        let b = SeriesKey::new("b", &[]);
        let ids = s
            .register_series(&[(a.clone(), SeriesKind::Slot), (b.clone(), SeriesKind::Free)])
            .unwrap();
        assert_eq!(ids, vec![SeriesId(1), SeriesId(2)]);
        let again = s
            .register_series(&[(b.clone(), SeriesKind::Slot), (a.clone(), SeriesKind::Free)])
            .unwrap();
        assert_eq!(again, vec![SeriesId(2), SeriesId(1)]);
        assert_eq!(s.series_id(&a).unwrap(), Some(SeriesId(1)));
        assert_eq!(s.series_id(&SeriesKey::new("c", &[])).unwrap(), None);
    }

    #[test]
    fn many_chunks_read_back_in_order_across_seals() {
        let (_d, s) = store();
        let key = SeriesKey::new("v", &[]);
        let id = s
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        let n = CHUNK_MAX_SAMPLES as i64 * 3 + 17;
        // In several batches, as the writer would.
        for batch in (0..n).collect::<Vec<_>>().chunks(100) {
            let samples: Vec<Sample> = batch
                .iter()
                .map(|&i| Sample {
                    series: id,
                    ts_ms: 1_000 + i * 12_003,
                    value: (i as f64) * 0.5,
                })
                .collect();
            s.append_samples(&samples).unwrap();
        }
        let all = s
            .series_range(&key, i64::MIN, i64::MAX, usize::MAX)
            .unwrap();
        assert_eq!(all.len(), n as usize);
        assert!(
            all.iter()
                .enumerate()
                .all(|(i, p)| p.0 == 1_000 + i as i64 * 12_003 && p.1 == i as f64 * 0.5)
        );
        // A window in the middle, limited.
        let mid = s
            .series_range(&key, 1_000 + 400 * 12_003, 1_000 + 800 * 12_003, 10)
            .unwrap();
        assert_eq!(mid.first().unwrap().0, 1_000 + 791 * 12_003);
        assert_eq!(mid.len(), 10);
    }

    #[test]
    fn chunks_are_sealed_about_a_page_in_size_and_never_larger() {
        let (_d, s) = store();
        let key = SeriesKey::new("noise", &[]);
        let id = s
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        let mut seed = 99u64;
        let mut all = Vec::new();
        for batch in 0..40 {
            let samples: Vec<Sample> = (0..500)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    Sample {
                        series: id,
                        ts_ms: batch * 500 + i,
                        value: f64::from_bits(seed >> 2),
                    }
                })
                .collect();
            all.extend(samples.iter().map(|x| (x.ts_ms, x.value)));
            s.append_samples(&samples).unwrap();
        }
        let tx = s.read().unwrap();
        let chunks = tx.open_table(SERIES_CHUNKS).unwrap();
        let sizes: Vec<usize> = chunks
            .iter()
            .unwrap()
            .map(|r| r.unwrap().1.value().len())
            .collect();
        assert!(sizes.len() > 10);
        assert!(
            sizes
                .iter()
                .all(|&n| (CHUNK_SEAL_BYTES..=CHUNK_MAX_BYTES).contains(&n)),
            "{sizes:?}"
        );
        let got = s
            .series_range(&key, i64::MIN, i64::MAX, usize::MAX)
            .unwrap();
        assert_eq!(got.len(), all.len());
        assert!(
            got.iter()
                .zip(&all)
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
        );
    }

    #[test]
    fn late_samples_are_inserted_sorted_and_duplicates_last_write_wins() {
        let (_d, s) = store();
        let key = SeriesKey::new("v", &[]);
        let id = s
            .register_series(&[(key.clone(), SeriesKind::Free)])
            .unwrap()[0];
        let at = |ts: i64, value: f64| Sample {
            series: id,
            ts_ms: ts,
            value,
        };
        let many: Vec<Sample> = (0..1000).map(|i| at(10_000 + i * 10, 1.0)).collect();
        s.append_samples(&many).unwrap();
        s.append_samples(&[
            at(10_005, 2.0), // inside a sealed chunk
            at(19_985, 3.0), // inside the open chunk
            at(10_000, 4.0), // duplicate of the very first: replaced
            at(5, 5.0),      // before every chunk
            at(19_990, 6.0), // duplicate of the last: replaced
            at(19_990, 7.0), // … twice in one batch: the later wins
            at(20_000, 8.0), // after the end: plain append
        ])
        .unwrap();
        let all = s
            .series_range(&key, i64::MIN, i64::MAX, usize::MAX)
            .unwrap();
        assert_eq!(all.len(), 1000 + 4);
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "sorted, unique");
        let get = |ts| all.iter().find(|p| p.0 == ts).map(|p| p.1);
        assert_eq!(get(5), Some(5.0));
        assert_eq!(get(10_000), Some(4.0));
        assert_eq!(get(10_005), Some(2.0));
        assert_eq!(get(19_985), Some(3.0));
        assert_eq!(get(19_990), Some(7.0));
        assert_eq!(get(20_000), Some(8.0));
        assert_eq!(get(10_010), Some(1.0));
    }

    #[test]
    fn slot_series_snap_to_the_grid_and_free_ones_do_not() {
        let (_d, s) = store();
        let id = NetworkIdentity {
            genesis_time: 1_000,
            genesis_validators_root: "0xab".into(),
            chain_id: None,
        };
        s.record_identity(&id, &ChainSpec::MAINNET, 0).unwrap();
        let slot = SeriesKey::new("seen_delay", &[]);
        let free = SeriesKey::new("peers", &[]);
        let ids = s
            .register_series(&[
                (slot.clone(), SeriesKind::Slot),
                (free.clone(), SeriesKind::Free),
            ])
            .unwrap();
        let genesis = 1_000_000;
        let samples: Vec<Sample> = (0..500)
            .flat_map(|i| {
                let ts = genesis + i * 12_000 + 3_517;
                [
                    Sample {
                        series: ids[0],
                        ts_ms: ts,
                        value: i as f64,
                    },
                    Sample {
                        series: ids[1],
                        ts_ms: ts,
                        value: i as f64,
                    },
                ]
            })
            .collect();
        s.append_samples(&samples).unwrap();
        let snapped = s
            .series_range(&slot, i64::MIN, i64::MAX, usize::MAX)
            .unwrap();
        assert_eq!(snapped.len(), 500);
        assert!(
            snapped
                .iter()
                .enumerate()
                .all(|(i, p)| p.0 == genesis + i as i64 * 12_000)
        );
        let kept = s
            .series_range(&free, i64::MIN, i64::MAX, usize::MAX)
            .unwrap();
        assert!(
            kept.iter()
                .enumerate()
                .all(|(i, p)| p.0 == genesis + i as i64 * 12_000 + 3_517)
        );
        // Two samples in one slot: the later one is the slot's value.
        s.append_samples(&[
            Sample {
                series: ids[0],
                ts_ms: genesis + 600 * 12_000 + 1,
                value: 1.0,
            },
            Sample {
                series: ids[0],
                ts_ms: genesis + 600 * 12_000 + 11_999,
                value: 2.0,
            },
        ])
        .unwrap();
        let last = s.series_range(&slot, i64::MIN, i64::MAX, 1).unwrap();
        assert_eq!(last, vec![(genesis + 600 * 12_000, 2.0)]);
    }

    #[test]
    fn a_new_iteration_starts_a_new_chunk_on_its_own_grid() {
        let (_d, s) = store();
        let key = SeriesKey::new("b", &[]);
        let sid = s
            .register_series(&[(key.clone(), SeriesKind::Slot)])
            .unwrap()[0];
        let net = |g: u64| NetworkIdentity {
            genesis_time: g,
            genesis_validators_root: format!("0x{g}"),
            chain_id: Some(39438000 + g),
        };
        s.record_identity(&net(0), &ChainSpec::MAINNET, 0).unwrap();
        s.append_samples(&[Sample {
            series: sid,
            ts_ms: 24_500,
            value: 1.0,
        }])
        .unwrap();
        // The reset: a new genesis 5 s off the old grid.
        s.record_identity(&net(100), &ChainSpec::MAINNET, 0)
            .unwrap();
        s.append_samples(&[Sample {
            series: sid,
            ts_ms: 100_000 + 12_500,
            value: 2.0,
        }])
        .unwrap();
        let all = s
            .series_range(&key, i64::MIN, i64::MAX, usize::MAX)
            .unwrap();
        assert_eq!(all, vec![(24_000, 1.0), (112_000, 2.0)]);
    }
}
