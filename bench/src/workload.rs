//! Synthetic inputs shaped like mainnet: the node tick and epoch the plugin, analytics
//! and web suites feed the host.

use vigil::contract::{
    EpochInput, Input, LabelColumn, NetworkInfo, NetworkStats, NodeInput, SystemInfo,
    ValidatorColumns,
};

pub(crate) fn network() -> NetworkInfo {
    NetworkInfo {
        name: "bench".into(),
        iteration: 1,
        genesis_time: 1_700_000_000,
        genesis_validators_root: format!("0x{}", "ab".repeat(32)),
        chain_id: Some(1),
        seconds_per_slot: 12,
        slots_per_epoch: 32,
        epochs_per_sync_committee_period: 256,
        sync_committee_size: 512,
    }
}

pub(crate) fn empty_node_tick() -> Input {
    Input::Node(NodeInput {
        network: None,
        timestamp_ms: 0,
        wall_slot: None,
        consensus: Vec::new(),
        execution: Vec::new(),
        metrics: Vec::new(),
        system: SystemInfo::unknown(),
    })
}

/// A mainnet-like epoch for `n` validators over 4 nodes: ~1 % missed attestations,
/// realistic rewards, some proposals and sync duties.
pub(crate) fn epoch_input(n: usize, epoch: u64) -> Input {
    let miss = |i: usize| i % 97 == 3;
    let col_i = |f: &dyn Fn(usize) -> i64| (0..n).map(f).collect::<Vec<i64>>();
    Input::Epoch(EpochInput {
        network: network(),
        epoch,
        finalized: false,
        validators: ValidatorColumns {
            index: (0..n as u64).map(|i| 100_000 + i).collect(),
            status: vec![2; n], // active_ongoing
            slashed: vec![0; n],
            balance: col_i(&|i| 32_000_000_000 + (i as i64 % 1000) * 1_000_000),
            effective_balance: vec![32_000_000_000; n],
            attested: (0..n).map(|i| u8::from(!miss(i))).collect(),
            inclusion_delay: (0..n)
                .map(|i| {
                    if miss(i) {
                        u64::MAX
                    } else {
                        1 + (i % 3 == 0) as u64
                    }
                })
                .collect(),
            earliest_inclusion_delay: vec![1; n],
            head_ok: (0..n).map(|i| u8::from(!miss(i) && i % 50 != 0)).collect(),
            target_ok: (0..n).map(|i| u8::from(!miss(i))).collect(),
            source_ok: (0..n).map(|i| u8::from(!miss(i))).collect(),
            reward_head: col_i(&|i| if miss(i) { 0 } else { 3_400 }),
            reward_target: col_i(&|i| if miss(i) { -6_300 } else { 6_300 }),
            reward_source: col_i(&|i| if miss(i) { -3_400 } else { 3_400 }),
            reward_inactivity: vec![0; n],
            ideal_head: vec![3_400; n],
            ideal_target: vec![6_300; n],
            ideal_source: vec![3_400; n],
            proposals_assigned: (0..n).map(|i| u32::from(i % 313 == 0)).collect(),
            proposals_made: (0..n)
                .map(|i| u32::from(i % 313 == 0 && !miss(i)))
                .collect(),
            proposals_orphaned: vec![0; n],
            proposal_reward: col_i(&|i| if i % 313 == 0 { 40_000_000 } else { i64::MIN }),
            sync_member: (0..n).map(|i| u8::from(i % 1000 == 0)).collect(),
            sync_signed: (0..n).map(|i| if i % 1000 == 0 { 31 } else { 0 }).collect(),
            sync_expected: (0..n).map(|i| if i % 1000 == 0 { 32 } else { 0 }).collect(),
            sync_reward: col_i(&|i| if i % 1000 == 0 { 600_000 } else { i64::MIN }),
            deposits: vec![0; n],
            withdrawals: vec![0; n],
            labels: vec![LabelColumn {
                name: "node".into(),
                values: (0..4).map(|k| format!("beacon-{k}")).collect(),
                codes: (0..n).map(|i| (i % 4) as u32).collect(),
            }],
        },
        proposals: Vec::new(),
        upcoming_proposals: Vec::new(),
        next_sync_committee: Vec::new(),
        network_stats: NetworkStats {
            total_active_balance: Some(34_000_000 * 1_000_000_000),
            active_validators: Some(1_062_500),
            participation_rate: Some(0.99),
            sync_participation: Some(0.98),
            base_reward_per_increment: None,
        },
    })
}
