//! The chain collector against a replay of a real Lodestar dev chain
//! (`tests/fixtures/lodestar/scenario-a.jsonl.gz`): validators 6 and 7 went offline
//! at slot 80 (epoch 10) and came back at slot 176 (epoch 22). The assertions are the
//! facts the fixture's README lists.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vigil::collect::chain::Observation;
use vigil::contract::BlockOutcome;
use vigil::model::ValidatorEpoch;

/// Empty slots of the recording, all duties of validator 6 or 7.
const EMPTY_SLOTS: [u64; 25] = [
    81, 82, 83, 84, 90, 93, 95, 96, 103, 106, 109, 111, 115, 117, 123, 127, 131, 132, 135, 160,
    161, 163, 166, 170, 173,
];

struct Seen {
    slots: BTreeMap<u64, (BlockOutcome, Option<u64>, bool)>,
    /// Latest delivery of each epoch, by validator.
    epochs: BTreeMap<u64, BTreeMap<u64, ValidatorEpoch>>,
    epoch_inputs: BTreeMap<u64, vigil::contract::EpochInput>,
    nodes: usize,
}

/// Run the collector on the replay from `start_slot` until slot `until` is processed.
async fn collect(start_slot: u64, until: u64) -> Seen {
    let (replay, mut chain) = crate::support::replay_and_collector(start_slot).await;
    let mut seen = Seen {
        slots: BTreeMap::new(),
        epochs: BTreeMap::new(),
        epoch_inputs: BTreeMap::new(),
        nodes: 0,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while seen.slots.keys().next_back().is_none_or(|s| *s < until) {
        assert!(
            std::time::Instant::now() < deadline,
            "replay did not reach slot {until}"
        );
        let now = vigil::clock::now_ms();
        let next = chain.next_tick_ms(now, 500);
        tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64)).await;
        for o in chain.tick(vigil::clock::now_ms()).await {
            match o {
                Observation::Nodes { nodes, .. } => {
                    assert!(nodes[0].reachable, "{:?}", nodes[0].error);
                    seen.nodes += 1;
                }
                Observation::Slot(s) => {
                    seen.slots
                        .insert(s.slot, (s.outcome, s.proposer, s.proposer_watched));
                }
                Observation::Epoch { input, rows, .. } => {
                    seen.epochs.insert(
                        input.epoch,
                        rows.into_iter().map(|r| (r.validator, r)).collect(),
                    );
                    seen.epoch_inputs.insert(input.epoch, input);
                }
                Observation::Reset(_) => panic!("no reset in this recording"),
            }
        }
    }
    replay.stop().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_chain_yields_the_recorded_outcomes() {
    // Epoch 9 to epoch 24 at twice real speed: about two minutes.
    let seen = collect(72, 196).await;
    assert!(seen.nodes > 50);
    let chain = chain_asserts(&seen);
    assert!(chain > 0);
}

fn chain_asserts(seen: &Seen) -> usize {
    // Every empty slot in range, and only those, is a missed block of 6 or 7.
    let first = *seen.slots.keys().next().unwrap();
    let missed: BTreeSet<u64> = seen
        .slots
        .iter()
        .filter(|(_, v)| v.0 == BlockOutcome::Missed)
        .map(|(s, _)| *s)
        .collect();
    let expected: BTreeSet<u64> = EMPTY_SLOTS
        .iter()
        .copied()
        .filter(|s| *s >= first && *s <= 195)
        .collect();
    assert_eq!(missed, expected, "missed slots");
    for s in &missed {
        let (_, proposer, watched) = seen.slots[s];
        assert!(
            matches!(proposer, Some(6 | 7)),
            "slot {s} proposer {proposer:?}"
        );
        assert!(watched);
    }
    // Attestations: 6 and 7 missed every epoch from 10 to 21, attested again from 22.
    let mut checked = 0;
    for e in 10..=21u64 {
        let Some(rows) = seen.epochs.get(&e) else {
            continue;
        };
        for v in [6, 7] {
            assert_eq!(
                rows[&v].attested,
                Some(false),
                "validator {v} epoch {e}: {:?}",
                rows[&v]
            );
        }
        // The healthy ones never miss two in a row.
        for v in 0..6 {
            let prev = seen.epochs.get(&(e - 1)).and_then(|r| r[&v].attested);
            assert!(
                !(rows[&v].attested == Some(false) && prev == Some(false)),
                "validator {v} epoch {e}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} offline epochs delivered");
    for e in 22..=22u64 {
        if let Some(rows) = seen.epochs.get(&(e + 1)) {
            assert_eq!(
                rows[&6].attested,
                Some(true),
                "validator 6 back at epoch {}",
                e + 1
            );
        }
    }
    // Rewards where the node had the state (epochs 13, 16-21): negative target and
    // source, zero head. Finality stalled from epoch 10 to ~15 (an inactivity leak: the
    // ideal is zero, a healthy vote earns exactly zero and is still judged correct).
    for e in [13u64, 16, 17, 18, 19, 20, 21] {
        let r = &seen.epochs[&e][&6];
        assert!(r.reward_target.is_some_and(|t| t < 0), "epoch {e}: {r:?}");
        assert_eq!(
            (r.target_ok, r.source_ok),
            (Some(false), Some(false)),
            "epoch {e}"
        );
        assert_eq!(r.reward_head, Some(0));
        assert!(
            r.ideal_target.is_some(),
            "ideal known by effective balance: {r:?}"
        );
        let healthy = &seen.epochs[&e][&0];
        assert_eq!(healthy.target_ok, Some(true), "epoch {e}: {healthy:?}");
        assert_eq!(healthy.attested, Some(true));
    }
    // Outside the leak the ideal is positive and a correct head vote is seen.
    let late = &seen.epochs[&21][&0];
    assert!(late.ideal_head.is_some());
    // Epochs whose state was unavailable: rewards unknown, not zero.
    for e in [11u64, 12, 14, 15] {
        assert_eq!(
            seen.epochs[&e][&6].reward_target, None,
            "epoch {e} rewards must stay unknown"
        );
    }
    // Balances: 6 and 7 lose while offline, the others gain.
    let bal = |e: u64, v: u64| seen.epochs[&e][&v].balance.unwrap();
    for v in [6, 7] {
        assert!(bal(21, v) < bal(10, v), "validator {v} balance should fall");
    }
    assert!(bal(21, 0) > bal(10, 0));
    // Proposals in the epoch input: 82 is a missed duty of 6 in epoch 10.
    let p = seen.epoch_inputs[&10]
        .proposals
        .iter()
        .find(|p| p.slot == 82)
        .expect("slot 82 duty");
    assert_eq!((p.validator, p.outcome), (6, BlockOutcome::Missed));
    // Sync committee: every validator sits in it, this period and (once the node
    // serves the next period's duties) the next.
    assert!(
        seen.epoch_inputs
            .values()
            .any(|i| i.next_sync_committee == (0..8).collect::<Vec<u64>>())
    );
    // 6 and 7 signed nothing while offline.
    let r = &seen.epochs[&17][&7];
    assert_eq!(r.sync_member, Some(true));
    assert!(r.sync_expected > 0 && r.sync_signed == 0, "{r:?}");
    assert!(r.sync_reward.is_some_and(|x| x < 0));
    let r0 = &seen.epochs[&17][&0];
    assert!(
        r0.sync_signed > 0 && r0.sync_signed == r0.sync_expected,
        "{r0:?}"
    );
    // Finality resumed after the validators came back: covered epochs were delivered
    // again, marked finalized; the newest ones are not (yet).
    assert!(
        seen.epochs.values().any(|rows| rows[&0].finalized),
        "some epoch delivered finalized"
    );
    let newest = seen.epochs.keys().next_back().unwrap();
    assert!(!seen.epochs[newest][&0].finalized);
    // Inclusion: healthy validators' attestations are found in blocks.
    assert!(seen.epochs[&17][&0].inclusion_delay.is_some_and(|d| d >= 1));
    checked
}
