//! Chunk coding for series: Gorilla-style, column by column.
//!
//! A chunk holds one timestamp column and one or more value columns (one for a raw
//! series, six for an hourly rollup). Timestamps are stored in *grid steps* from the
//! chunk's base: for a slot-aligned series the step is the slot length and the numbers
//! are slot offsets, for a free series the step is 1 ms. They are coded as
//! delta-of-delta in variable-width buckets, so a regular cadence costs one bit.
//!
//! Each value column picks, when the chunk is sealed, the smallest of its codings:
//! - [`ValueMode::Xor`]: Gorilla's XOR of successive IEEE-754 bit patterns. Exact for
//!   every bit pattern: NaN payloads, ±inf and −0.0 round-trip.
//! - When every value is an integer an f64 holds exactly (balances in gwei, counters,
//!   peer counts) — or becomes one when scaled by 10^k, k ≤ 6, and divides back bit
//!   for bit (load averages, percentages) — the integers as
//!   [`ValueMode::IntDelta`] / [`ValueMode::IntDod`] (deltas or deltas-of-deltas in
//!   variable-width buckets: a gauge that rarely moves costs a bit, a balance rising
//!   ~13k gwei an epoch ~2 bytes where XOR spends ~4) or [`ValueMode::IntPacked`]
//!   (deltas in a fixed width above a base, for evenly spread increments).
//!
//! An [`OpenChunk`] is the appendable form: the coder's state is kept beside the bits so
//! a sample is appended without decoding the chunk; it uses `IntDelta` while the values
//! are integers and switches to `Xor` (re-coding what it holds) at the first fraction.
//!
//! ## Invariants
//! - Timestamps within a chunk strictly increase; [`OpenChunk::push`] refuses anything
//!   else ([`Refused::NotAfterLast`]) and the series layer merges late samples.
//! - Decoding never panics on bad bytes: it returns [`CodecError`].

use super::bits::{
    BitReader, BitWriter, ByteReader, fits, mask, put_ivarint, put_uvarint, sign_extend,
};

/// Format tag of a sealed chunk; a new layout takes a new tag.
const TAG_SEALED: u8 = 1;
/// Format tag of an open chunk (coder state + bits).
const TAG_OPEN: u8 = 2;
/// Values an f64 holds exactly as integers: ±2^53.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;
/// Refuse to decode a chunk claiming more samples than this: a corrupted count must
/// not allocate gigabytes. Far above any chunk the store writes.
const MAX_DECODE_SAMPLES: usize = 1 << 22;
/// Refuse to decode more columns than this (a rollup has five).
const MAX_COLUMNS: usize = 16;

/// How a value column is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueMode {
    Xor = 0,
    IntDelta = 1,
    IntDod = 2,
    IntPacked = 3,
}

impl ValueMode {
    fn from_u8(b: u8) -> Result<ValueMode, CodecError> {
        match b {
            0 => Ok(ValueMode::Xor),
            1 => Ok(ValueMode::IntDelta),
            2 => Ok(ValueMode::IntDod),
            3 => Ok(ValueMode::IntPacked),
            _ => Err(CodecError("unknown value coding")),
        }
    }
}

pub use super::bits::CodecError;

/// Why [`OpenChunk::push`] did not take a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not after the chunk's last timestamp: merge it instead.
    NotAfterLast,
    /// Not on the chunk's grid: seal and start a new chunk.
    OffGrid,
}

/// Variable-width buckets for a signed number: prefix `0` means zero, then one more
/// `1` per wider bucket. The widths are chosen per column kind (below).
struct Buckets(&'static [u32]);

/// Timestamp deltas-of-deltas in grid steps: jitter of a few ms on a free series fits
/// the small buckets; the 64-bit bucket takes any gap (years of silence, a clock jump).
const TS_BUCKETS: Buckets = Buckets(&[7, 9, 12, 32, 64]);
/// Integer value deltas: 6 bits for a gauge's ±1s, 13 and 20 bits for rewards and
/// per-epoch balance steps (~13k gwei), 32 and 64 for the rest.
const INT_BUCKETS: Buckets = Buckets(&[6, 13, 20, 32, 64]);

impl Buckets {
    fn write(&self, w: &mut BitWriter, v: i64) {
        if v == 0 {
            w.bit(false);
            return;
        }
        let last = self.0.len() - 1;
        for (i, &bits) in self.0.iter().enumerate() {
            if i == last || fits(v, bits) {
                // i+1 ones, then a zero unless this is the widest bucket.
                let ones = i as u32 + 1;
                w.write((1u64 << ones) - 1, ones);
                if i != last {
                    w.bit(false);
                }
                w.write(v as u64 & mask(bits), bits);
                return;
            }
        }
    }

    fn read(&self, r: &mut BitReader<'_>) -> Result<i64, CodecError> {
        let n = r.ones(self.0.len() as u32)?;
        if n == 0 {
            return Ok(0);
        }
        let bits = self.0[n as usize - 1];
        Ok(sign_extend(r.read(bits)?, bits))
    }
}

// ---------------------------------------------------------------------------------------
// Timestamp column.

/// The coder state of a timestamp column (in grid steps; the first is 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct TsState {
    last: i64,
    delta: i64,
}

impl TsState {
    fn push(&mut self, w: &mut BitWriter, t: i64) {
        let delta = t.wrapping_sub(self.last);
        TS_BUCKETS.write(w, delta.wrapping_sub(self.delta));
        self.delta = delta;
        self.last = t;
    }
}

fn read_ts(r: &mut BitReader<'_>, count: usize) -> Result<Vec<i64>, CodecError> {
    let mut out = Vec::with_capacity(count);
    if count == 0 {
        return Ok(out);
    }
    out.push(0);
    let (mut last, mut delta) = (0i64, 0i64);
    for _ in 1..count {
        delta = delta.wrapping_add(TS_BUCKETS.read(r)?);
        last = last.wrapping_add(delta);
        out.push(last);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Value columns.

/// The value as an exact integer, when it is one.
pub(crate) fn as_exact_int(v: f64) -> Option<i64> {
    let is_int = v.is_finite()
        && v.fract() == 0.0
        && v.abs() <= MAX_EXACT_INT
        && !(v == 0.0 && v.is_sign_negative());
    is_int.then_some(v as i64)
}

/// The coder state of a value column.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ValState {
    mode: ValueMode,
    /// Last value's bits (Xor) or last integer as i64 bits (Int*).
    last: u64,
    /// Last integer delta (IntDod).
    delta: i64,
    /// Xor window of the last non-zero XOR: leading and trailing zero counts.
    lead: u8,
    trail: u8,
}

impl ValState {
    fn new(mode: ValueMode) -> ValState {
        ValState {
            mode,
            last: 0,
            delta: 0,
            // An impossible window: the first non-zero XOR writes a new one.
            lead: u8::MAX,
            trail: 0,
        }
    }

    /// Append `v`; the caller guarantees `v` is an exact integer in the Int modes.
    fn push(&mut self, w: &mut BitWriter, v: f64, first: bool) {
        match self.mode {
            ValueMode::Xor => {
                let bits = v.to_bits();
                if first {
                    w.write(bits, 64);
                } else {
                    self.xor(w, bits ^ self.last);
                }
                self.last = bits;
            }
            ValueMode::IntDelta | ValueMode::IntDod | ValueMode::IntPacked => {
                let i = v as i64;
                if first {
                    w.write(i as u64, 64);
                } else {
                    let delta = i.wrapping_sub(self.last as i64);
                    let coded = if self.mode == ValueMode::IntDod {
                        delta.wrapping_sub(self.delta)
                    } else {
                        delta
                    };
                    INT_BUCKETS.write(w, coded);
                    self.delta = delta;
                }
                self.last = i as u64;
            }
        }
    }

    fn xor(&mut self, w: &mut BitWriter, x: u64) {
        if x == 0 {
            w.bit(false);
            return;
        }
        let lead = x.leading_zeros().min(63) as u8;
        let trail = x.trailing_zeros() as u8;
        if self.lead != u8::MAX && lead >= self.lead && trail >= self.trail {
            let len = 64 - u32::from(self.lead) - u32::from(self.trail);
            w.write(0b10, 2);
            w.write(x >> self.trail, len);
        } else {
            let len = 64 - u32::from(lead) - u32::from(trail);
            w.write(0b11, 2);
            w.write(u64::from(lead), 6);
            w.write(u64::from(len - 1), 6);
            w.write(x >> trail, len);
            self.lead = lead;
            self.trail = trail;
        }
    }
}

fn read_values(
    r: &mut BitReader<'_>,
    mode: ValueMode,
    count: usize,
) -> Result<Vec<f64>, CodecError> {
    if mode != ValueMode::Xor {
        return Ok(read_ints(r, mode, count)?
            .into_iter()
            .map(|i| i as f64)
            .collect());
    }
    let mut out = Vec::with_capacity(count);
    if count == 0 {
        return Ok(out);
    }
    let mut last = r.read(64)?;
    out.push(f64::from_bits(last));
    let (mut lead, mut trail) = (0u32, 0u32);
    for _ in 1..count {
        if r.bit()? {
            if r.bit()? {
                lead = r.read(6)? as u32;
                let len = r.read(6)? as u32 + 1;
                if lead + len > 64 {
                    return Err(CodecError("xor window exceeds 64 bits"));
                }
                trail = 64 - lead - len;
            }
            let len = 64 - lead - trail;
            last ^= r.read(len)? << trail;
        }
        out.push(f64::from_bits(last));
    }
    Ok(out)
}

/// Read `count` integers coded by [`encode_ints`].
fn read_ints(r: &mut BitReader<'_>, mode: ValueMode, count: usize) -> Result<Vec<i64>, CodecError> {
    let mut out = Vec::with_capacity(count);
    if count == 0 {
        return Ok(out);
    }
    let mut last = r.read(64)? as i64;
    out.push(last);
    match mode {
        ValueMode::Xor => return Err(CodecError("not an integer coding")),
        ValueMode::IntDelta | ValueMode::IntDod => {
            let mut delta = 0i64;
            for _ in 1..count {
                let coded = INT_BUCKETS.read(r)?;
                delta = if mode == ValueMode::IntDod {
                    delta.wrapping_add(coded)
                } else {
                    coded
                };
                last = last.wrapping_add(delta);
                out.push(last);
            }
        }
        ValueMode::IntPacked => {
            if count > 1 {
                let base = r.read(64)? as i64;
                let width = r.read(PACKED_WIDTH_BITS)? as u32;
                if width > 64 {
                    return Err(CodecError("packed width exceeds 64 bits"));
                }
                for _ in 1..count {
                    let delta = if width < PACKED_ONE_READ_WIDTH {
                        // Flag and offset in one read; an escape's first `width` bits
                        // are the top of its raw delta.
                        let v = r.read(width + 1)?;
                        if v >> width == 0 {
                            base.wrapping_add(v as i64)
                        } else if width == 0 {
                            r.read(64)? as i64
                        } else {
                            (((v & mask(width)) << (64 - width)) | r.read(64 - width)?) as i64
                        }
                    } else if r.bit()? {
                        r.read(64)? as i64
                    } else {
                        base.wrapping_add(r.read(width)? as i64)
                    };
                    last = last.wrapping_add(delta);
                    out.push(last);
                }
            }
        }
    }
    Ok(out)
}

/// Packed widths below this are read with their flag in one go.
const PACKED_ONE_READ_WIDTH: u32 = 48;

/// Bits that hold a packed width (0–64).
const PACKED_WIDTH_BITS: u32 = 7;

/// Code integers: the first as 64 bits, then per mode:
/// - `IntDelta` / `IntDod`: deltas or deltas-of-deltas in [`INT_BUCKETS`];
/// - `IntPacked` (frame of reference): the smallest delta as 64 bits and a width W,
///   then each delta minus that base as `0` + W bits, or `1` + the raw 64-bit delta for
///   the few that do not fit. W is the one that makes the column smallest. Noisy
///   counters and readings whose deltas spread evenly over a range land here.
fn encode_ints(ints: &[i64], mode: ValueMode) -> BitWriter {
    let mut w = BitWriter::default();
    let Some(&first) = ints.first() else {
        return w;
    };
    w.write(first as u64, 64);
    match mode {
        ValueMode::Xor => {}
        ValueMode::IntDelta | ValueMode::IntDod => {
            let mut delta = 0i64;
            for pair in ints.windows(2) {
                let d = pair[1].wrapping_sub(pair[0]);
                let coded = if mode == ValueMode::IntDod {
                    d.wrapping_sub(delta)
                } else {
                    d
                };
                INT_BUCKETS.write(&mut w, coded);
                delta = d;
            }
        }
        ValueMode::IntPacked => {
            if ints.len() < 2 {
                return w;
            }
            let deltas: Vec<i64> = ints.windows(2).map(|p| p[1].wrapping_sub(p[0])).collect();
            let (base, width) = packed_frame(&deltas);
            w.write(base as u64, 64);
            w.write(u64::from(width), PACKED_WIDTH_BITS);
            for &d in &deltas {
                let off = d.wrapping_sub(base) as u64;
                if width == 64 || off >> width == 0 {
                    w.bit(false);
                    w.write(off, width);
                } else {
                    w.bit(true);
                    w.write(d as u64, 64);
                }
            }
        }
    }
    w
}

/// Low percentiles tried as the packed base: the minimum, or just above a few outliers
/// (a counter reset) that would otherwise widen every other delta.
const PACKED_BASE_PERMILLE: [usize; 3] = [0, 10, 50];

/// The base and width that code `deltas` smallest (see [`encode_ints`]).
fn packed_frame(deltas: &[i64]) -> (i64, u32) {
    let mut sorted = deltas.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let mut best = (0i64, 64u32, usize::MAX);
    for permille in PACKED_BASE_PERMILLE {
        let base = sorted[(n - 1) * permille / 1000];
        // How many offsets need each bit length (below the base: wraps, so 64).
        let mut by_len = [0usize; 65];
        for &d in deltas {
            by_len[(64 - (d.wrapping_sub(base) as u64).leading_zeros()) as usize] += 1;
        }
        let mut fit = 0;
        for (width, count) in by_len.iter().enumerate() {
            fit += count;
            let cost = fit * (1 + width) + (n - fit) * 65;
            if cost < best.2 {
                best = (base, width as u32, cost);
            }
        }
    }
    (best.0, best.1)
}

/// Decimal places tried for values that are not integers: load averages, percentages
/// and prices often carry two or three.
const MAX_DECIMALS: usize = 6;
/// 10^k for k in 0..=MAX_DECIMALS.
const POW10: [f64; MAX_DECIMALS + 1] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

/// The values as integers scaled by 10^k, when dividing them back gives every value
/// bit for bit (so −0.0, NaN and values with more decimals refuse).
fn scaled_ints(values: &[f64], k: usize) -> Option<Vec<i64>> {
    let p = POW10[k];
    values
        .iter()
        .map(|&v| {
            let n = (v * p).round();
            // NaN fails this too.
            if n.is_nan() || n.abs() > MAX_EXACT_INT {
                return None;
            }
            let i = n as i64;
            let back = if k == 0 { i as f64 } else { i as f64 / p };
            (back.to_bits() == v.to_bits()).then_some(i)
        })
        .collect()
}

/// A column's tag: the coding in the low nibble, the decimal scale in the high one.
fn column_tag(mode: ValueMode, scale: usize) -> u8 {
    mode as u8 | (scale as u8) << 4
}

/// The smallest coding of a column: its tag and bits.
fn best_column(values: &[f64]) -> (u8, BitWriter) {
    let mut best = (
        column_tag(ValueMode::Xor, 0),
        encode_values(values, ValueMode::Xor),
    );
    let Some((scale, ints)) =
        (0..=MAX_DECIMALS).find_map(|k| scaled_ints(values, k).map(|i| (k, i)))
    else {
        return best;
    };
    for mode in [ValueMode::IntDelta, ValueMode::IntDod, ValueMode::IntPacked] {
        let bits = encode_ints(&ints, mode);
        if bits.len < best.1.len {
            best = (column_tag(mode, scale), bits);
        }
    }
    best
}

fn decode_column(tag: u8, bits: &[u8], count: usize) -> Result<Vec<f64>, CodecError> {
    let mode = ValueMode::from_u8(tag & 0x0f)?;
    let scale = usize::from(tag >> 4);
    let mut r = BitReader::new(bits);
    if scale == 0 {
        return read_values(&mut r, mode, count);
    }
    let p = *POW10
        .get(scale)
        .ok_or(CodecError("decimal scale out of range"))?;
    if mode == ValueMode::Xor {
        return Err(CodecError("a scaled column must be integer-coded"));
    }
    Ok(read_ints(&mut r, mode, count)?
        .into_iter()
        .map(|i| i as f64 / p)
        .collect())
}

fn encode_values(values: &[f64], mode: ValueMode) -> BitWriter {
    let mut w = BitWriter::default();
    let mut st = ValState::new(mode);
    for (i, &v) in values.iter().enumerate() {
        st.push(&mut w, v, i == 0);
    }
    w
}

// ---------------------------------------------------------------------------------------
// Sealed chunks.

/// What a chunk says about itself without decoding its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkHeader {
    /// Network iteration the samples were taken in (0: before any was known).
    pub(crate) iteration: u32,
    /// First timestamp, Unix ms.
    pub(crate) first_ms: i64,
    /// Last timestamp, Unix ms.
    pub(crate) last_ms: i64,
    /// Grid step in ms (1: a free series).
    pub(crate) step_ms: i64,
    pub(crate) count: usize,
}

/// A decoded chunk: timestamps (Unix ms) and its value columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded {
    pub(crate) header: ChunkHeader,
    pub(crate) ts: Vec<i64>,
    pub(crate) columns: Vec<Vec<f64>>,
}

/// The largest step that puts every timestamp on a grid through the first one: the
/// given step when they all sit on it, else 1 ms.
pub(crate) fn grid_step(ts: &[i64], step_ms: i64) -> i64 {
    let Some(&base) = ts.first() else {
        return 1;
    };
    if step_ms > 1 && ts.iter().all(|t| t.wrapping_sub(base) % step_ms == 0) {
        step_ms
    } else {
        1
    }
}

/// Code strictly increasing timestamps (on the `step_ms` grid through the first, see
/// [`grid_step`]) and value columns of the same length as a sealed chunk.
pub(crate) fn encode_chunk(
    iteration: u32,
    step_ms: i64,
    ts: &[i64],
    columns: &[&[f64]],
) -> Vec<u8> {
    debug_assert!(columns.iter().all(|c| c.len() == ts.len()));
    debug_assert!(ts.windows(2).all(|w| w[0] < w[1]));
    let step = grid_step(ts, step_ms);
    let base = ts.first().copied().unwrap_or(0);
    let mut tw = BitWriter::default();
    let mut st = TsState::default();
    for &t in ts.iter().skip(1) {
        st.push(&mut tw, t.wrapping_sub(base) / step);
    }
    let mut out = Vec::with_capacity(16 + tw.buf.len() + ts.len() * 2 * columns.len());
    out.push(TAG_SEALED);
    put_uvarint(&mut out, u64::from(iteration));
    put_ivarint(&mut out, base);
    put_uvarint(&mut out, step as u64);
    put_uvarint(&mut out, ts.len() as u64);
    put_uvarint(&mut out, st.last as u64);
    put_uvarint(&mut out, tw.buf.len() as u64);
    out.extend_from_slice(&tw.buf);
    put_uvarint(&mut out, columns.len() as u64);
    for (i, col) in columns.iter().enumerate() {
        let (tag, bits) = best_column(col);
        out.push(tag);
        // The last column runs to the end: no length needed.
        if i + 1 < columns.len() {
            put_uvarint(&mut out, bits.buf.len() as u64);
        }
        out.extend_from_slice(&bits.buf);
    }
    out
}

struct RawHeader {
    tag: u8,
    header: ChunkHeader,
    /// Last timestamp in grid steps from the first.
    span: i64,
}

fn read_header(r: &mut ByteReader<'_>) -> Result<RawHeader, CodecError> {
    let tag = r.u8()?;
    if tag != TAG_SEALED && tag != TAG_OPEN {
        return Err(CodecError("unknown chunk format"));
    }
    let iteration =
        u32::try_from(r.uvarint()?).map_err(|_| CodecError("iteration out of range"))?;
    let first_ms = r.ivarint()?;
    let step_ms = i64::try_from(r.uvarint()?)
        .ok()
        .filter(|&s| s >= 1)
        .ok_or(CodecError("grid step out of range"))?;
    let count = r.len_usize(MAX_DECODE_SAMPLES)?;
    let span = r.uvarint()? as i64;
    let last_ms = first_ms.wrapping_add(span.wrapping_mul(step_ms));
    Ok(RawHeader {
        tag,
        span,
        header: ChunkHeader {
            iteration,
            first_ms,
            last_ms,
            step_ms,
            count,
        },
    })
}

/// The header of a sealed or open chunk.
pub(crate) fn chunk_header(bytes: &[u8]) -> Result<ChunkHeader, CodecError> {
    read_header(&mut ByteReader::new(bytes)).map(|h| h.header)
}

/// Decode a sealed or an open chunk.
pub(crate) fn decode_chunk(bytes: &[u8]) -> Result<Decoded, CodecError> {
    let mut r = ByteReader::new(bytes);
    let RawHeader { tag, header, span } = read_header(&mut r)?;
    if tag == TAG_OPEN {
        return OpenChunk::from_parts(header, span, &mut r).map(|o| o.decoded());
    }
    let ts_len = r.len_usize(bytes.len())?;
    let mut ts = read_ts(&mut BitReader::new(r.take(ts_len)?), header.count)?;
    to_ms(&header, &mut ts);
    let ncols = r.len_usize(MAX_COLUMNS)?;
    let mut columns = Vec::with_capacity(ncols);
    for i in 0..ncols {
        let tag = r.u8()?;
        let bits = if i + 1 < ncols {
            let n = r.len_usize(bytes.len())?;
            r.take(n)?
        } else {
            r.rest()
        };
        columns.push(decode_column(tag, bits, header.count)?);
    }
    Ok(Decoded {
        ts,
        header,
        columns,
    })
}

/// Grid steps to Unix ms, in place.
fn to_ms(h: &ChunkHeader, steps: &mut [i64]) {
    for s in steps {
        *s = h.first_ms.wrapping_add(s.wrapping_mul(h.step_ms));
    }
}

// ---------------------------------------------------------------------------------------
// The open chunk.

/// An appendable single-column chunk: the bits plus the coder state, so a push costs
/// a few bit writes and no decoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenChunk {
    iteration: u32,
    base_ms: i64,
    step_ms: i64,
    count: usize,
    ts_state: TsState,
    ts_bits: BitWriter,
    val_state: ValState,
    val_bits: BitWriter,
    /// Size of the bits at which to next check how big the sealed form would be (the
    /// sealed form may code much smaller than the open one; see `series.rs`).
    check_at: usize,
}

/// Bytes a sealed chunk's header and column framing take at most.
const SEALED_OVERHEAD_BYTES: usize = 64;

impl OpenChunk {
    /// An empty chunk whose samples will sit on the `step_ms` grid (1: any ms).
    pub(crate) fn new(iteration: u32, step_ms: i64) -> OpenChunk {
        OpenChunk {
            iteration,
            base_ms: 0,
            step_ms: step_ms.max(1),
            count: 0,
            ts_state: TsState::default(),
            ts_bits: BitWriter::default(),
            val_state: ValState::new(ValueMode::IntDelta),
            val_bits: BitWriter::default(),
            check_at: 0,
        }
    }

    /// An upper bound of the sealed size, cheap: the open bits plus framing (sealing
    /// only picks a smaller coding).
    pub(crate) fn size_bound(&self) -> usize {
        self.ts_bits.buf.len() + self.val_bits.buf.len() + SEALED_OVERHEAD_BYTES
    }

    /// When [`OpenChunk::size_bound`] reaches this, look at the sealed size again.
    pub(crate) fn check_at(&self) -> usize {
        self.check_at
    }

    pub(crate) fn set_check_at(&mut self, bytes: usize) {
        self.check_at = bytes;
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn iteration(&self) -> u32 {
        self.iteration
    }

    pub(crate) fn step_ms(&self) -> i64 {
        self.step_ms
    }

    /// First timestamp, Unix ms (meaningless while empty).
    pub(crate) fn first_ms(&self) -> i64 {
        self.base_ms
    }

    /// Last timestamp, Unix ms (meaningless while empty).
    pub(crate) fn last_ms(&self) -> i64 {
        self.base_ms
            .wrapping_add(self.ts_state.last.wrapping_mul(self.step_ms))
    }

    /// Append one sample after the last one.
    pub(crate) fn push(&mut self, ts_ms: i64, v: f64) -> Result<(), Refused> {
        if self.count == 0 {
            self.base_ms = ts_ms;
            if as_exact_int(v).is_none() {
                self.val_state = ValState::new(ValueMode::Xor);
            }
            self.val_state.push(&mut self.val_bits, v, true);
            self.count = 1;
            return Ok(());
        }
        if ts_ms <= self.last_ms() {
            return Err(Refused::NotAfterLast);
        }
        let off = ts_ms.wrapping_sub(self.base_ms);
        if off % self.step_ms != 0 {
            return Err(Refused::OffGrid);
        }
        if self.val_state.mode != ValueMode::Xor && as_exact_int(v).is_none() {
            self.recode_as_xor();
        }
        self.ts_state.push(&mut self.ts_bits, off / self.step_ms);
        self.val_state.push(&mut self.val_bits, v, false);
        self.count += 1;
        Ok(())
    }

    fn recode_as_xor(&mut self) {
        let values = self.values();
        let mut st = ValState::new(ValueMode::Xor);
        let mut w = BitWriter::default();
        for (i, &v) in values.iter().enumerate() {
            st.push(&mut w, v, i == 0);
        }
        self.val_state = st;
        self.val_bits = w;
    }

    fn values(&self) -> Vec<f64> {
        // The bits were written by this coder: they decode.
        read_values(
            &mut BitReader::new(&self.val_bits.buf),
            self.val_state.mode,
            self.count,
        )
        .unwrap_or_default()
    }

    fn header(&self) -> ChunkHeader {
        ChunkHeader {
            iteration: self.iteration,
            first_ms: self.base_ms,
            last_ms: self.last_ms(),
            step_ms: self.step_ms,
            count: self.count,
        }
    }

    /// Every sample, oldest first.
    pub(crate) fn decoded(&self) -> Decoded {
        let mut ts =
            read_ts(&mut BitReader::new(&self.ts_bits.buf), self.count).unwrap_or_default();
        to_ms(&self.header(), &mut ts);
        Decoded {
            header: self.header(),
            ts,
            columns: vec![self.values()],
        }
    }

    /// The sealed form: re-coded with the smallest value coding.
    pub(crate) fn seal(&self) -> Vec<u8> {
        let d = self.decoded();
        encode_chunk(self.iteration, self.step_ms, &d.ts, &[&d.columns[0]])
    }

    /// The stored form: header, coder state, bits.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.ts_bits.buf.len() + self.val_bits.buf.len());
        out.push(TAG_OPEN);
        put_uvarint(&mut out, u64::from(self.iteration));
        put_ivarint(&mut out, self.base_ms);
        put_uvarint(&mut out, self.step_ms as u64);
        put_uvarint(&mut out, self.count as u64);
        put_uvarint(&mut out, self.ts_state.last as u64);
        put_ivarint(&mut out, self.ts_state.delta);
        out.push(self.val_state.mode as u8);
        out.extend_from_slice(&self.val_state.last.to_le_bytes());
        put_ivarint(&mut out, self.val_state.delta);
        out.push(self.val_state.lead);
        out.push(self.val_state.trail);
        put_uvarint(&mut out, self.check_at as u64);
        put_uvarint(&mut out, self.ts_bits.len);
        out.extend_from_slice(&self.ts_bits.buf);
        put_uvarint(&mut out, self.val_bits.len);
        out.extend_from_slice(&self.val_bits.buf);
        out
    }

    /// Read the stored form back.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<OpenChunk, CodecError> {
        let mut r = ByteReader::new(bytes);
        let RawHeader { tag, header, span } = read_header(&mut r)?;
        if tag != TAG_OPEN {
            return Err(CodecError("not an open chunk"));
        }
        OpenChunk::from_parts(header, span, &mut r)
    }

    fn from_parts(
        h: ChunkHeader,
        span: i64,
        r: &mut ByteReader<'_>,
    ) -> Result<OpenChunk, CodecError> {
        let ts_delta = r.ivarint()?;
        let mode = ValueMode::from_u8(r.u8()?)?;
        let last = r.u64_le()?;
        let delta = r.ivarint()?;
        let lead = r.u8()?;
        let trail = r.u8()?;
        let check_at =
            usize::try_from(r.uvarint()?).map_err(|_| CodecError("check size out of range"))?;
        if !matches!(mode, ValueMode::Xor | ValueMode::IntDelta) {
            return Err(CodecError("an open chunk in a sealed-only coding"));
        }
        let mut bits = || -> Result<BitWriter, CodecError> {
            let len = r.uvarint()?;
            let bytes = r.take(len.div_ceil(8) as usize)?;
            Ok(BitWriter {
                buf: bytes.to_vec(),
                len,
            })
        };
        let ts_bits = bits()?;
        let val_bits = bits()?;
        let open = OpenChunk {
            iteration: h.iteration,
            base_ms: h.first_ms,
            step_ms: h.step_ms,
            count: h.count,
            ts_state: TsState {
                last: span,
                delta: ts_delta,
            },
            ts_bits,
            val_state: ValState {
                mode,
                last,
                delta,
                lead,
                trail,
            },
            val_bits,
            check_at,
        };
        // Check the bits decode, so later reads can trust them.
        read_ts(&mut BitReader::new(&open.ts_bits.buf), open.count)?;
        read_values(&mut BitReader::new(&open.val_bits.buf), mode, open.count)?;
        Ok(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(ts: &[i64], vals: &[f64], step: i64) -> Decoded {
        let bytes = encode_chunk(3, step, ts, &[vals]);
        let d = decode_chunk(&bytes).unwrap();
        assert_eq!(d.ts, ts);
        assert_eq!(d.columns.len(), 1);
        for (a, b) in d.columns[0].iter().zip(vals) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        }
        assert_eq!(chunk_header(&bytes).unwrap(), d.header);
        assert_eq!(d.header.count, ts.len());
        assert_eq!(d.header.iteration, 3);
        // The open form agrees with the sealed one.
        let mut open = OpenChunk::new(3, grid_step(ts, step));
        for (&t, &v) in ts.iter().zip(vals) {
            open.push(t, v).unwrap();
        }
        let back = OpenChunk::from_bytes(&open.to_bytes()).unwrap();
        assert_eq!(back, open);
        let od = decode_chunk(&open.to_bytes()).unwrap();
        assert_eq!(od.ts, ts);
        for (a, b) in od.columns[0].iter().zip(vals) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        let sealed = decode_chunk(&open.seal()).unwrap();
        assert_eq!(sealed.ts, ts);
        d
    }

    #[test]
    fn special_floats_round_trip_bit_exact() {
        let nan_payload = f64::from_bits(0x7ff8_0000_dead_beef);
        let vals = [
            1.5,
            f64::NAN,
            nan_payload,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            5e-324,
            -1.0,
        ];
        let ts: Vec<i64> = (0..vals.len() as i64).map(|i| 1_000 + i * 12_000).collect();
        round_trip(&ts, &vals, 1);
    }

    #[test]
    fn negative_zero_is_not_taken_for_an_integer() {
        assert_eq!(as_exact_int(-0.0), None);
        assert_eq!(as_exact_int(0.0), Some(0));
        assert_eq!(as_exact_int(2f64.powi(53)), Some(1 << 53));
        assert_eq!(as_exact_int(2f64.powi(53) * 2.0), None);
        let d = round_trip(&[0, 1, 2], &[1.0, -0.0, 2.0], 1);
        assert!(d.columns[0][1].is_sign_negative());
    }

    #[test]
    fn huge_gaps_and_extreme_timestamps_round_trip() {
        let ts = [
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            1,
            12_000,
            1_700_000_000_000,
            i64::MAX - 1,
            i64::MAX,
        ];
        round_trip(&ts, &[1.0; 9], 1);
        // Years between samples, then one ms.
        round_trip(
            &[0, 100 * 365 * 86_400_000, 100 * 365 * 86_400_000 + 1],
            &[1.0, 2.0, 3.0],
            1,
        );
    }

    #[test]
    fn integers_take_the_integer_codings_and_extremes_survive() {
        let balances: Vec<f64> = (0..360)
            .map(|i| 32e9 + (i * 13_000 + i % 7) as f64)
            .collect();
        let ts: Vec<i64> = (0..360).map(|i| 1_606_824_023_000 + i * 384_000).collect();
        let bytes = encode_chunk(1, 12_000, &ts, &[&balances]);
        // A balance rising by ~13k gwei an epoch: about two bytes a sample at most.
        assert!(bytes.len() < 360 * 2, "{} bytes", bytes.len());
        round_trip(&ts, &balances, 12_000);
        let extremes = [MAX_EXACT_INT, -MAX_EXACT_INT, 0.0, MAX_EXACT_INT, 1.0];
        round_trip(&[1, 2, 3, 4, 5], &extremes, 1);
    }

    #[test]
    fn decimals_are_scaled_to_integers_and_back_bit_exact() {
        let loads: Vec<f64> = (0..360)
            .map(|i| ((i % 97) as f64 * 0.37).round() / 100.0)
            .collect();
        let ts: Vec<i64> = (0..360).collect();
        let bytes = encode_chunk(0, 1, &ts, &[&loads]);
        let xor_only = encode_values(&loads, ValueMode::Xor).buf.len();
        assert!(bytes.len() * 3 < xor_only, "{} vs {xor_only}", bytes.len());
        round_trip(&ts, &loads, 1);
        // A value with more decimals than the scale allows keeps the whole column XOR.
        let mut mixed = loads.clone();
        mixed[100] = 0.123_456_789_1;
        round_trip(&ts, &mixed, 1);
        // −0.0 among decimals: refused by the scaled coding, kept by XOR.
        let mut negz = loads;
        negz[5] = -0.0;
        let d = round_trip(&ts, &negz, 1);
        assert!(d.columns[0][5].is_sign_negative());
        assert_eq!(scaled_ints(&[0.1, 0.25], 2), Some(vec![10, 25]));
        assert_eq!(scaled_ints(&[0.1, 0.25], 1), None);
        assert_eq!(scaled_ints(&[f64::NAN], 3), None);
    }

    #[test]
    fn packed_integers_beat_buckets_on_spread_deltas_and_keep_outliers() {
        let mut seed = 12345u64;
        let mut v = 1_000_000i64;
        let counter: Vec<f64> = (0..1_000)
            .map(|i| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v += 2_500 + (seed >> 33) as i64 % 5_000;
                // A counter reset and a huge jump: escapes, not a wider width.
                if i == 500 {
                    v = 0;
                }
                if i == 700 {
                    v += 1 << 50;
                }
                v as f64
            })
            .collect();
        let ints: Vec<i64> = counter.iter().map(|&x| x as i64).collect();
        let packed = encode_ints(&ints, ValueMode::IntPacked);
        let buckets = encode_ints(&ints, ValueMode::IntDelta);
        assert!(
            packed.len * 10 < buckets.len * 8,
            "{} vs {}",
            packed.len,
            buckets.len
        );
        let back = read_ints(
            &mut BitReader::new(&packed.buf),
            ValueMode::IntPacked,
            ints.len(),
        )
        .unwrap();
        assert_eq!(back, ints);
        let ts: Vec<i64> = (0..1_000).collect();
        round_trip(&ts, &counter, 1);
        // Degenerate widths: all deltas equal (width 0), and extremes (width 64).
        let mut flat_then_jumps = vec![7i64; 200];
        flat_then_jumps[50] = 1 << 40;
        flat_then_jumps[120] = -(1 << 45);
        for ints in [
            vec![5i64; 10],
            vec![i64::MIN, i64::MAX, i64::MIN, 0],
            flat_then_jumps,
        ] {
            let b = encode_ints(&ints, ValueMode::IntPacked);
            let back = read_ints(
                &mut BitReader::new(&b.buf),
                ValueMode::IntPacked,
                ints.len(),
            )
            .unwrap();
            assert_eq!(back, ints);
        }
    }

    #[test]
    fn regular_cadence_costs_about_a_bit_per_timestamp() {
        let ts: Vec<i64> = (0..360).map(|i| 5_000 + i * 12_000).collect();
        let bytes = encode_chunk(1, 12_000, &ts, &[&vec![7.0; 360]]);
        // Header + 2 bits a sample (one for the time, one for the value) + slack.
        assert!(bytes.len() < 40 + 360 / 4, "{} bytes", bytes.len());
    }

    #[test]
    fn open_chunk_switches_to_xor_at_the_first_fraction() {
        let mut o = OpenChunk::new(0, 1);
        for i in 0..10 {
            o.push(i, i as f64).unwrap();
        }
        o.push(10, 0.5).unwrap();
        o.push(11, 12.0).unwrap();
        let o = OpenChunk::from_bytes(&o.to_bytes()).unwrap();
        let d = o.decoded();
        assert_eq!(d.columns[0][9..], [9.0, 0.5, 12.0]);
        assert_eq!(d.ts, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn open_chunk_refuses_out_of_order_duplicates_and_off_grid() {
        let mut o = OpenChunk::new(0, 12_000);
        o.push(24_000, 1.0).unwrap();
        assert_eq!(o.push(24_000, 2.0), Err(Refused::NotAfterLast));
        assert_eq!(o.push(12_000, 2.0), Err(Refused::NotAfterLast));
        assert_eq!(o.push(30_000, 2.0), Err(Refused::OffGrid));
        o.push(36_000, 2.0).unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!((o.first_ms(), o.last_ms()), (24_000, 36_000));
    }

    #[test]
    fn multi_column_chunks_round_trip() {
        let ts: Vec<i64> = (0..24).map(|h| h * 3_600_000).collect();
        let a: Vec<f64> = (0..24).map(|i| i as f64 * 0.25).collect();
        let b: Vec<f64> = (0..24).map(|i| (i * 300) as f64).collect();
        let c = vec![f64::NAN; 24];
        let bytes = encode_chunk(2, 3_600_000, &ts, &[&a, &b, &c]);
        let d = decode_chunk(&bytes).unwrap();
        assert_eq!(d.ts, ts);
        assert_eq!(d.columns[0], a);
        assert_eq!(d.columns[1], b);
        assert!(d.columns[2].iter().all(|v| v.is_nan()));
        assert_eq!(d.header.step_ms, 3_600_000);
    }

    #[test]
    fn off_grid_timestamps_fall_back_to_milliseconds() {
        assert_eq!(grid_step(&[0, 12_000, 24_001], 12_000), 1);
        assert_eq!(grid_step(&[5, 12_005], 12_000), 12_000);
        round_trip(&[0, 12_000, 24_001], &[1.0, 2.0, 3.0], 12_000);
    }

    #[test]
    fn empty_and_single_sample_chunks() {
        let d = decode_chunk(&encode_chunk(0, 1, &[], &[&[]])).unwrap();
        assert!(d.ts.is_empty());
        round_trip(&[42], &[f64::NAN], 1);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = encode_chunk(1, 1, &[1, 2, 3], &[&[1.0, 2.5, 3.0]]);
        for cut in 0..good.len() {
            let _ = decode_chunk(&good[..cut]);
            let _ = OpenChunk::from_bytes(&good[..cut]);
        }
        // Flipped bytes: any outcome but a panic.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = decode_chunk(&bad);
        }
        assert!(decode_chunk(&[9, 0, 0]).is_err());
        // A count far beyond the bytes: refused, no huge allocation.
        let mut huge = vec![TAG_SEALED, 0, 0, 1];
        put_uvarint(&mut huge, u64::MAX);
        assert!(decode_chunk(&huge).is_err());
    }

    #[test]
    fn random_walks_round_trip() {
        // A small deterministic generator: no dependency for tests.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..50 {
            let n = (next() % 500) as usize + 1;
            let mut t = (next() % 1_000_000) as i64;
            let mut ts = Vec::new();
            let mut vals = Vec::new();
            for _ in 0..n {
                t += 1 + (next() % if round % 3 == 0 { 5 } else { 100_000 }) as i64;
                ts.push(t);
                vals.push(match round % 4 {
                    0 => (next() % 1000) as f64,
                    1 => f64::from_bits(next()),
                    2 => (next() % 100) as f64 / 7.0,
                    _ => 32e9 + (next() % 20_000) as f64,
                });
            }
            round_trip(&ts, &vals, 1);
        }
    }
}
