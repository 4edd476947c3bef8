//! Shared test helpers.

pub(crate) mod browser;
pub(crate) mod plugins;
pub(crate) mod receiver;
pub(crate) mod web;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil::contract::{ConsensusNode, Input, NodeInput, SystemInfo};
use vigil::plugins::{Limits, Registry, Runtime};
use vigil::store::Store;

/// Poll `f` until it is true or `timeout` passes; no fixed sleeps in tests.
pub(crate) fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A healthy synced beacon node.
pub(crate) fn beacon(name: &str, peers: u64) -> ConsensusNode {
    ConsensusNode {
        name: name.into(),
        reachable: true,
        error: None,
        client: None,
        is_syncing: Some(false),
        sync_distance: Some(0),
        is_optimistic: Some(false),
        el_offline: Some(false),
        head_slot: Some(100),
        head_lag_slots: Some(0),
        finalized_epoch: Some(10),
        justified_epoch: Some(11),
        peers: Some(peers),
        health_code: Some(200),
        reorg_count: 0,
        reorg_max_depth: 0,
    }
}

/// A node tick carrying `seq` as its wall slot, with one healthy beacon node.
pub(crate) fn node_tick(seq: u64) -> Input {
    Input::Node(NodeInput {
        network: None,
        timestamp_ms: 1_795_381_736_000 + seq as i64 * 2000,
        wall_slot: Some(seq),
        consensus: vec![beacon("bn-1", 50)],
        execution: Vec::new(),
        metrics: Vec::new(),
        system: SystemInfo::unknown(),
    })
}

/// A temp folder with a plugin folder and a store, and a registry over them.
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: Arc<Store>,
    pub(crate) registry: Arc<Registry>,
}

impl Env {
    pub(crate) fn new(limits: Limits, plugins: &[&str]) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("plugins")).expect("plugin dir");
        for p in plugins {
            std::fs::copy(
                plugins::path(p),
                dir.path().join("plugins").join(format!("{p}.wasm")),
            )
            .expect("copy plugin");
        }
        let store = Arc::new(Store::open(&dir.path().join("vigil.redb")).expect("store"));
        let rt = Arc::new(
            Runtime::new(limits, Some(dir.path().join("cache")), Some(store.clone()))
                .expect("runtime"),
        );
        let registry = Arc::new(Registry::new(
            rt,
            dir.path().join("plugins"),
            Default::default(),
            3,
        ));
        Env {
            dir,
            store,
            registry,
        }
    }

    pub(crate) fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    pub(crate) fn plugin_file(&self, name: &str) -> PathBuf {
        self.plugin_dir().join(format!("{name}.wasm"))
    }
}

/// Short limits so hostile plugins are stopped quickly.
pub(crate) fn test_limits() -> Limits {
    Limits {
        cpu_deadline: Duration::from_millis(200),
        ..Limits::default()
    }
}

/// The workspace root.
pub(crate) fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The recorded Lodestar chain replayed from `start_slot` (at double speed) and a
/// collector following it for validators 0-7 as node "replay" on network "devnet".
pub(crate) async fn replay_and_collector(
    start_slot: u64,
) -> (vigil_replay::Replay, vigil::collect::chain::ChainCollector) {
    let replay = vigil_replay::Replay::start(
        vigil_replay::ReplayOptions::new(vigil_replay::scenario_a())
            .start_at_slot(start_slot)
            .speed(2),
    )
    .await
    .unwrap();
    let http = vigil::net::http_client().unwrap();
    let chain = vigil::collect::chain::ChainCollector::new(
        "devnet",
        &[("replay".into(), replay.beacon_url())],
        &(0..8).collect::<Vec<_>>(),
        http,
    );
    (replay, chain)
}
