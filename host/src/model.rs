//! Domain types shared by collectors, the store and the evaluator.
//!
//! Units: balances and rewards in gwei (signed: rewards can be negative), times in Unix
//! milliseconds. "Unknown" is `None`, never zero: a missing rewards answer (pruned state,
//! an old client) is neither a zero reward nor a miss.

use serde::{Deserialize, Serialize};

// Slots, epochs, validator indices and gwei are plain integers here on purpose: they
// cross the plugin contract (`u64`/`s64` in WIT) and the store's packed columns by the
// million, and a newtype adopted at only some boundaries would be worse than none. The
// field names and docs carry the unit (`*_gwei`, `*_ms`, `epoch`, `slot`).

/// The identity of a network iteration: Ephemery resets (and a new devnet) change it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkIdentity {
    /// `genesis_time`, Unix seconds.
    pub genesis_time: u64,
    /// `genesis_validators_root`, 0x-hex.
    pub genesis_validators_root: String,
    /// Execution chain id, when an execution node is configured and answered.
    pub chain_id: Option<u64>,
}

/// Chain constants read from `/eth/v1/config/spec` (never assumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    pub seconds_per_slot: u64,
    pub slots_per_epoch: u64,
    pub epochs_per_sync_committee_period: u64,
    pub sync_committee_size: u64,
    pub max_effective_balance: i64,
    pub effective_balance_increment: i64,
    pub base_reward_factor: i64,
}

impl ChainSpec {
    /// Mainnet preset values, used only in tests and benchmarks.
    pub const MAINNET: ChainSpec = ChainSpec {
        seconds_per_slot: 12,
        slots_per_epoch: 32,
        epochs_per_sync_committee_period: 256,
        sync_committee_size: 512,
        max_effective_balance: 32_000_000_000,
        effective_balance_increment: 1_000_000_000,
        base_reward_factor: 64,
    };

    /// The epoch a slot belongs to.
    pub fn epoch_of(&self, slot: u64) -> u64 {
        slot / self.slots_per_epoch
    }

    /// The first slot of an epoch.
    pub fn first_slot(&self, epoch: u64) -> u64 {
        epoch * self.slots_per_epoch
    }
}

/// What happened at a proposer duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProposalOutcome {
    Proposed,
    Missed,
    Orphaned,
    Unknown,
}

/// One validator's outcome for one completed epoch: the `(validator, epoch)` row.
///
/// Every optional field is `None` when the node could not tell (pruned state, old
/// client, node down): unknown is stored as unknown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ValidatorEpoch {
    pub validator: u64,
    pub epoch: u64,
    /// `validator-status` code of the contract (0-9; 9 = unknown).
    pub status: u8,
    pub slashed: Option<bool>,
    /// Balance at the epoch's last slot, gwei.
    pub balance: Option<i64>,
    pub effective_balance: Option<i64>,
    /// The epoch's attestation was included on chain.
    pub attested: Option<bool>,
    /// Slots from duty to inclusion (1 is best).
    pub inclusion_delay: Option<u32>,
    /// Best possible inclusion delay (first later slot with a canonical block).
    pub earliest_inclusion_delay: Option<u32>,
    pub head_ok: Option<bool>,
    pub target_ok: Option<bool>,
    pub source_ok: Option<bool>,
    pub reward_head: Option<i64>,
    pub reward_target: Option<i64>,
    pub reward_source: Option<i64>,
    pub reward_inactivity: Option<i64>,
    pub ideal_head: Option<i64>,
    pub ideal_target: Option<i64>,
    pub ideal_source: Option<i64>,
    pub proposals_assigned: u8,
    pub proposals_made: u8,
    pub proposals_orphaned: u8,
    pub proposal_reward: Option<i64>,
    pub sync_member: Option<bool>,
    /// Slots this epoch whose block carries the validator's sync bit.
    pub sync_signed: u8,
    /// Slots this epoch with a block while a member.
    pub sync_expected: u8,
    pub sync_reward: Option<i64>,
    /// Deposits credited this epoch, gwei (not income).
    pub deposits: i64,
    /// Withdrawals swept this epoch, gwei (not a loss).
    pub withdrawals: i64,
    /// The data can no longer change (the epoch is finalized).
    pub finalized: bool,
    /// Index of the beacon node that served it, in the config's `[[beacon]]` order.
    pub node: u16,
}
