//! What each client calls things: its peer and sync metrics, its default peer target and
//! the flag that sets it, its p2p port, and the first release that follows mainnet after
//! Dencun (March 2024).
//!
//! Sources (metric names as each client documents or exports them):
//! - consensus clients all export the interop metrics of ethereum/beacon-metrics
//!   (`metrics.md`): `libp2p_peers`, `beacon_head_slot`, `beacon_finalized_epoch`;
//!   Prysm additionally `p2p_peer_count{state="Connected"}`
//!   (prysmaticlabs/prysm `beacon-chain/p2p/monitoring.go`); Lodestar's own
//!   `lodestar_peers_by_client_count` (Lodestar's metrics, seen in the recorded dev chain);
//! - Geth: `p2p_peers` and `chain_head_block` (go-ethereum metrics `p2p/peers`,
//!   `chain/head/block`, exported with `/` as `_`); Erigon exports the same names;
//! - Nethermind: `nethermind_sync_peers` (Nethermind docs, metrics: "Number of sync peers");
//! - Besu: EIP-2159 common metrics `ethereum_peer_count`, `ethereum_blockchain_height`,
//!   `ethereum_best_known_block_number`;
//! - Reth: `reth_network_connected_peers` (reth network metrics, scope `network`).
//! - Peer targets and flags: each client's CLI reference (Lighthouse `--target-peers`
//!   100, Prysm `--p2p-max-peers` 70, Teku `--p2p-peer-upper-bound` 100, Nimbus
//!   `--max-peers` 160, Lodestar `--targetPeers` 100, Grandine `--target-peers` 100, Geth
//!   `--maxpeers` 50, Nethermind `--Network.MaxActivePeers` 50, Besu `--max-peers` 25,
//!   Erigon `--maxpeers` 32, Reth `--max-outbound-peers` 100).
//! - Minimum versions: the EF blog's "Dencun Mainnet Announcement" (2024-02-27) client
//!   release table. Grandine and Reth (pre-1.0 alphas then) have none here.

/// Consensus or execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Consensus,
    Execution,
}

/// One client's names and defaults.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub name: &'static str,
    pub layer: Layer,
    /// Peer-count metrics in order of preference: `(name, Some((label, value)))`.
    pub peer_metrics: &'static [(&'static str, Option<(&'static str, &'static str)>)],
    /// Head metric: beacon head slot (CL) or head block number (EL).
    pub head_metric: Option<&'static str>,
    /// EL: best known block number (to tell "syncing" from "synced").
    pub best_known_metric: Option<&'static str>,
    pub target_peers: u64,
    /// The flag setting the peer target, with `{n}` for the number.
    pub peers_flag: &'static str,
    /// Default p2p port(s) to open.
    pub p2p_ports: &'static str,
    /// First release following mainnet after Dencun.
    pub min_version: Option<&'static str>,
    /// How to prune or shrink its database.
    pub prune: &'static str,
}

const CL_PEERS: &[(&str, Option<(&str, &str)>)] = &[("libp2p_peers", None)];

/// Every client Vigil knows.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "lighthouse",
        layer: Layer::Consensus,
        peer_metrics: CL_PEERS,
        head_metric: Some("beacon_head_slot"),
        best_known_metric: None,
        target_peers: 100,
        peers_flag: "lighthouse bn --target-peers {n}",
        p2p_ports: "9000/tcp, 9000/udp and 9001/udp (QUIC)",
        min_version: Some("5.0.0"),
        prune: "lighthouse db prune-states (then restart the beacon node)",
    },
    Profile {
        name: "prysm",
        layer: Layer::Consensus,
        peer_metrics: &[
            ("p2p_peer_count", Some(("state", "Connected"))),
            ("libp2p_peers", None),
        ],
        head_metric: Some("beacon_head_slot"),
        best_known_metric: None,
        target_peers: 70,
        peers_flag: "beacon-chain --p2p-max-peers={n}",
        p2p_ports: "13000/tcp and 12000/udp",
        min_version: Some("5.0.0"),
        prune: "resync with --checkpoint-sync-url to start from a fresh database",
    },
    Profile {
        name: "teku",
        layer: Layer::Consensus,
        peer_metrics: CL_PEERS,
        head_metric: Some("beacon_head_slot"),
        best_known_metric: None,
        target_peers: 100,
        peers_flag: "teku --p2p-peer-upper-bound={n}",
        p2p_ports: "9000/tcp and 9000/udp",
        min_version: Some("24.2.0"),
        prune: "teku --data-storage-mode=prune (the default) with --data-storage-non-canonical-blocks-enabled=false",
    },
    Profile {
        name: "nimbus",
        layer: Layer::Consensus,
        peer_metrics: CL_PEERS,
        head_metric: Some("beacon_head_slot"),
        best_known_metric: None,
        target_peers: 160,
        peers_flag: "nimbus_beacon_node --max-peers={n}",
        p2p_ports: "9000/tcp and 9000/udp",
        min_version: Some("24.2.0"),
        prune: "nimbus_beacon_node --history=prune (the default)",
    },
    Profile {
        name: "lodestar",
        layer: Layer::Consensus,
        peer_metrics: &[("libp2p_peers", None)],
        head_metric: Some("beacon_head_slot"),
        best_known_metric: None,
        target_peers: 100,
        peers_flag: "lodestar beacon --targetPeers {n}",
        p2p_ports: "9000/tcp and 9000/udp",
        min_version: Some("1.16.0"),
        prune: "resync with --checkpointSyncUrl to start from a fresh database",
    },
    Profile {
        name: "grandine",
        layer: Layer::Consensus,
        peer_metrics: CL_PEERS,
        head_metric: Some("beacon_head_slot"),
        best_known_metric: None,
        target_peers: 100,
        peers_flag: "grandine --target-peers {n}",
        p2p_ports: "9000/tcp and 9000/udp",
        min_version: None,
        prune: "grandine --prune-storage",
    },
    Profile {
        name: "geth",
        layer: Layer::Execution,
        peer_metrics: &[("p2p_peers", None)],
        head_metric: Some("chain_head_block"),
        best_known_metric: None,
        target_peers: 50,
        peers_flag: "geth --maxpeers {n}",
        p2p_ports: "30303/tcp and 30303/udp",
        min_version: Some("1.13.12"),
        prune: "run with --state.scheme=path (prunes online; hash-scheme databases: stop geth, then `geth snapshot prune-state`)",
    },
    Profile {
        name: "nethermind",
        layer: Layer::Execution,
        peer_metrics: &[("nethermind_sync_peers", None)],
        head_metric: Some("nethermind_blocks"),
        best_known_metric: None,
        target_peers: 50,
        peers_flag: "nethermind --Network.MaxActivePeers {n}",
        p2p_ports: "30303/tcp and 30303/udp",
        min_version: Some("1.25.4"),
        prune: "full pruning: --Pruning.Mode=Hybrid --Pruning.FullPruningTrigger=Manual, then call admin_prune",
    },
    Profile {
        name: "besu",
        layer: Layer::Execution,
        peer_metrics: &[("ethereum_peer_count", None)],
        head_metric: Some("ethereum_blockchain_height"),
        best_known_metric: Some("ethereum_best_known_block_number"),
        target_peers: 25,
        peers_flag: "besu --max-peers={n}",
        p2p_ports: "30303/tcp and 30303/udp",
        min_version: Some("24.1.2"),
        prune: "use --data-storage-format=BONSAI; prune old trie logs with `besu storage trie-log prune` while stopped",
    },
    Profile {
        name: "erigon",
        layer: Layer::Execution,
        peer_metrics: &[("p2p_peers", None)],
        head_metric: Some("chain_head_block"),
        best_known_metric: None,
        target_peers: 32,
        peers_flag: "erigon --maxpeers={n}",
        p2p_ports: "30303/tcp, 30303/udp and 42069/tcp+udp (snapshots)",
        min_version: Some("2.58.1"),
        prune: "erigon --prune=hrtc (keeps recent history only)",
    },
    Profile {
        name: "reth",
        layer: Layer::Execution,
        peer_metrics: &[("reth_network_connected_peers", None)],
        head_metric: None,
        best_known_metric: None,
        target_peers: 100,
        peers_flag: "reth node --max-outbound-peers {n}",
        p2p_ports: "30303/tcp and 30303/udp",
        min_version: None,
        prune: "run as a full node (`reth node --full`) instead of an archive node",
    },
];

/// The profile of a client name as the host reports it.
pub fn profile(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// Compare dotted versions numerically ("1.13.12" < "1.14.0"); suffixes are ignored.
pub fn version_below(version: &str, min: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> {
        s.trim_start_matches('v')
            .split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .map(|x| x.parse().unwrap_or(0))
            .collect()
    };
    let (a, b) = (parse(version), parse(min));
    for k in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(k).copied().unwrap_or(0),
            b.get(k).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}
