//! The chain collector when its beacon nodes misbehave: down, slow, garbage, dropped
//! event stream, a network reset, and failover to a second node. No crash, a clear
//! status per node, and collection resumes when the node does.

use std::time::Duration;
use vigil::collect::chain::{ChainCollector, Observation};
use vigil::contract::ConsensusNode;
use vigil_replay::{Replay, ReplayOptions, scenario_a};

async fn replay(slot: u64) -> Replay {
    Replay::start(
        ReplayOptions::new(scenario_a())
            .start_at_slot(slot)
            .speed(2)
            .recorded_outages(false),
    )
    .await
    .unwrap()
}

/// Tick once (waiting for the tick's moment) and return what came out.
async fn tick(chain: &mut ChainCollector) -> Vec<Observation> {
    let now = vigil::clock::now_ms();
    let next = chain.next_tick_ms(now, 300);
    tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64)).await;
    chain.tick(vigil::clock::now_ms()).await
}

fn nodes(obs: &[Observation]) -> Vec<ConsensusNode> {
    obs.iter()
        .find_map(|o| match o {
            Observation::Nodes { nodes, .. } => Some(nodes.clone()),
            _ => None,
        })
        .expect("every tick reports node status")
}

fn slots(obs: &[Observation]) -> Vec<u64> {
    obs.iter()
        .filter_map(|o| match o {
            Observation::Slot(s) => Some(s.slot),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_down_slow_garbage_and_back() {
    let r = replay(40).await;
    let http = vigil::net::http_client().unwrap();
    let mut chain = ChainCollector::new("devnet", &[("bn".into(), r.beacon_url())], &[0, 6], http);
    // Healthy first: the chain is identified and slots flow.
    let mut got_slot = false;
    for _ in 0..6 {
        got_slot |= !slots(&tick(&mut chain).await).is_empty();
    }
    assert!(got_slot && chain.chain().is_some());

    // Down: refused, said so, named.
    r.faults().set_down(true);
    let obs = tick(&mut chain).await;
    let n = &nodes(&obs)[0];
    assert!(!n.reachable, "{n:?}");
    let err = n.error.clone().unwrap();
    assert!(
        err.contains(&r.beacon_url()) && err.contains("connection refused"),
        "{err}"
    );
    r.faults().set_down(false);

    // Slow: the request times out instead of stalling the tick forever.
    r.faults().set_delay(Some(Duration::from_secs(7)));
    let obs = tick(&mut chain).await;
    let err = nodes(&obs)[0].error.clone().unwrap_or_default();
    assert!(err.contains("no answer within 5 s"), "{err}");
    r.faults().set_delay(None);

    // Garbage: a malformed answer, reported as such.
    r.faults().set_garbage(true);
    let obs = tick(&mut chain).await;
    let err = nodes(&obs)[0].error.clone().unwrap_or_default();
    assert!(err.contains("malformed answer"), "{err}");
    r.faults().set_garbage(false);

    // The event stream dropped mid-stream: collection carries on.
    r.faults().drop_sse();
    let mut recovered = false;
    for _ in 0..10 {
        let obs = tick(&mut chain).await;
        if nodes(&obs)[0].reachable && nodes(&obs)[0].error.is_none() && !slots(&obs).is_empty() {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "collection resumed after the faults");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_reset_opens_a_new_iteration() {
    let r = replay(40).await;
    let http = vigil::net::http_client().unwrap();
    let mut chain = ChainCollector::new("ephemery", &[("bn".into(), r.beacon_url())], &[0], http);
    tick(&mut chain).await;
    let first = chain.chain().unwrap().clone();
    assert_eq!(first.iteration, 1);
    r.reset_genesis(
        first.genesis.genesis_time + 3600,
        "0x1111111111111111111111111111111111111111111111111111111111111111",
    );
    // Identity is checked at each epoch start: within 8 slots at most.
    let mut reset = None;
    for _ in 0..20 {
        if let Some(o) = tick(&mut chain)
            .await
            .into_iter()
            .find(|o| matches!(o, Observation::Reset(_)))
        {
            reset = Some(o);
            break;
        }
    }
    let Some(Observation::Reset(reset)) = reset else {
        panic!("no reset seen")
    };
    assert_eq!(reset.previous.as_ref().unwrap().iteration, 1);
    assert_eq!(reset.current.iteration, 2);
    assert_eq!(reset.current.name, "ephemery");
    assert!(reset.current.genesis_validators_root.starts_with("0x1111"));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_second_node() {
    let primary = replay(40).await;
    let fallback = replay(40).await;
    let http = vigil::net::http_client().unwrap();
    let mut chain = ChainCollector::new(
        "devnet",
        &[
            ("primary".into(), primary.beacon_url()),
            ("fallback".into(), fallback.beacon_url()),
        ],
        &[0, 6],
        http,
    );
    for _ in 0..3 {
        tick(&mut chain).await;
    }
    primary.faults().set_down(true);
    let mut served_by_fallback = false;
    for _ in 0..6 {
        let obs = tick(&mut chain).await;
        let ns = nodes(&obs);
        assert_eq!(ns.len(), 2);
        assert!(!ns[0].reachable, "primary is down");
        assert!(ns[1].reachable && ns[1].error.is_none(), "{:?}", ns[1]);
        served_by_fallback |= obs
            .iter()
            .any(|o| matches!(o, Observation::Slot(s) if s.node == "fallback"));
    }
    assert!(
        served_by_fallback,
        "slots were collected from the fallback, tagged with its name"
    );
    let scores = chain.health_scores();
    assert!(scores[0].1 < 0.5 && scores[1].1 > 0.9, "{scores:?}");
    // Back up: the primary must be good for a few ticks before it serves again.
    primary.faults().set_down(false);
    let mut served: Vec<String> = Vec::new();
    for _ in 0..12 {
        for o in tick(&mut chain).await {
            if let Observation::Slot(s) = o {
                served.push(s.node);
            }
        }
    }
    assert_eq!(
        served.first().map(String::as_str),
        Some("fallback"),
        "{served:?}"
    );
    assert_eq!(
        served.last().map(String::as_str),
        Some("primary"),
        "{served:?}"
    );
    primary.stop().await;
    fallback.stop().await;
}

/// A reorg takes away a watched validator's block: the collector re-reads the replaced
/// slots and the proposal is counted orphaned, not proposed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorged_proposal_is_counted_orphaned() {
    let r = replay(40).await;
    let http = vigil::net::http_client().unwrap();
    let mut chain = ChainCollector::new(
        "devnet",
        &[("bn".into(), r.beacon_url())],
        &(0..8).collect::<Vec<_>>(),
        http,
    );
    // Wait for a block early in an epoch, then take it away.
    let mut target: Option<(u64, u64)> = None;
    for _ in 0..40 {
        for o in tick(&mut chain).await {
            if let Observation::Slot(s) = o
                && target.is_none()
                && s.outcome == vigil::contract::BlockOutcome::Proposed
                && s.slot % 8 == 1
            {
                target = Some((s.slot, s.proposer.unwrap()));
            }
        }
        if target.is_some() {
            break;
        }
    }
    let (slot, proposer) = target.expect("a block early in an epoch");
    r.faults().orphan_block(slot);
    let epoch = slot / 8;
    let mut delivered = None;
    for _ in 0..40 {
        for o in tick(&mut chain).await {
            if let Observation::Epoch { input, rows, .. } = o
                && input.epoch == epoch
            {
                delivered = Some((input, rows));
            }
        }
        if delivered.as_ref().is_some_and(|(i, _)| i.epoch == epoch)
            && chain
                .chain()
                .unwrap()
                .slot_at(vigil::clock::now_ms())
                .unwrap_or(0)
                > (epoch + 2) * 8 + 4
        {
            break;
        }
    }
    let (input, rows) = delivered.expect("the epoch was delivered");
    let p = input
        .proposals
        .iter()
        .find(|p| p.slot == slot)
        .expect("the duty is listed");
    assert_eq!(
        (p.validator, p.outcome),
        (proposer, vigil::contract::BlockOutcome::Orphaned)
    );
    let row = rows.iter().find(|r| r.validator == proposer).unwrap();
    assert_eq!(row.proposals_orphaned, 1, "{row:?}");
    assert_eq!(row.proposals_made + 1, row.proposals_assigned, "{row:?}");
    r.stop().await;
}
