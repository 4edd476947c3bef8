//! Reading per-validator columns.
//!
//! Bulk data arrives as columns (one `Vec` per field) because passing 10k records with
//! strings across the sandbox costs ~11× native, columns ~1.3×. "Unknown" has its own
//! encoding in each column type; these helpers turn it into `Option` so that a missing
//! rewards answer is never mistaken for a zero or a miss.

use crate::{ValidatorColumns, ValidatorStatus};

/// "Unknown" in `s64` columns (balances, rewards).
pub const UNKNOWN_I64: i64 = i64::MIN;
/// "Unknown" in `u64` columns (inclusion delays).
pub const UNKNOWN_U64: u64 = u64::MAX;

/// A tri-state flag: yes, no, or unknown (`u8` columns: 1, 0, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tri {
    No,
    Yes,
    Unknown,
}

impl Tri {
    /// Decode a tri-state column value; anything but 0 and 1 is unknown.
    pub fn from_u8(v: u8) -> Tri {
        match v {
            0 => Tri::No,
            1 => Tri::Yes,
            _ => Tri::Unknown,
        }
    }

    /// Encode for a column.
    pub fn to_u8(self) -> u8 {
        match self {
            Tri::No => 0,
            Tri::Yes => 1,
            Tri::Unknown => 2,
        }
    }

    /// `Some(bool)` when known.
    pub fn known(self) -> Option<bool> {
        match self {
            Tri::No => Some(false),
            Tri::Yes => Some(true),
            Tri::Unknown => None,
        }
    }
}

impl From<Option<bool>> for Tri {
    fn from(v: Option<bool>) -> Tri {
        match v {
            Some(true) => Tri::Yes,
            Some(false) => Tri::No,
            None => Tri::Unknown,
        }
    }
}

/// The `status` column code of a status (its position in the WIT enum).
pub fn status_code(s: ValidatorStatus) -> u8 {
    s as u8
}

/// The status of a `status` column code; out-of-range codes are `Unknown`.
pub fn status_from_code(code: u8) -> ValidatorStatus {
    use ValidatorStatus::*;
    const ALL: [ValidatorStatus; 10] = [
        PendingInitialized,
        PendingQueued,
        ActiveOngoing,
        ActiveExiting,
        ActiveSlashed,
        ExitedUnslashed,
        ExitedSlashed,
        WithdrawalPossible,
        WithdrawalDone,
        Unknown,
    ];
    ALL.get(code as usize).copied().unwrap_or(Unknown)
}

/// A gwei value from an `s64` column, `None` when unknown.
pub fn gwei(v: i64) -> Option<i64> {
    (v != UNKNOWN_I64).then_some(v)
}

/// A count or delay from a `u64` column, `None` when unknown.
pub fn count(v: u64) -> Option<u64> {
    (v != UNKNOWN_U64).then_some(v)
}

impl ValidatorColumns {
    /// Number of validators in the columns.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there are no validators.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Check that every column has the same length; the host guarantees it, fixtures
    /// written by hand may not.
    pub fn check_lengths(&self) -> Result<(), String> {
        let n = self.index.len();
        let lens = [
            ("status", self.status.len()),
            ("slashed", self.slashed.len()),
            ("balance", self.balance.len()),
            ("effective_balance", self.effective_balance.len()),
            ("attested", self.attested.len()),
            ("inclusion_delay", self.inclusion_delay.len()),
            (
                "earliest_inclusion_delay",
                self.earliest_inclusion_delay.len(),
            ),
            ("head_ok", self.head_ok.len()),
            ("target_ok", self.target_ok.len()),
            ("source_ok", self.source_ok.len()),
            ("reward_head", self.reward_head.len()),
            ("reward_target", self.reward_target.len()),
            ("reward_source", self.reward_source.len()),
            ("reward_inactivity", self.reward_inactivity.len()),
            ("ideal_head", self.ideal_head.len()),
            ("ideal_target", self.ideal_target.len()),
            ("ideal_source", self.ideal_source.len()),
            ("proposals_assigned", self.proposals_assigned.len()),
            ("proposals_made", self.proposals_made.len()),
            ("proposals_orphaned", self.proposals_orphaned.len()),
            ("proposal_reward", self.proposal_reward.len()),
            ("sync_member", self.sync_member.len()),
            ("sync_signed", self.sync_signed.len()),
            ("sync_expected", self.sync_expected.len()),
            ("sync_reward", self.sync_reward.len()),
            ("deposits", self.deposits.len()),
            ("withdrawals", self.withdrawals.len()),
        ];
        for (name, len) in lens {
            if len != n {
                return Err(format!("column {name} has {len} values, index has {n}"));
            }
        }
        for l in &self.labels {
            if l.codes.len() != n {
                return Err(format!(
                    "label column {} has {} codes, index has {n}",
                    l.name,
                    l.codes.len()
                ));
            }
            if let Some(bad) = l.codes.iter().find(|&&c| c as usize >= l.values.len()) {
                return Err(format!(
                    "label column {} has code {bad} but {} values",
                    l.name,
                    l.values.len()
                ));
            }
        }
        Ok(())
    }

    /// Tri-state "attestation included" of validator at position `i`.
    pub fn attested(&self, i: usize) -> Tri {
        Tri::from_u8(self.attested[i])
    }

    /// Sum of head + target + source actual rewards at `i`, `None` if any is unknown.
    pub fn attestation_reward(&self, i: usize) -> Option<i64> {
        Some(
            gwei(self.reward_head[i])?
                + gwei(self.reward_target[i])?
                + gwei(self.reward_source[i])?,
        )
    }

    /// Sum of head + target + source ideal rewards at `i`, `None` if any is unknown.
    pub fn attestation_ideal(&self, i: usize) -> Option<i64> {
        Some(gwei(self.ideal_head[i])? + gwei(self.ideal_target[i])? + gwei(self.ideal_source[i])?)
    }

    /// The value of label `name` for the validator at `i`, if that label exists.
    pub fn label(&self, name: &str, i: usize) -> Option<&str> {
        let col = self.labels.iter().find(|l| l.name == name)?;
        col.values
            .get(*col.codes.get(i)? as usize)
            .map(String::as_str)
    }

    /// Position of validator `index` in the columns. The host sends validators sorted
    /// by index (binary search); hand-written fixtures that are not fall back to a scan.
    pub fn position(&self, index: u64) -> Option<usize> {
        match self.index.binary_search(&index) {
            Ok(i) => Some(i),
            Err(_) => self.index.iter().position(|&x| x == index),
        }
    }

    /// Status of the validator at `i`.
    pub fn status(&self, i: usize) -> ValidatorStatus {
        status_from_code(self.status[i])
    }

    /// True when the validator at `i` is active (it has duties).
    pub fn is_active(&self, i: usize) -> bool {
        // active-ongoing, active-exiting, active-slashed
        matches!(self.status[i], 2..=4)
    }

    /// An empty set of columns with capacity for `n` validators.
    pub fn with_capacity(n: usize) -> ValidatorColumns {
        ValidatorColumns {
            index: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            slashed: Vec::with_capacity(n),
            balance: Vec::with_capacity(n),
            effective_balance: Vec::with_capacity(n),
            attested: Vec::with_capacity(n),
            inclusion_delay: Vec::with_capacity(n),
            earliest_inclusion_delay: Vec::with_capacity(n),
            head_ok: Vec::with_capacity(n),
            target_ok: Vec::with_capacity(n),
            source_ok: Vec::with_capacity(n),
            reward_head: Vec::with_capacity(n),
            reward_target: Vec::with_capacity(n),
            reward_source: Vec::with_capacity(n),
            reward_inactivity: Vec::with_capacity(n),
            ideal_head: Vec::with_capacity(n),
            ideal_target: Vec::with_capacity(n),
            ideal_source: Vec::with_capacity(n),
            proposals_assigned: Vec::with_capacity(n),
            proposals_made: Vec::with_capacity(n),
            proposals_orphaned: Vec::with_capacity(n),
            proposal_reward: Vec::with_capacity(n),
            sync_member: Vec::with_capacity(n),
            sync_signed: Vec::with_capacity(n),
            sync_expected: Vec::with_capacity(n),
            sync_reward: Vec::with_capacity(n),
            deposits: Vec::with_capacity(n),
            withdrawals: Vec::with_capacity(n),
            labels: Vec::new(),
        }
    }

    /// Append one validator whose outcome is entirely unknown except its index, status
    /// and balances: the starting point for fixtures and tests.
    pub fn push_unknown(
        &mut self,
        index: u64,
        status: ValidatorStatus,
        balance: i64,
        effective_balance: i64,
    ) {
        self.index.push(index);
        self.status.push(status_code(status));
        self.slashed.push(0);
        self.balance.push(balance);
        self.effective_balance.push(effective_balance);
        self.attested.push(Tri::Unknown.to_u8());
        self.inclusion_delay.push(UNKNOWN_U64);
        self.earliest_inclusion_delay.push(UNKNOWN_U64);
        self.head_ok.push(Tri::Unknown.to_u8());
        self.target_ok.push(Tri::Unknown.to_u8());
        self.source_ok.push(Tri::Unknown.to_u8());
        for col in [
            &mut self.reward_head,
            &mut self.reward_target,
            &mut self.reward_source,
            &mut self.reward_inactivity,
            &mut self.ideal_head,
            &mut self.ideal_target,
            &mut self.ideal_source,
            &mut self.proposal_reward,
            &mut self.sync_reward,
        ] {
            col.push(UNKNOWN_I64);
        }
        self.proposals_assigned.push(0);
        self.proposals_made.push(0);
        self.proposals_orphaned.push(0);
        self.sync_member.push(Tri::Unknown.to_u8());
        self.sync_signed.push(0);
        self.sync_expected.push(0);
        self.deposits.push(0);
        self.withdrawals.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip() {
        for code in 0..10u8 {
            assert_eq!(status_code(status_from_code(code)), code);
        }
        assert_eq!(status_from_code(200), ValidatorStatus::Unknown);
        assert_eq!(status_code(ValidatorStatus::ActiveOngoing), 2);
    }
}
