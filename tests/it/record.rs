//! Collected data reaches the store: the replayed chain's outcome rows (unknown kept
//! unknown), its network iteration, and node figures as series, through the writer.

use std::sync::Arc;
use std::time::Duration;
use vigil::recorder::Recorder;
use vigil::store::{SeriesKey, Store, Writer, WriterConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_outcomes_and_series_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("vigil.redb")).unwrap());
    let writer = Writer::spawn(store.clone(), WriterConfig::default()).unwrap();
    let mut recorder = Recorder::new(store.clone(), writer.clone());
    let (replay, mut chain) = crate::support::replay_and_collector(88).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let mut delivered = std::collections::BTreeSet::new();
    while !delivered.contains(&13) {
        assert!(std::time::Instant::now() < deadline);
        let now = vigil::clock::now_ms();
        tokio::time::sleep(Duration::from_millis(
            (chain.next_tick_ms(now, 300) - now).max(0) as u64,
        ))
        .await;
        let obs = chain.tick(vigil::clock::now_ms()).await;
        if let Some(c) = chain.chain().cloned()
            && let Some((it, _)) = recorder.identify(&c, None).await.unwrap()
        {
            chain.set_iteration(it);
        }
        for o in &obs {
            let node = match o {
                vigil::collect::chain::Observation::Nodes {
                    timestamp_ms,
                    wall_slot,
                    nodes,
                    network,
                } => Some(vigil::contract::NodeInput {
                    network: network.clone(),
                    timestamp_ms: *timestamp_ms,
                    wall_slot: *wall_slot,
                    consensus: nodes.clone(),
                    execution: Vec::new(),
                    metrics: Vec::new(),
                    system: vigil::contract::SystemInfo::unknown(),
                }),
                vigil::collect::chain::Observation::Epoch { input, .. } => {
                    delivered.insert(input.epoch);
                    None
                }
                _ => None,
            };
            recorder.record(o, node.as_ref()).await.unwrap();
        }
    }
    writer.flush().await.unwrap();
    replay.stop().await;
    let iterations = store.iterations().unwrap();
    assert_eq!(iterations.len(), 1);
    let it = recorder.iteration().unwrap();
    let rows = store.outcomes_for_epoch(it, 12).unwrap();
    assert_eq!(rows.len(), 8);
    let r6 = rows.iter().find(|r| r.validator == 6).unwrap();
    assert_eq!(r6.attested, Some(false));
    // Epoch 12's state was never available: its rewards are stored as unknown.
    assert_eq!(r6.reward_target, None);
    let r0 = rows.iter().find(|r| r.validator == 0).unwrap();
    assert_eq!(r0.attested, Some(true));
    assert!(r0.balance.is_some_and(|b| b > 32_000_000_000));
    let peers = store
        .series_range(
            &SeriesKey::new("beacon_up", &[("node".into(), "replay".into())]),
            0,
            i64::MAX,
            1000,
        )
        .unwrap();
    assert!(
        peers.len() > 10 && peers.iter().all(|p| p.1 == 1.0),
        "{peers:?}"
    );
    let blocks = store
        .series_range(
            &SeriesKey::new("chain_block_present", &[]),
            0,
            i64::MAX,
            1000,
        )
        .unwrap();
    assert!(
        blocks.iter().any(|p| p.1 == 0.0) && blocks.iter().any(|p| p.1 == 1.0),
        "missed and present slots stored"
    );
}
