//! From collector observations to the store: validator outcome rows, network
//! iterations, and the node-side figures as series.
//!
//! Series written (labels in braces; slot-aligned ones snap to the slot grid):
//! - per beacon node: `beacon_head_lag_slots`, `beacon_peers`, `beacon_sync_distance`,
//!   `beacon_finalized_epoch`, `beacon_up` (1 reachable, 0 not) `{node}`;
//! - per execution node: `execution_block_number`, `execution_peers`,
//!   `execution_gas_price_wei`, `execution_block_age_seconds`, `execution_up` `{node}`;
//! - this machine: `system_disk_free_bytes`, `system_disk_total_bytes` `{path}`,
//!   `system_cpu_percent`, `system_memory_used_bytes`, `system_load1`;
//! - per slot: `chain_block_present` (1/0), `chain_sync_participation_ratio`;
//! - client `/metrics`: every scraped sample once per epoch, under its own name with its
//!   labels plus `target` (a per-slot copy would cost 20 M samples a day for one client).

use crate::collect::chain::{ChainState, Observation};
use crate::contract::{NodeInput, SlotInput};
use crate::model::NetworkIdentity;
use crate::store::{self, Sample, SeriesId, SeriesKey, SeriesKind, Store, StoreError, Writer};
use std::collections::HashMap;
use std::sync::Arc;

/// Writes what the collectors observe.
pub struct Recorder {
    store: Arc<Store>,
    writer: Writer,
    ids: HashMap<SeriesKey, SeriesId>,
    identity: Option<NetworkIdentity>,
    iteration: Option<u32>,
    last_metrics_epoch: Option<u64>,
}

impl Recorder {
    /// A recorder writing through `writer` (series ids are registered on `store`).
    pub fn new(store: Arc<Store>, writer: Writer) -> Recorder {
        Recorder {
            store,
            writer,
            ids: HashMap::new(),
            identity: None,
            iteration: None,
            last_metrics_epoch: None,
        }
    }

    /// The network iteration in force, once the chain is known.
    pub fn iteration(&self) -> Option<u32> {
        self.iteration
    }

    /// Record the chain's identity when it is new or changed. Returns the stored
    /// iteration and whether it is new to the store (a reset, or a first run).
    pub async fn identify(
        &mut self,
        chain: &ChainState,
        chain_id: Option<u64>,
    ) -> Result<Option<(u32, bool)>, StoreError> {
        let identity = NetworkIdentity {
            genesis_time: chain.genesis.genesis_time,
            genesis_validators_root: chain.genesis.genesis_validators_root.clone(),
            chain_id,
        };
        // The chain id arrives with the first execution poll: it completes, not changes,
        // the identity.
        let same = self.identity.as_ref().is_some_and(|i| {
            i.genesis_time == identity.genesis_time
                && i.genesis_validators_root == identity.genesis_validators_root
        });
        if same {
            return Ok(None);
        }
        let (iteration, is_new) = self
            .writer
            .record_identity(identity.clone(), chain.spec, crate::clock::now_ms())
            .await?;
        self.identity = Some(identity);
        self.iteration = Some(iteration);
        Ok(Some((iteration, is_new)))
    }

    fn ids(&mut self, keys: &[(SeriesKey, SeriesKind)]) -> Result<Vec<SeriesId>, StoreError> {
        let missing: Vec<(SeriesKey, SeriesKind)> = keys
            .iter()
            .filter(|(k, _)| !self.ids.contains_key(k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            // A small write, once per new series: fine to do in place.
            let new = tokio::task::block_in_place(|| self.store.register_series(&missing))?;
            for ((k, _), id) in missing.into_iter().zip(new) {
                self.ids.insert(k, id);
            }
        }
        Ok(keys
            .iter()
            .filter_map(|(k, _)| self.ids.get(k).copied())
            .collect())
    }

    async fn write(
        &mut self,
        points: Vec<(SeriesKey, SeriesKind, i64, f64)>,
    ) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        let keys: Vec<(SeriesKey, SeriesKind)> =
            points.iter().map(|p| (p.0.clone(), p.1)).collect();
        let ids = self.ids(&keys)?;
        let samples = ids
            .into_iter()
            .zip(points)
            .map(|(series, p)| Sample {
                series,
                ts_ms: p.2,
                value: p.3,
            })
            .collect();
        self.writer.send(store::Observation::Samples(samples)).await
    }

    /// Store one observation; `node` is the completed node input of a `Nodes` tick.
    pub async fn record(
        &mut self,
        o: &Observation,
        node: Option<&NodeInput>,
    ) -> Result<(), StoreError> {
        match o {
            Observation::Epoch {
                rows, iteration, ..
            } => {
                let iteration = self.iteration.unwrap_or(*iteration);
                self.writer
                    .send(store::Observation::Outcomes {
                        iteration,
                        rows: rows.clone(),
                    })
                    .await
            }
            Observation::Slot(s) => self.write(slot_points(s)).await,
            Observation::Nodes { .. } => match node {
                Some(n) => self.record_node(n).await,
                None => Ok(()),
            },
            Observation::Reset(_) => Ok(()),
        }
    }
}

impl Recorder {
    /// Store a completed node tick: node figures every tick, client metrics once an epoch.
    pub async fn record_node(&mut self, n: &NodeInput) -> Result<(), StoreError> {
        let mut points = node_points(n);
        let epoch = n
            .wall_slot
            .zip(n.network.as_ref())
            .map(|(s, net)| s / net.slots_per_epoch.max(1) as u64);
        if epoch.is_some() && epoch != self.last_metrics_epoch {
            self.last_metrics_epoch = epoch;
            points.extend(metric_points(n));
        }
        self.write(points).await
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    let labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SeriesKey::new(name, &labels)
}

fn slot_points(s: &SlotInput) -> Vec<(SeriesKey, SeriesKind, i64, f64)> {
    let t =
        (s.network.genesis_time as i64 + s.slot as i64 * s.network.seconds_per_slot as i64) * 1000;
    let mut p = Vec::new();
    match s.outcome {
        crate::contract::BlockOutcome::Proposed => {
            p.push((key("chain_block_present", &[]), SeriesKind::Slot, t, 1.0))
        }
        crate::contract::BlockOutcome::Missed => {
            p.push((key("chain_block_present", &[]), SeriesKind::Slot, t, 0.0))
        }
        _ => {}
    }
    if let Some(x) = s.sync_participation {
        p.push((
            key("chain_sync_participation_ratio", &[]),
            SeriesKind::Slot,
            t,
            x,
        ));
    }
    p
}

fn node_points(n: &NodeInput) -> Vec<(SeriesKey, SeriesKind, i64, f64)> {
    let t = n.timestamp_ms;
    let mut p = Vec::new();
    let mut add = |name: &str, labels: &[(&str, &str)], v: Option<f64>| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            p.push((key(name, labels), SeriesKind::Free, t, v));
        }
    };
    for c in &n.consensus {
        let l = [("node", c.name.as_str())];
        add("beacon_up", &l, Some(if c.reachable { 1.0 } else { 0.0 }));
        add(
            "beacon_head_lag_slots",
            &l,
            c.head_lag_slots.map(|x| x as f64),
        );
        add("beacon_peers", &l, c.peers.map(|x| x as f64));
        add(
            "beacon_sync_distance",
            &l,
            c.sync_distance.map(|x| x as f64),
        );
        add(
            "beacon_finalized_epoch",
            &l,
            c.finalized_epoch.map(|x| x as f64),
        );
    }
    for e in &n.execution {
        let l = [("node", e.name.as_str())];
        add(
            "execution_up",
            &l,
            Some(if e.reachable { 1.0 } else { 0.0 }),
        );
        add(
            "execution_block_number",
            &l,
            e.block_number.map(|x| x as f64),
        );
        add("execution_peers", &l, e.peers.map(|x| x as f64));
        add(
            "execution_gas_price_wei",
            &l,
            e.gas_price_wei.map(|x| x as f64),
        );
        add(
            "execution_block_age_seconds",
            &l,
            e.block_age_ms.map(|x| x as f64 / 1000.0),
        );
    }
    for d in &n.system.disks {
        let l = [("path", d.path.as_str())];
        add("system_disk_free_bytes", &l, Some(d.free_bytes as f64));
        add("system_disk_total_bytes", &l, Some(d.total_bytes as f64));
    }
    add("system_cpu_percent", &[], n.system.cpu_percent);
    add(
        "system_memory_used_bytes",
        &[],
        n.system.memory_used_bytes.map(|x| x as f64),
    );
    add("system_load1", &[], n.system.load1);
    p
}

fn metric_points(n: &NodeInput) -> Vec<(SeriesKey, SeriesKind, i64, f64)> {
    let mut p = Vec::new();
    for m in &n.metrics {
        for ((name, labels), value) in m.names.iter().zip(&m.labels).zip(&m.values) {
            if !value.is_finite() {
                continue;
            }
            let mut l = labels.clone();
            l.push(("target".to_string(), m.target.clone()));
            p.push((
                SeriesKey::new(name, &l),
                SeriesKind::Free,
                n.timestamp_ms,
                *value,
            ));
        }
    }
    p
}
