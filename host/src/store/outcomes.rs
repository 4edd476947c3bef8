//! Per-validator epoch outcomes: the `(validator, epoch)` rows.
//!
//! Rows live in blocks of up to [`BLOCK_ROWS`] consecutive monitored validators of one
//! epoch, keyed `(iteration, epoch, first validator)`: one epoch of a 10k-validator farm
//! is one contiguous range scan, and a validator's history is one short seek per epoch.
//!
//! ## Row coding
//! A row is a validator-index delta (from the previous row; the first row is the key's
//! validator), then a header varint `changed_mask << 1 | has_nulls`, then (if
//! `has_nulls`) a varint mask of the changed fields that became unknown, then a zig-zag
//! varint per changed, known field. "Changed" is against the previous row of the block
//! (the first row against an all-unknown row), so the fields that validators of one
//! epoch share — effective balance, ideal rewards, status, most flags — cost nothing
//! after the first row. Unknown stays unknown: `None` round-trips as `None`, never 0.
//! Fields are ordered so the ones that differ between neighbours most (balance, node,
//! rewards) sit in the first header byte.
//!
//! A second table keyed `(validator, epoch)` would make one validator's history a single
//! range scan, but a row on its own would cost ~50 B (a 20 B key, the full ~25 B row
//! with nothing shared, redb's framing; estimated) against ~11 B in a block (measured:
//! `bytes_per_outcome_row`). The seek per epoch reads a month (6,750 epochs) of one
//! validator among 1,000 in ≈ 22 ms (`query_validator_30d_outcomes_ms`), a day in
//! under 1 ms: fast enough for a validator's page, so there is no second table.

use super::bits::{ByteReader, put_ivarint, put_uvarint};
use super::codec::CodecError;
use super::tables::OUTCOMES;
use super::{Store, StoreError};
use crate::model::ValidatorEpoch;
use redb::{ReadableTable, WriteTransaction};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// Rows per block: small enough that finding one validator decodes ~30 rows on
/// average, large enough that the block's key and its full first row (~40 B) cost under
/// a byte per row.
const BLOCK_ROWS: usize = 64;
/// Format tag of a block; a new layout takes a new tag.
const BLOCK_FORMAT: u8 = 1;
/// Number of coded fields (every field of [`ValidatorEpoch`] but validator and epoch).
const FIELDS: usize = 29;

type Fields = [Option<i64>; FIELDS];

fn b(v: bool) -> i64 {
    i64::from(v)
}

/// The row as fields, in coding order (see the module doc).
fn to_fields(r: &ValidatorEpoch) -> Fields {
    [
        r.balance,
        Some(i64::from(r.node)),
        r.reward_head,
        r.reward_target,
        r.reward_source,
        r.inclusion_delay.map(i64::from),
        r.attested.map(b),
        r.head_ok.map(b),
        r.target_ok.map(b),
        r.source_ok.map(b),
        r.reward_inactivity,
        r.earliest_inclusion_delay.map(i64::from),
        r.effective_balance,
        r.ideal_head,
        r.ideal_target,
        r.ideal_source,
        r.sync_member.map(b),
        Some(i64::from(r.sync_signed)),
        Some(i64::from(r.sync_expected)),
        r.sync_reward,
        Some(i64::from(r.proposals_assigned)),
        Some(i64::from(r.proposals_made)),
        Some(i64::from(r.proposals_orphaned)),
        r.proposal_reward,
        Some(i64::from(r.status)),
        r.slashed.map(b),
        Some(r.deposits),
        Some(r.withdrawals),
        Some(b(r.finalized)),
    ]
}

fn from_fields(validator: u64, epoch: u64, f: &Fields) -> Result<ValidatorEpoch, CodecError> {
    const BAD: CodecError = CodecError("outcome field out of range");
    let req = |v: Option<i64>| v.ok_or(CodecError("required outcome field unknown"));
    let flag = |v: Option<i64>| -> Result<Option<bool>, CodecError> {
        v.map(|x| match x {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(BAD),
        })
        .transpose()
    };
    let small =
        |v: Option<i64>| -> Result<u8, CodecError> { u8::try_from(req(v)?).map_err(|_| BAD) };
    let delay = |v: Option<i64>| -> Result<Option<u32>, CodecError> {
        v.map(|x| u32::try_from(x).map_err(|_| BAD)).transpose()
    };
    Ok(ValidatorEpoch {
        validator,
        epoch,
        balance: f[0],
        node: u16::try_from(req(f[1])?).map_err(|_| BAD)?,
        reward_head: f[2],
        reward_target: f[3],
        reward_source: f[4],
        inclusion_delay: delay(f[5])?,
        attested: flag(f[6])?,
        head_ok: flag(f[7])?,
        target_ok: flag(f[8])?,
        source_ok: flag(f[9])?,
        reward_inactivity: f[10],
        earliest_inclusion_delay: delay(f[11])?,
        effective_balance: f[12],
        ideal_head: f[13],
        ideal_target: f[14],
        ideal_source: f[15],
        sync_member: flag(f[16])?,
        sync_signed: small(f[17])?,
        sync_expected: small(f[18])?,
        sync_reward: f[19],
        proposals_assigned: small(f[20])?,
        proposals_made: small(f[21])?,
        proposals_orphaned: small(f[22])?,
        proposal_reward: f[23],
        status: small(f[24])?,
        slashed: flag(f[25])?,
        deposits: req(f[26])?,
        withdrawals: req(f[27])?,
        finalized: flag(f[28])?.ok_or(BAD)?,
    })
}

/// Code rows (sorted by validator, unique) as one block.
fn encode_block(rows: &[&ValidatorEpoch]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + rows.len() * 12);
    out.push(BLOCK_FORMAT);
    put_uvarint(&mut out, rows.len() as u64);
    let mut prev: Fields = [None; FIELDS];
    let mut prev_v = rows.first().map_or(0, |r| r.validator);
    for r in rows {
        put_uvarint(&mut out, r.validator - prev_v);
        prev_v = r.validator;
        let f = to_fields(r);
        let (mut changed, mut nulls) = (0u64, 0u64);
        for i in 0..FIELDS {
            if f[i] != prev[i] {
                changed |= 1 << i;
                if f[i].is_none() {
                    nulls |= 1 << i;
                }
            }
        }
        put_uvarint(&mut out, changed << 1 | u64::from(nulls != 0));
        if nulls != 0 {
            put_uvarint(&mut out, nulls);
        }
        for (i, v) in f.iter().enumerate() {
            if changed & (1 << i) != 0
                && let Some(v) = v
            {
                put_ivarint(&mut out, *v);
            }
        }
        prev = f;
    }
    out
}

/// Walks a block's rows without building them.
struct BlockRows<'a> {
    r: ByteReader<'a>,
    left: usize,
    validator: u64,
    fields: Fields,
}

impl<'a> BlockRows<'a> {
    fn new(bytes: &'a [u8], first_validator: u64) -> Result<BlockRows<'a>, CodecError> {
        let mut r = ByteReader::new(bytes);
        if r.u8()? != BLOCK_FORMAT {
            return Err(CodecError("unknown outcome block format"));
        }
        let left = usize::try_from(r.uvarint()?)
            .ok()
            .filter(|&n| n <= bytes.len())
            .ok_or(CodecError("outcome row count out of range"))?;
        Ok(BlockRows {
            r,
            left,
            validator: first_validator,
            fields: [None; FIELDS],
        })
    }

    /// Advance to the next row: its validator (fields in `self.fields`).
    fn next_row(&mut self) -> Result<Option<u64>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.validator = self
            .validator
            .checked_add(self.r.uvarint()?)
            .ok_or(CodecError("validator index overflows"))?;
        let head = self.r.uvarint()?;
        let changed = head >> 1;
        if changed >> FIELDS != 0 {
            return Err(CodecError("unknown outcome field"));
        }
        let nulls = if head & 1 == 1 { self.r.uvarint()? } else { 0 };
        for i in 0..FIELDS {
            if changed & (1 << i) != 0 {
                self.fields[i] = if nulls & (1 << i) != 0 {
                    None
                } else {
                    Some(self.r.ivarint()?)
                };
            }
        }
        Ok(Some(self.validator))
    }
}

fn decode_block(
    bytes: &[u8],
    epoch: u64,
    first_validator: u64,
    out: &mut Vec<ValidatorEpoch>,
) -> Result<(), CodecError> {
    let mut rows = BlockRows::new(bytes, first_validator)?;
    while let Some(v) = rows.next_row()? {
        out.push(from_fields(v, epoch, &rows.fields)?);
    }
    if !rows.r.is_empty() {
        return Err(CodecError("trailing bytes after outcome rows"));
    }
    Ok(())
}

fn find_in_block(
    bytes: &[u8],
    epoch: u64,
    first_validator: u64,
    validator: u64,
) -> Result<Option<ValidatorEpoch>, CodecError> {
    let mut rows = BlockRows::new(bytes, first_validator)?;
    while let Some(v) = rows.next_row()? {
        if v == validator {
            return from_fields(v, epoch, &rows.fields).map(Some);
        }
        if v > validator {
            break;
        }
    }
    Ok(None)
}

/// Store rows (any order; a row for an existing `(iteration, epoch, validator)`
/// replaces it).
pub(super) fn put(
    store: &Store,
    tx: &WriteTransaction,
    rows: &[(u32, ValidatorEpoch)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut table = tx
        .open_table(OUTCOMES)
        .map_err(store.io("opening table outcomes"))?;
    // (iteration, epoch) → validator → row; a later row for the same validator wins.
    let mut groups: BTreeMap<(u32, u64), BTreeMap<u64, &ValidatorEpoch>> = BTreeMap::new();
    for (it, r) in rows {
        groups
            .entry((*it, r.epoch))
            .or_default()
            .insert(r.validator, r);
    }
    for ((it, epoch), new) in groups {
        let (Some(&lo), Some(&hi)) = (new.keys().next(), new.keys().next_back()) else {
            continue;
        };
        // Blocks that may hold validators in [lo, hi]: the one starting at or before
        // lo, and every one starting in (lo, hi].
        let mut old_keys = Vec::new();
        if let Some(row) = table
            .range((it, epoch, 0)..=(it, epoch, lo))
            .map_err(store.io("reading outcomes"))?
            .next_back()
        {
            old_keys.push(row.map_err(store.io("reading outcomes"))?.0.value().2);
        }
        if lo < hi {
            for row in table
                .range((it, epoch, lo + 1)..=(it, epoch, hi))
                .map_err(store.io("reading outcomes"))?
            {
                old_keys.push(row.map_err(store.io("reading outcomes"))?.0.value().2);
            }
        }
        let mut old_rows = Vec::new();
        for &first in &old_keys {
            let bytes = table
                .remove((it, epoch, first))
                .map_err(store.io("rewriting outcomes"))?;
            if let Some(bytes) = bytes {
                decode_block(bytes.value(), epoch, first, &mut old_rows)
                    .map_err(store.corrupt("reading outcomes"))?;
            }
        }
        let mut merged: BTreeMap<u64, &ValidatorEpoch> =
            old_rows.iter().map(|r| (r.validator, r)).collect();
        merged.extend(new);
        let merged: Vec<&ValidatorEpoch> = merged.into_values().collect();
        // Equal blocks: a rewrite of a few rows does not leave a run of tiny ones.
        let blocks = merged.len().div_ceil(BLOCK_ROWS);
        let per = merged.len().div_ceil(blocks.max(1));
        for part in merged.chunks(per.max(1)) {
            table
                .insert(
                    (it, epoch, part[0].validator),
                    encode_block(part).as_slice(),
                )
                .map_err(store.io("writing outcomes"))?;
        }
    }
    Ok(())
}

impl Store {
    /// Store outcome rows of one iteration in one transaction (outside the writer).
    pub fn put_outcomes(&self, iteration: u32, rows: &[ValidatorEpoch]) -> Result<(), StoreError> {
        let rows: Vec<(u32, ValidatorEpoch)> =
            rows.iter().map(|r| (iteration, r.clone())).collect();
        self.write("writing outcomes", |tx| put(self, tx, &rows))
    }

    /// Every stored validator's row for one epoch, by validator index.
    pub fn outcomes_for_epoch(
        &self,
        iteration: u32,
        epoch: u64,
    ) -> Result<Vec<ValidatorEpoch>, StoreError> {
        let tx = self.read()?;
        let table = tx
            .open_table(OUTCOMES)
            .map_err(self.io("opening table outcomes"))?;
        let mut out = Vec::new();
        for row in table
            .range((iteration, epoch, 0)..=(iteration, epoch, u64::MAX))
            .map_err(self.io("reading outcomes"))?
        {
            let (k, v) = row.map_err(self.io("reading outcomes"))?;
            decode_block(v.value(), epoch, k.value().2, &mut out)
                .map_err(self.corrupt("reading outcomes"))?;
        }
        Ok(out)
    }

    /// One validator's rows over a range of epochs, oldest first (epochs without a row
    /// are skipped).
    pub fn outcomes_for_validator(
        &self,
        iteration: u32,
        validator: u64,
        epochs: RangeInclusive<u64>,
    ) -> Result<Vec<ValidatorEpoch>, StoreError> {
        let tx = self.read()?;
        let table = tx
            .open_table(OUTCOMES)
            .map_err(self.io("opening table outcomes"))?;
        let (from, to) = (*epochs.start(), *epochs.end());
        // Clamp to the epochs that exist, so an open range does not probe 2^64 epochs.
        let first = table
            .range((iteration, from, 0)..=(iteration, to, u64::MAX))
            .map_err(self.io("reading outcomes"))?
            .next()
            .transpose()
            .map_err(self.io("reading outcomes"))?
            .map(|(k, _)| k.value().1);
        let last = table
            .range((iteration, from, 0)..=(iteration, to, u64::MAX))
            .map_err(self.io("reading outcomes"))?
            .next_back()
            .transpose()
            .map_err(self.io("reading outcomes"))?
            .map(|(k, _)| k.value().1);
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for epoch in first..=last {
            let block = table
                .range((iteration, epoch, 0)..=(iteration, epoch, validator))
                .map_err(self.io("reading outcomes"))?
                .next_back()
                .transpose()
                .map_err(self.io("reading outcomes"))?;
            if let Some((k, v)) = block
                && let Some(row) = find_in_block(v.value(), epoch, k.value().2, validator)
                    .map_err(self.corrupt("reading outcomes"))?
            {
                out.push(row);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mainnet-like row: ~1 % missed, some proposals and sync duties, rewards known.
    pub(crate) fn row(validator: u64, epoch: u64) -> ValidatorEpoch {
        let miss = validator % 97 == 3;
        ValidatorEpoch {
            validator,
            epoch,
            status: 2,
            slashed: Some(false),
            balance: Some(
                32_000_000_000 + (validator as i64 % 1000) * 1_000_000 + epoch as i64 * 13_000,
            ),
            effective_balance: Some(32_000_000_000),
            attested: Some(!miss),
            inclusion_delay: (!miss).then_some(1 + u32::from(validator.is_multiple_of(3))),
            earliest_inclusion_delay: Some(1),
            head_ok: Some(!miss && !validator.is_multiple_of(50)),
            target_ok: Some(!miss),
            source_ok: Some(!miss),
            reward_head: Some(if miss { 0 } else { 3_400 }),
            reward_target: Some(if miss { -6_300 } else { 6_300 }),
            reward_source: Some(if miss { -3_400 } else { 3_400 }),
            reward_inactivity: Some(0),
            ideal_head: Some(3_400),
            ideal_target: Some(6_300),
            ideal_source: Some(3_400),
            proposals_assigned: u8::from(validator.is_multiple_of(313)),
            proposals_made: u8::from(validator.is_multiple_of(313) && !miss),
            proposals_orphaned: 0,
            proposal_reward: validator.is_multiple_of(313).then_some(40_000_000),
            sync_member: Some(validator.is_multiple_of(1000)),
            sync_signed: if validator.is_multiple_of(1000) {
                31
            } else {
                0
            },
            sync_expected: if validator.is_multiple_of(1000) {
                32
            } else {
                0
            },
            sync_reward: validator.is_multiple_of(1000).then_some(600_000),
            deposits: 0,
            withdrawals: 0,
            finalized: epoch.is_multiple_of(2),
            node: (validator / 2500) as u16,
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("o.redb")).unwrap();
        (dir, s)
    }

    #[test]
    fn unknown_stays_unknown_and_extremes_round_trip() {
        let unknown = ValidatorEpoch {
            validator: 7,
            epoch: 3,
            ..Default::default()
        };
        let extreme = ValidatorEpoch {
            validator: u64::MAX,
            epoch: 3,
            balance: Some(i64::MIN),
            reward_head: Some(i64::MAX),
            reward_target: Some(0),
            inclusion_delay: Some(u32::MAX),
            attested: Some(false),
            status: 9,
            node: u16::MAX,
            deposits: i64::MIN,
            withdrawals: i64::MAX,
            sync_signed: u8::MAX,
            finalized: true,
            ..Default::default()
        };
        let mut known_zero = row(8, 3);
        known_zero.reward_head = Some(0);
        known_zero.reward_target = None;
        let rows = [&unknown, &known_zero, &extreme];
        let bytes = encode_block(&rows);
        let mut out = Vec::new();
        decode_block(&bytes, 3, 7, &mut out).unwrap();
        assert_eq!(
            out,
            vec![unknown.clone(), known_zero.clone(), extreme.clone()]
        );
        assert_eq!(out[0].reward_head, None);
        assert_eq!(out[1].reward_head, Some(0));
        assert_eq!(out[1].reward_target, None);
        for v in [7, 8, u64::MAX] {
            let found = find_in_block(&bytes, 3, 7, v).unwrap().unwrap();
            assert_eq!(found.validator, v);
        }
        assert_eq!(find_in_block(&bytes, 3, 7, 9).unwrap(), None);
    }

    #[test]
    fn garbage_blocks_are_errors_not_panics() {
        let rows: Vec<ValidatorEpoch> = (0..10).map(|v| row(v, 1)).collect();
        let refs: Vec<&ValidatorEpoch> = rows.iter().collect();
        let good = encode_block(&refs);
        for cut in 0..good.len() {
            let _ = decode_block(&good[..cut], 1, 0, &mut Vec::new());
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x55;
            let _ = decode_block(&bad, 1, 0, &mut Vec::new());
        }
    }

    #[test]
    fn an_epoch_reads_back_whole_and_rows_are_small() {
        let (_d, s) = store();
        let rows: Vec<ValidatorEpoch> = (0..10_000).map(|v| row(100_000 + v, 42)).collect();
        s.put_outcomes(1, &rows).unwrap();
        assert_eq!(s.outcomes_for_epoch(1, 42).unwrap(), rows);
        assert!(s.outcomes_for_epoch(1, 41).unwrap().is_empty());
        assert!(s.outcomes_for_epoch(2, 42).unwrap().is_empty());
        let refs: Vec<&ValidatorEpoch> = rows[..BLOCK_ROWS].iter().collect();
        let per_row = encode_block(&refs).len() as f64 / BLOCK_ROWS as f64;
        assert!(per_row < 12.0, "{per_row} B/row");
    }

    #[test]
    fn rewrites_replace_rows_and_merge_into_blocks() {
        let (_d, s) = store();
        // Sparse, out of order, in three writes.
        let a: Vec<ValidatorEpoch> = (0..300).rev().map(|v| row(v * 3, 5)).collect();
        s.put_outcomes(1, &a).unwrap();
        let b: Vec<ValidatorEpoch> = (0..300).map(|v| row(v * 3 + 1, 5)).collect();
        s.put_outcomes(1, &b).unwrap();
        // Finalization: the same rows again with one field changed.
        let mut fin: Vec<ValidatorEpoch> = (0..300).map(|v| row(v * 3, 5)).collect();
        for r in &mut fin {
            r.finalized = true;
            r.reward_head = None;
        }
        s.put_outcomes(1, &fin[100..200]).unwrap();
        let got = s.outcomes_for_epoch(1, 5).unwrap();
        assert_eq!(got.len(), 600);
        assert!(got.windows(2).all(|w| w[0].validator < w[1].validator));
        for r in &got {
            let v = r.validator;
            let expect = if v % 3 == 0 && (300..600).contains(&v) {
                fin[(v / 3) as usize].clone()
            } else {
                row(v, 5)
            };
            assert_eq!(*r, expect, "validator {v}");
        }
    }

    #[test]
    fn a_validators_history_skips_missing_epochs() {
        let (_d, s) = store();
        for epoch in 0..50u64 {
            // Validator 77 is monitored only from epoch 10, and not in epoch 20.
            let rows: Vec<ValidatorEpoch> = (0..200)
                .filter(|&v| v != 77 || (epoch >= 10 && epoch != 20))
                .map(|v| row(v, epoch))
                .collect();
            s.put_outcomes(1, &rows).unwrap();
        }
        s.put_outcomes(2, &[row(77, 3)]).unwrap();
        let h = s.outcomes_for_validator(1, 77, 0..=u64::MAX).unwrap();
        let epochs: Vec<u64> = h.iter().map(|r| r.epoch).collect();
        let want: Vec<u64> = (10..50).filter(|&e| e != 20).collect();
        assert_eq!(epochs, want);
        assert!(h.iter().all(|r| *r == row(77, r.epoch)));
        assert_eq!(s.outcomes_for_validator(1, 77, 30..=32).unwrap().len(), 3);
        assert_eq!(
            s.outcomes_for_validator(2, 77, 0..=9).unwrap(),
            vec![row(77, 3)]
        );
        assert!(
            s.outcomes_for_validator(1, 1_000, 0..=49)
                .unwrap()
                .is_empty()
        );
    }
}
