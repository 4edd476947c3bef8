//! The consensus side, slot by slot: node status, blocks, duties, liveness, rewards,
//! and per-epoch validator outcomes.
//!
//! ## Schedule (driven by the chain's clock, read from genesis and spec)
//! - every slot `s`, at [`SLOT_OFFSET`] into it: status of every node (syncing, peers,
//!   health, finality, head lag vs the wall clock); then slot `s-1` from the primary
//!   node: header, block (attestation inclusion, sync bits, withdrawals), rewards;
//! - first slot of epoch `e`: genesis (network reset check), proposer duties of `e` and
//!   `e+1`, attester and sync duties of `e+1`, validators (status, balances at the end
//!   of `e-1`);
//! - slot [`EPOCH_WORK_SLOT`] of epoch `e`: liveness of `e-1` and attestation rewards of
//!   `e-2` (the state they need exists only after `e-1` ends). Epoch `e-1` is then
//!   delivered preliminary (rewards unknown) and `e-2` final (rewards if the node had
//!   the state): a later delivery of an epoch supersedes an earlier one.
//!
//! Unknown stays unknown: a missing answer leaves its fields `None`. Every observation
//! names the node that served it; the primary is the first healthy node in config order.

use super::beacon::{
    AttestationRewards, AttesterDuty, BeaconApi, BeaconError, Genesis, NetworkSummary,
};
use super::events::{self, ChainEvent};
use crate::contract::{
    BlockOutcome, ClientVersion, ConsensusNode, EpochInput, LabelColumn, NetworkInfo, NetworkStats,
    Proposal, ResetInput, SlotInput, ValidatorColumns,
};
use crate::model::{ChainSpec, NetworkIdentity, ValidatorEpoch};
use std::collections::{BTreeMap, HashMap};
use tokio::sync::mpsc;

/// How far into a slot its work starts, as a fraction: after the block's usual arrival
/// (a third of a slot is the attestation deadline), early enough to finish in the slot.
pub const SLOT_OFFSET: f64 = 0.4;
/// Slot of each epoch at which the previous epoch's liveness and rewards are fetched.
pub const EPOCH_WORK_SLOT: u64 = 4;
/// Weight of the latest tick in a node's health score (an exponential average).
const SCORE_WEIGHT: f64 = 0.3;
/// Score a node needs to be (or become again) the preferred primary: about four good
/// ticks in a row after a failure.
const PREFERRED_SCORE: f64 = 0.75;
/// Slots a head may trail the wall clock and the node still count as healthy: a late
/// block is normal, three slots behind is not.
const MAX_HEALTHY_HEAD_LAG: i64 = 2;
/// Epochs of accumulators kept (the current, two being completed, one spare).
const EPOCHS_KEPT: u64 = 4;

/// What the collector hands on.
// Observations are moved once, from the collector to the evaluator: boxing the
// large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Observation {
    /// Status of every configured beacon node.
    Nodes {
        timestamp_ms: i64,
        wall_slot: Option<u64>,
        nodes: Vec<ConsensusNode>,
        network: Option<NetworkInfo>,
    },
    Slot(SlotInput),
    Epoch {
        input: EpochInput,
        rows: Vec<ValidatorEpoch>,
        iteration: u32,
        identity: NetworkIdentity,
    },
    Reset(ResetInput),
}

/// One configured beacon node.
pub struct BeaconNode {
    pub name: String,
    pub api: BeaconApi,
    client: Option<ClientVersion>,
    healthy: bool,
    /// Moving average of healthy ticks, 0..1.
    score: f64,
    reorgs: (u64, u64),
    events: mpsc::Receiver<ChainEvent>,
}

/// Identity and constants of the chain being watched.
#[derive(Debug, Clone)]
pub struct ChainState {
    pub genesis: Genesis,
    pub spec: ChainSpec,
    pub iteration: u32,
    pub info: NetworkInfo,
}

impl ChainState {
    /// Wall slot at `now_ms` (None before genesis).
    pub fn slot_at(&self, now_ms: i64) -> Option<u64> {
        let since = now_ms - self.genesis.genesis_time as i64 * 1000;
        (since >= 0).then(|| since as u64 / (self.spec.seconds_per_slot * 1000))
    }

    /// Start of `slot`, Unix ms.
    pub fn slot_start_ms(&self, slot: u64) -> i64 {
        (self.genesis.genesis_time + slot * self.spec.seconds_per_slot) as i64 * 1000
    }
}

#[derive(Debug, Default)]
struct SlotSeen {
    /// `None`: no block (missed); `Some(proposer, root)`.
    block: Option<(u64, String)>,
    sync_bits: Vec<bool>,
    reward: Option<i64>,
}

/// Everything gathered about one epoch.
#[derive(Debug, Default)]
struct EpochAcc {
    proposers: Vec<(u64, u64)>,
    attester: HashMap<u64, AttesterDuty>,
    sync_seats: HashMap<u64, Vec<u64>>,
    slots: BTreeMap<u64, SlotSeen>,
    /// Earliest slot each watched validator's attestation was included.
    inclusion: HashMap<u64, u64>,
    liveness: Option<HashMap<u64, bool>>,
    rewards: Option<AttestationRewards>,
    sync_rewards: HashMap<u64, i64>,
    withdrawals: HashMap<u64, i64>,
    /// Deposits credited to watched validators by this epoch's blocks, gwei.
    deposits: HashMap<u64, i64>,
    /// Slots of this epoch whose block could not be read (deposits and withdrawals are
    /// then unknown, never zero).
    blocks_unread: u32,
    /// Union of included aggregation bits per `(slot, committee)` of this epoch's duties,
    /// from every block read: the observed participation of the whole network.
    att_bits: HashMap<(u64, u64), Vec<bool>>,
    /// Active validators and total active balance at the end of the epoch.
    network: Option<NetworkSummary>,
    /// Validators at the end of the epoch: (status, balance, effective, slashed).
    end_state: HashMap<u64, (u8, i64, i64, bool)>,
    node: u16,
    /// Slots whose block, once seen, left the canonical chain: slot → its proposer.
    orphaned: BTreeMap<u64, u64>,
    /// Delivered with `finalized` set: nothing about it will change any more.
    finalized_delivered: bool,
}

/// Follows the beacon nodes and turns what they serve into observations.
pub struct ChainCollector {
    network_name: String,
    nodes: Vec<BeaconNode>,
    validators: Vec<u64>,
    chain: Option<ChainState>,
    epochs: BTreeMap<u64, EpochAcc>,
    last_slot_done: Option<u64>,
    /// Block arrival times (ms after slot start) from the event stream.
    seen_at: HashMap<u64, i64>,
    /// Latest finalized epoch the primary reported.
    finalized_epoch: Option<u64>,
    /// Watched validators in the next sync committee period, and the period it is for.
    next_sync: (u64, Vec<u64>),
    /// Public keys of watched validators (lower-case hex): deposits name keys.
    pubkeys: HashMap<String, u64>,
    /// The last network summary read and the epoch it was read at: on a large network it
    /// stands for the next epochs (see [`NETWORK_SUMMARY_MAX_VALIDATORS`]).
    network_summary: Option<(u64, NetworkSummary)>,
}

impl ChainCollector {
    /// Follow `nodes` (name, base URL), judging `validators` (indices, sorted here).
    /// Starts one event-stream task per node on the current tokio runtime.
    pub fn new(
        network_name: &str,
        nodes: &[(String, String)],
        validators: &[u64],
        http: reqwest::Client,
    ) -> ChainCollector {
        let nodes = nodes
            .iter()
            .map(|(name, url)| {
                let (tx, rx) = mpsc::channel(256);
                tokio::spawn(events::follow(
                    url.trim_end_matches('/').to_string(),
                    http.clone(),
                    tx,
                ));
                BeaconNode {
                    name: name.clone(),
                    api: BeaconApi::new(url, http.clone()),
                    client: None,
                    healthy: true,
                    score: 1.0,
                    reorgs: (0, 0),
                    events: rx,
                }
            })
            .collect();
        let mut validators = validators.to_vec();
        validators.sort_unstable();
        validators.dedup();
        ChainCollector {
            network_name: network_name.to_string(),
            nodes,
            validators,
            chain: None,
            epochs: BTreeMap::new(),
            last_slot_done: None,
            seen_at: HashMap::new(),
            finalized_epoch: None,
            next_sync: (u64::MAX, Vec::new()),
            pubkeys: HashMap::new(),
            network_summary: None,
        }
    }

    /// Use the store's numbering of network iterations (it survives restarts).
    pub fn set_iteration(&mut self, iteration: u32) {
        if let Some(c) = self.chain.as_mut() {
            c.iteration = iteration;
            c.info.iteration = iteration;
        }
    }

    /// The chain being watched, once a node told us.
    pub fn chain(&self) -> Option<&ChainState> {
        self.chain.as_ref()
    }

    /// Unix ms at which the next tick should run, from `now_ms`.
    pub fn next_tick_ms(&self, now_ms: i64, fallback_ms: i64) -> i64 {
        match &self.chain {
            Some(c) => {
                let slot_ms = (c.spec.seconds_per_slot * 1000) as i64;
                let offset = (slot_ms as f64 * SLOT_OFFSET) as i64;
                let next = match c.slot_at(now_ms - offset) {
                    Some(s) => c.slot_start_ms(s + 1) + offset,
                    None => c.slot_start_ms(0) + offset,
                };
                next.max(now_ms + 1)
            }
            None => now_ms + fallback_ms,
        }
    }

    /// The node to ask: the first in config order that is healthy now and has been
    /// steadily ([`PREFERRED_SCORE`]); else the healthy one with the best score; else
    /// the first. The score makes a node that flaps lose the primary role until it has
    /// been good for a few ticks.
    fn primary(&self) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.healthy && n.score >= PREFERRED_SCORE)
            .or_else(|| {
                (0..self.nodes.len())
                    .filter(|&i| self.nodes[i].healthy)
                    .max_by(|&a, &b| {
                        self.nodes[a]
                            .score
                            .total_cmp(&self.nodes[b].score)
                            .then(b.cmp(&a))
                    })
            })
            .or((!self.nodes.is_empty()).then_some(0))
    }

    /// Health scores of the nodes (0..1, an average of recent ticks), in config order.
    pub fn health_scores(&self) -> Vec<(String, f64)> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.score))
            .collect()
    }

    /// Run a request on the primary node, falling back to the others in order.
    async fn on_primary<T>(
        &mut self,
        what: &str,
        f: impl AsyncFn(&BeaconApi) -> Result<T, BeaconError>,
    ) -> Option<(T, u16)> {
        let start = self.primary()?;
        let n = self.nodes.len();
        for k in 0..n {
            let i = (start + k) % n;
            match f(&self.nodes[i].api).await {
                Ok(v) => return Some((v, i as u16)),
                Err(e) => {
                    tracing::warn!(node = %self.nodes[i].name, "{what} failed: {e}");
                    if !e.is_missing() {
                        self.nodes[i].healthy = false;
                    } else {
                        // The node is up; the data is not there. Another node will not
                        // have it either, usually.
                        return None;
                    }
                }
            }
        }
        None
    }

    /// One tick: status of all nodes, then whatever the chain's schedule says is due.
    pub async fn tick(&mut self, now_ms: i64) -> Vec<Observation> {
        let mut out = Vec::new();
        self.drain_events();
        if let Some(reset) = self.ensure_chain(now_ms).await {
            out.push(reset);
        }
        let wall_slot = self.chain.as_ref().and_then(|c| c.slot_at(now_ms));
        let mut statuses = Vec::with_capacity(self.nodes.len());
        for i in 0..self.nodes.len() {
            statuses.push(self.node_status(i, wall_slot).await);
        }
        if let Some(p) = self.primary() {
            self.finalized_epoch = statuses[p].finalized_epoch.or(self.finalized_epoch);
        }
        out.push(Observation::Nodes {
            timestamp_ms: now_ms,
            wall_slot,
            nodes: statuses,
            network: self.chain.as_ref().map(|c| c.info.clone()),
        });
        let (Some(chain), Some(wall)) = (self.chain.clone(), wall_slot) else {
            return out;
        };
        // Catch up on every completed slot since the last tick (bounded: a long outage
        // resumes from the last epoch rather than replaying hours).
        let first = match self.last_slot_done {
            Some(done) => (done + 1).max(wall.saturating_sub(chain.spec.slots_per_epoch * 2)),
            None => wall.saturating_sub(1),
        };
        for slot in first..wall {
            self.process_slot(&chain, slot, &mut out).await;
            self.last_slot_done = Some(slot);
        }
        out
    }

    fn drain_events(&mut self) {
        let chain = self.chain.clone();
        let mut reread_from: Option<u64> = None;
        for node in &mut self.nodes {
            while let Ok(ev) = node.events.try_recv() {
                match ev {
                    ChainEvent::Reorg { slot, depth } => {
                        node.reorgs.0 += 1;
                        node.reorgs.1 = node.reorgs.1.max(depth);
                        tracing::warn!(node = %node.name, slot, depth, "chain reorganisation: re-reading the slots it replaced");
                        // Re-read the replaced slots: a block that is gone is an orphan.
                        let from = slot.saturating_sub(depth);
                        reread_from = Some(reread_from.map_or(from, |r: u64| r.min(from)));
                    }
                    ChainEvent::Block { slot, .. } => {
                        if let Some(c) = &chain {
                            let now = crate::clock::now_ms();
                            self.seen_at
                                .entry(slot)
                                .or_insert(now - c.slot_start_ms(slot));
                        }
                    }
                    ChainEvent::Disconnected { reason } => {
                        tracing::debug!(node = %node.name, "event stream: {reason}")
                    }
                    _ => {}
                }
            }
        }
        if let (Some(from), Some(done)) = (reread_from, self.last_slot_done)
            && from <= done
        {
            self.last_slot_done = from.checked_sub(1);
        }
    }

    /// Read genesis and spec if unknown; detect a new network iteration.
    async fn ensure_chain(&mut self, now_ms: i64) -> Option<Observation> {
        let due = match &self.chain {
            None => true,
            // Check identity at each epoch start: an Ephemery reset is seen within an epoch.
            Some(c) => c
                .slot_at(now_ms)
                .is_some_and(|s| s % c.spec.slots_per_epoch == 0),
        };
        if !due {
            return None;
        }
        let (genesis, _) = self
            .on_primary("genesis", async |api| api.genesis().await)
            .await?;
        if self.chain.as_ref().is_some_and(|c| c.genesis == genesis) {
            return None;
        }
        let (spec, _) = self
            .on_primary("spec", async |api| api.spec().await)
            .await?;
        let previous = self.chain.take();
        let iteration = previous.as_ref().map_or(1, |p| p.iteration + 1);
        let info = NetworkInfo {
            name: self.network_name.clone(),
            iteration,
            genesis_time: genesis.genesis_time,
            genesis_validators_root: genesis.genesis_validators_root.clone(),
            chain_id: None,
            seconds_per_slot: spec.seconds_per_slot as u32,
            slots_per_epoch: spec.slots_per_epoch as u32,
            epochs_per_sync_committee_period: spec.epochs_per_sync_committee_period as u32,
            sync_committee_size: spec.sync_committee_size as u32,
        };
        tracing::info!(
            network = %self.network_name, iteration, genesis_time = genesis.genesis_time,
            seconds_per_slot = spec.seconds_per_slot, slots_per_epoch = spec.slots_per_epoch, "chain identified"
        );
        self.chain = Some(ChainState {
            genesis,
            spec,
            iteration,
            info: info.clone(),
        });
        self.epochs.clear();
        self.last_slot_done = None;
        previous.map(|p| {
            tracing::warn!(network = %self.network_name, old = p.iteration, new = iteration, "network reset: a new genesis; history is kept per iteration");
            Observation::Reset(ResetInput { previous: Some(p.info), current: info, detected_at_ms: now_ms })
        })
    }

    async fn node_status(&mut self, i: usize, wall_slot: Option<u64>) -> ConsensusNode {
        let api = self.nodes[i].api.clone();
        let mut st = ConsensusNode {
            name: self.nodes[i].name.clone(),
            reachable: true,
            error: None,
            client: self.nodes[i].client.clone(),
            is_syncing: None,
            sync_distance: None,
            is_optimistic: None,
            el_offline: None,
            head_slot: None,
            head_lag_slots: None,
            finalized_epoch: None,
            justified_epoch: None,
            peers: None,
            health_code: None,
            reorg_count: self.nodes[i].reorgs.0,
            reorg_max_depth: self.nodes[i].reorgs.1,
        };
        match api.syncing().await {
            Ok(s) => {
                st.is_syncing = Some(s.is_syncing);
                st.sync_distance = Some(s.sync_distance);
                st.is_optimistic = s.is_optimistic;
                st.el_offline = s.el_offline;
                st.head_slot = Some(s.head_slot);
                st.head_lag_slots = wall_slot.map(|w| w as i64 - s.head_slot as i64);
            }
            Err(e) => {
                st.reachable = !matches!(
                    e,
                    BeaconError::Unreachable { .. } | BeaconError::Timeout { .. }
                );
                st.error = Some(e.to_string());
                self.nodes[i].healthy = false;
                if !st.reachable {
                    let node = &mut self.nodes[i];
                    node.score *= 1.0 - SCORE_WEIGHT;
                    return st;
                }
            }
        }
        if st.client.is_none()
            && let Ok(v) = api.version().await
        {
            let parsed = super::client::parse_client_version(&v);
            tracing::info!(node = %self.nodes[i].name, client = %parsed.name, version = ?parsed.version, "beacon node identified");
            self.nodes[i].client = Some(parsed.clone());
            st.client = Some(parsed);
        }
        st.peers = api.peer_count().await.ok();
        st.health_code = api.health().await.ok();
        if let Ok((fin, just)) = api.finality().await {
            st.finalized_epoch = Some(fin);
            st.justified_epoch = Some(just);
        }
        // Healthy: answering, synced, and its head keeping up with the clock.
        let ok = st.error.is_none()
            && st.is_syncing == Some(false)
            && st.head_lag_slots.is_none_or(|l| l <= MAX_HEALTHY_HEAD_LAG);
        let node = &mut self.nodes[i];
        node.score = node.score * (1.0 - SCORE_WEIGHT) + if ok { SCORE_WEIGHT } else { 0.0 };
        if node.healthy != ok {
            tracing::info!(node = %node.name, healthy = ok, score = format!("{:.2}", node.score), "beacon node health changed");
        }
        node.healthy = ok;
        st
    }

    fn acc(&mut self, epoch: u64) -> &mut EpochAcc {
        self.epochs.entry(epoch).or_default()
    }

    async fn process_slot(&mut self, chain: &ChainState, slot: u64, out: &mut Vec<Observation>) {
        let spe = chain.spec.slots_per_epoch;
        let epoch = slot / spe;
        let in_epoch = slot % spe;
        let watched = self.validators.clone();
        // Epoch start: duties and end-of-previous-epoch validator state.
        if in_epoch == 0 {
            // The current epoch's proposers are always (re)read at its start: some clients
            // (Lodestar 1.5.1) answer next-epoch requests with the wrong slots, so the
            // early look at `e+1` is provisional — for "duty soon" notices only.
            for e in [epoch, epoch + 1] {
                if (e == epoch || self.epochs.get(&e).is_none_or(|a| a.proposers.is_empty()))
                    && let Some((d, node)) = self
                        .on_primary("proposer duties", async |api| api.proposer_duties(e).await)
                        .await
                {
                    let a = self.acc(e);
                    // A duty outside its epoch is a mislabelled answer: keep none of it.
                    a.proposers = if d.iter().all(|(slot, _)| slot / spe == e) {
                        d
                    } else {
                        Vec::new()
                    };
                    a.node = node;
                }
            }
            for e in [epoch, epoch + 1] {
                if self.epochs.get(&e).is_none_or(|a| a.attester.is_empty())
                    && !watched.is_empty()
                    && let Some((d, _)) = self
                        .on_primary("attester duties", async |api| {
                            api.attester_duties(e, &watched).await
                        })
                        .await
                {
                    self.acc(e).attester = d.into_iter().map(|d| (d.validator, d)).collect();
                }
                if self.epochs.get(&e).is_none_or(|a| a.sync_seats.is_empty())
                    && !watched.is_empty()
                    && let Some((d, _)) = self
                        .on_primary("sync duties", async |api| {
                            api.sync_duties(e, &watched).await
                        })
                        .await
                {
                    self.acc(e).sync_seats = d.into_iter().collect();
                }
            }
            // Next period's sync committee, once per period: "a sync duty is coming".
            let period_len = chain.spec.epochs_per_sync_committee_period.max(1);
            let next_period = epoch / period_len + 1;
            if self.next_sync.0 != next_period && !watched.is_empty() {
                let first = next_period * period_len;
                if let Some((d, _)) = self
                    .on_primary("next sync duties", async |api| {
                        api.sync_duties(first, &watched).await
                    })
                    .await
                {
                    self.next_sync = (next_period, d.into_iter().map(|(v, _)| v).collect());
                }
            }
            if epoch > 0
                && !watched.is_empty()
                && let Some((vals, _)) = self
                    .on_primary("validators", async |api| api.validators(&watched).await)
                    .await
            {
                for v in &vals {
                    if !v.pubkey.is_empty() {
                        self.pubkeys.insert(v.pubkey.to_ascii_lowercase(), v.index);
                    }
                }
                self.acc(epoch - 1).end_state = vals
                    .into_iter()
                    .map(|v| {
                        (
                            v.index,
                            (v.status, v.balance, v.effective_balance, v.slashed),
                        )
                    })
                    .collect();
            }
        }
        if in_epoch == 0 && epoch > 0 {
            let cached = self
                .network_summary
                .filter(|(read_at, n)| summary_stands(n, *read_at, epoch));
            let summary = match cached {
                Some((_, n)) => Some(n),
                None => {
                    let read = self
                        .on_primary("network validators", async |api| {
                            api.network_summary().await
                        })
                        .await
                        .map(|(n, _)| n);
                    if let Some(n) = read {
                        if n.total_validators > NETWORK_SUMMARY_MAX_VALIDATORS
                            && self.network_summary.is_none()
                        {
                            tracing::info!(
                                validators = n.total_validators,
                                "large network: its validator list (total active balance for network APR) is read once every {LARGE_NETWORK_SUMMARY_EPOCHS} epochs"
                            );
                        }
                        self.network_summary = Some((epoch, n));
                    }
                    read
                }
            };
            if let Some(n) = summary {
                self.acc(epoch - 1).network = Some(n);
            }
        }
        // The slot's block.
        let header = self
            .on_primary("header", async |api| api.header(&slot.to_string()).await)
            .await;
        let mut seen = SlotSeen::default();
        let mut node_name = String::new();
        let mut slot_input_extra = (0u32, None, None, None);
        if let Some((h, node)) = header {
            node_name = self.nodes[node as usize].name.clone();
            if let Some(h) = h {
                seen.block = Some((h.proposer, h.root.clone()));
                let block = self
                    .on_primary("block", async |api| api.block(&slot.to_string()).await)
                    .await;
                if !matches!(block, Some((Some(_), _))) {
                    self.acc(epoch).blocks_unread += 1;
                }
                if let Some((Some(b), _)) = block {
                    for att in &b.attestations {
                        let duty_epoch = att.slot / spe;
                        if let Some(acc) = self.epochs.get_mut(&duty_epoch) {
                            let bits = acc
                                .att_bits
                                .entry((att.slot, att.committee_index))
                                .or_default();
                            if bits.len() < att.bits.len() {
                                bits.resize(att.bits.len(), false);
                            }
                            for (k, set) in att.bits.iter().enumerate() {
                                bits[k] |= *set;
                            }
                            for d in acc.attester.values() {
                                if d.slot == att.slot
                                    && d.committee_index == att.committee_index
                                    && att.bits.get(d.position as usize) == Some(&true)
                                {
                                    let e = acc.inclusion.entry(d.validator).or_insert(slot);
                                    *e = (*e).min(slot);
                                }
                            }
                        }
                    }
                    seen.sync_bits = b.sync_bits.clone();
                    let (w, d) = (b.withdrawals.clone(), b.deposits.clone());
                    let acc = self.acc(epoch);
                    for (v, amount) in w {
                        if watched.binary_search(&v).is_ok() {
                            *acc.withdrawals.entry(v).or_insert(0) += amount;
                        }
                    }
                    for (key, amount) in d {
                        if let Some(&v) = self.pubkeys.get(&key) {
                            *self.acc(epoch).deposits.entry(v).or_insert(0) += amount;
                        }
                    }
                    let part = (!b.sync_bits.is_empty()).then(|| {
                        b.sync_bits.iter().filter(|x| **x).count() as f64 / b.sync_bits.len() as f64
                    });
                    slot_input_extra = (
                        b.attestations.len() as u32,
                        part,
                        b.execution_block_number,
                        b.fee_recipient.clone(),
                    );
                }
                if let Some((r, _)) = self
                    .on_primary("block reward", async |api| api.block_reward(slot).await)
                    .await
                {
                    seen.reward = r;
                }
                if !watched.is_empty()
                    && let Some((Some(r), _)) = self
                        .on_primary("sync rewards", async |api| {
                            api.sync_rewards(slot, &watched).await
                        })
                        .await
                {
                    let acc = self.acc(epoch);
                    for (v, amount) in r {
                        *acc.sync_rewards.entry(v).or_insert(0) += amount;
                    }
                }
            }
        }
        if node_name.is_empty() {
            self.acc(epoch).blocks_unread += 1;
        }
        let proposer_duty = self
            .epochs
            .get(&epoch)
            .and_then(|a| a.proposers.iter().find(|p| p.0 == slot).map(|p| p.1));
        let outcome = match (&seen.block, &node_name) {
            (Some(_), _) => BlockOutcome::Proposed,
            (None, n) if !n.is_empty() => BlockOutcome::Missed,
            _ => BlockOutcome::Unknown,
        };
        if outcome == BlockOutcome::Missed
            && let Some(p) = proposer_duty.filter(|p| self.validators.binary_search(p).is_ok())
        {
            tracing::warn!(
                validator = p,
                slot,
                "missed proposal: no block at the validator's slot"
            );
        }
        out.push(Observation::Slot(SlotInput {
            network: chain.info.clone(),
            slot,
            epoch,
            proposer: seen.block.as_ref().map(|b| b.0).or(proposer_duty),
            proposer_watched: proposer_duty
                .is_some_and(|p| self.validators.binary_search(&p).is_ok()),
            outcome,
            block_root: seen.block.as_ref().map(|b| b.1.clone()),
            parent_root: None,
            attestations: slot_input_extra.0,
            sync_participation: slot_input_extra.1,
            proposer_reward: seen.reward,
            seen_at_ms: self.seen_at.remove(&slot),
            execution_block_number: slot_input_extra.2,
            fee_recipient: slot_input_extra.3,
            node: node_name,
        }));
        let acc = self.acc(epoch);
        if let Some(SlotSeen {
            block: Some((proposer, root)),
            ..
        }) = acc.slots.get(&slot)
            && seen.block.as_ref().is_none_or(|b| &b.1 != root)
        {
            tracing::warn!(
                validator = proposer,
                slot,
                "block orphaned: it left the canonical chain"
            );
            acc.orphaned.insert(slot, *proposer);
        }
        acc.slots.insert(slot, seen);

        // Mid-epoch: the previous epochs' liveness and rewards; deliver them.
        if in_epoch == EPOCH_WORK_SLOT.min(spe - 1) && epoch >= 1 && !watched.is_empty() {
            let prev = epoch - 1;
            if let Some((Some(l), _)) = self
                .on_primary("liveness", async |api| api.liveness(prev, &watched).await)
                .await
            {
                self.acc(prev).liveness = Some(l.into_iter().collect());
            }
            if epoch >= 2 {
                let final_epoch = epoch - 2;
                if let Some((Some(r), _)) = self
                    .on_primary("attestation rewards", async |api| {
                        api.attestation_rewards(final_epoch, &watched).await
                    })
                    .await
                {
                    self.acc(final_epoch).rewards = Some(r);
                }
                if self.epochs.contains_key(&final_epoch) {
                    out.push(self.deliver(chain, final_epoch, true));
                    if self.finalized_epoch.is_some_and(|f| final_epoch < f)
                        && let Some(a) = self.epochs.get_mut(&final_epoch)
                    {
                        a.finalized_delivered = true;
                    }
                }
            }
            out.push(self.deliver(chain, prev, false));
            // Epochs that finality has since covered: delivered once more, marked
            // finalized (their rows can no longer change).
            let finalized: Vec<u64> = self
                .epochs
                .iter()
                .filter(|(e, a)| {
                    **e + 2 <= epoch
                        && !a.finalized_delivered
                        && self.finalized_epoch.is_some_and(|f| **e < f)
                })
                .map(|(e, _)| *e)
                .collect();
            for e in finalized {
                let o = self.deliver(chain, e, true);
                if let Some(a) = self.epochs.get_mut(&e) {
                    a.finalized_delivered = true;
                }
                out.push(o);
            }
            let keep_from = epoch.saturating_sub(EPOCHS_KEPT);
            self.epochs.retain(|e, _| *e >= keep_from);
        }
    }

    /// Build the epoch's rows and plugin input from what was gathered.
    fn deliver(&mut self, chain: &ChainState, epoch: u64, complete: bool) -> Observation {
        let spe = chain.spec.slots_per_epoch;
        let finalized_epoch = self.finalized_epoch;
        let acc = self.epochs.entry(epoch).or_default();
        let blocks_in_epoch: Vec<u64> = acc
            .slots
            .iter()
            .filter(|(_, s)| s.block.is_some())
            .map(|(s, _)| *s)
            .collect();
        let first_block_after = |slot: u64| -> Option<u64> {
            (slot + 1..slot + 1 + spe).find(|s| {
                let e = s / spe;
                if e == epoch {
                    acc.slots.get(s).is_some_and(|x| x.block.is_some())
                } else {
                    true // next epoch's blocks are not kept here: assume the best case
                }
            })
        };
        // Deposits and withdrawals are known when every slot of the epoch was read.
        let flows_known = acc.slots.len() as u64 == spe && acc.blocks_unread == 0;
        let mut rows = Vec::with_capacity(self.validators.len());
        for &v in &self.validators {
            let end = acc.end_state.get(&v).copied();
            let reward = acc
                .rewards
                .as_ref()
                .and_then(|r| r.totals.iter().find(|t| t.validator == v));
            let ideal = match (acc.rewards.as_ref(), end) {
                (Some(r), Some((_, _, eff, _))) => r.ideal_for(eff),
                _ => None,
            };
            let duty = acc.attester.get(&v);
            let included = acc.inclusion.get(&v).copied();
            let live = acc.liveness.as_ref().and_then(|l| l.get(&v).copied());
            // Flags from rewards. A positive reward is a correct, timely vote; a negative
            // one (target, source) a missed one. Zero is ambiguous: during an inactivity
            // leak the ideal is zero too and a participating validator earns exactly 0,
            // while head votes are never penalised — so zero means "ok" only for target
            // and source while the ideal is zero, and is unknown for head then.
            let judge =
                |actual: Option<i64>, ideal: Option<i64>, penalised: bool| match (actual, ideal) {
                    (Some(a), _) if a > 0 => Some(true),
                    (Some(a), _) if a < 0 => Some(false),
                    (Some(_), Some(i)) if i > 0 => Some(false),
                    (Some(_), Some(_)) if penalised => Some(true),
                    _ => None,
                };
            let head_ok = judge(reward.map(|r| r.head), ideal.map(|i| i.head), false);
            let target_ok = judge(reward.map(|r| r.target), ideal.map(|i| i.target), true);
            let source_ok = judge(reward.map(|r| r.source), ideal.map(|i| i.source), true);
            let attested = match (target_ok, source_ok) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => live.or(included.map(|_| true)),
            };
            let proposals: Vec<&(u64, u64)> = acc.proposers.iter().filter(|p| p.1 == v).collect();
            let made = proposals
                .iter()
                .filter(|p| {
                    acc.slots
                        .get(&p.0)
                        .and_then(|s| s.block.as_ref())
                        .is_some_and(|b| b.0 == v)
                })
                .count();
            let proposal_reward: Option<i64> = proposals
                .iter()
                .map(|p| acc.slots.get(&p.0).and_then(|s| s.reward))
                .try_fold(0i64, |sum, r| r.map(|r| sum + r));
            let seats = acc.sync_seats.get(&v);
            let (mut signed, mut expected) = (0u8, 0u8);
            if let Some(seats) = seats {
                for s in &blocks_in_epoch {
                    if let Some(seen) = acc.slots.get(s) {
                        expected += 1;
                        if seats
                            .iter()
                            .any(|&k| seen.sync_bits.get(k as usize) == Some(&true))
                        {
                            signed += 1;
                        }
                    }
                }
            }
            rows.push(ValidatorEpoch {
                validator: v,
                epoch,
                status: end.map_or(9, |e| e.0),
                slashed: end.map(|e| e.3),
                balance: end.map(|e| e.1),
                effective_balance: end.map(|e| e.2),
                attested,
                inclusion_delay: match (duty, included) {
                    (Some(d), Some(s)) => Some((s - d.slot) as u32),
                    _ => None,
                },
                earliest_inclusion_delay: duty
                    .and_then(|d| first_block_after(d.slot).map(|s| (s - d.slot) as u32)),
                head_ok,
                target_ok,
                source_ok,
                reward_head: reward.map(|r| r.head),
                reward_target: reward.map(|r| r.target),
                reward_source: reward.map(|r| r.source),
                reward_inactivity: reward.map(|r| r.inactivity),
                ideal_head: ideal.map(|i| i.head),
                ideal_target: ideal.map(|i| i.target),
                ideal_source: ideal.map(|i| i.source),
                proposals_assigned: proposals.len() as u8,
                proposals_made: made as u8,
                proposals_orphaned: acc.orphaned.values().filter(|p| **p == v).count() as u8,
                proposal_reward: if proposals.is_empty() {
                    None
                } else {
                    proposal_reward
                },
                sync_member: seats
                    .map(|_| true)
                    .or(Some(false))
                    .filter(|_| !acc.sync_seats.is_empty()),
                sync_signed: signed,
                sync_expected: expected,
                sync_reward: acc.sync_rewards.get(&v).copied(),
                deposits: if flows_known {
                    acc.deposits.get(&v).copied().unwrap_or(0)
                } else {
                    i64::MIN
                },
                withdrawals: if flows_known {
                    acc.withdrawals.get(&v).copied().unwrap_or(0)
                } else {
                    i64::MIN
                },
                finalized: complete && finalized_epoch.is_some_and(|f| epoch < f),
                node: acc.node,
            });
        }
        let node_name = self
            .nodes
            .get(acc.node as usize)
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let sync_part: Vec<f64> = acc
            .slots
            .values()
            .filter(|s| !s.sync_bits.is_empty())
            .map(|s| s.sync_bits.iter().filter(|b| **b).count() as f64 / s.sync_bits.len() as f64)
            .collect();
        let proposals: Vec<Proposal> = acc
            .proposers
            .iter()
            .filter(|p| self.validators.binary_search(&p.1).is_ok())
            .map(|&(slot, validator)| Proposal {
                slot,
                validator,
                outcome: match acc.slots.get(&slot) {
                    Some(SlotSeen {
                        block: Some((p, _)),
                        ..
                    }) if *p == validator => BlockOutcome::Proposed,
                    // Seen, then gone from the canonical chain.
                    _ if acc.orphaned.get(&slot) == Some(&validator) => BlockOutcome::Orphaned,
                    Some(SlotSeen { block: None, .. }) => BlockOutcome::Missed,
                    _ => BlockOutcome::Unknown,
                },
                reward: acc.slots.get(&slot).and_then(|s| s.reward),
            })
            .collect();
        let stats = network_stats(acc, &sync_part);
        let upcoming: Vec<Proposal> = self
            .epochs
            .range(epoch + 1..)
            .flat_map(|(_, a)| a.proposers.iter())
            .filter(|p| self.validators.binary_search(&p.1).is_ok())
            .map(|&(slot, validator)| Proposal {
                slot,
                validator,
                outcome: BlockOutcome::Unknown,
                reward: None,
            })
            .collect();
        let input = EpochInput {
            network: chain.info.clone(),
            epoch,
            finalized: rows.first().is_some_and(|r| r.finalized),
            validators: columns(&rows, &node_name),
            proposals,
            upcoming_proposals: upcoming,
            next_sync_committee: self.next_sync.1.clone(),
            network_stats: stats,
        };
        Observation::Epoch {
            input,
            rows,
            iteration: chain.iteration,
            identity: NetworkIdentity {
                genesis_time: chain.genesis.genesis_time,
                genesis_validators_root: chain.genesis.genesis_validators_root.clone(),
                chain_id: None,
            },
        }
    }
}

/// Above this many validators (about 25 MB of JSON) the whole validator list is not read
/// every epoch but every [`LARGE_NETWORK_SUMMARY_EPOCHS`]: the total active balance
/// moves by well under 0.1 % a day, far less than the APR's other uncertainties.
const NETWORK_SUMMARY_MAX_VALIDATORS: u64 = 100_000;
/// How long a large network's summary stands: 225 epochs, one mainnet day.
const LARGE_NETWORK_SUMMARY_EPOCHS: u64 = 225;
/// `EFFECTIVE_BALANCE_INCREMENT` (gwei) and `BASE_REWARD_FACTOR`: equal in every preset.
const EFFECTIVE_BALANCE_INCREMENT: i64 = 1_000_000_000;
const BASE_REWARD_FACTOR: i64 = 64;
/// Altair's `TIMELY_TARGET_WEIGHT` / `WEIGHT_DENOMINATOR`.
const TIMELY_TARGET_WEIGHT: f64 = 26.0;
const WEIGHT_DENOMINATOR: f64 = 64.0;

/// Whether a network summary read at epoch `read_at` still stands at `epoch`: only on a
/// large network, and for a day.
fn summary_stands(n: &NetworkSummary, read_at: u64, epoch: u64) -> bool {
    n.total_validators > NETWORK_SUMMARY_MAX_VALIDATORS
        && epoch.saturating_sub(read_at) < LARGE_NETWORK_SUMMARY_EPOCHS
}

/// `integer_squareroot` of the spec (Newton's method on integers).
pub fn integer_sqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let mut x = n;
    let mut y = x.div_ceil(2);
    while y < x {
        x = y;
        y = (x + n / x) / 2;
    }
    x
}

/// Base reward per increment from the total active balance (spec `get_base_reward_per_increment`).
pub fn base_reward_per_increment(total_active_balance: i64) -> Option<i64> {
    let root = integer_sqrt(u64::try_from(total_active_balance).ok()?);
    (root > 0).then(|| EFFECTIVE_BALANCE_INCREMENT * BASE_REWARD_FACTOR / root as i64)
}

/// The epoch's network figures: active set and base reward from the state's validator
/// list; participation from the rewards' ideal target reward when the node serves
/// rewards (ideal = base reward · 26/64 · participating stake share), otherwise from the
/// aggregation bits of every attestation included for the epoch's duties.
fn network_stats(acc: &EpochAcc, sync_part: &[f64]) -> NetworkStats {
    let total = acc.network.map(|n| n.total_active_balance);
    let active = acc.network.map(|n| n.active_validators);
    let brpi = total.and_then(base_reward_per_increment);
    let from_rewards = match (acc.rewards.as_ref(), brpi) {
        (Some(r), Some(brpi)) => r
            .ideal
            .iter()
            .filter(|i| i.effective_balance >= EFFECTIVE_BALANCE_INCREMENT && i.target > 0)
            .max_by_key(|i| i.effective_balance)
            .map(|i| {
                let base = (i.effective_balance / EFFECTIVE_BALANCE_INCREMENT * brpi) as f64;
                (i.target as f64 * WEIGHT_DENOMINATOR / (TIMELY_TARGET_WEIGHT * base)).min(1.0)
            }),
        _ => None,
    };
    let from_blocks = active
        .filter(|a| *a > 0 && !acc.att_bits.is_empty())
        .map(|a| {
            let set: usize = acc
                .att_bits
                .values()
                .map(|b| b.iter().filter(|x| **x).count())
                .sum();
            (set as f64 / a as f64).min(1.0)
        });
    NetworkStats {
        total_active_balance: total,
        active_validators: active,
        participation_rate: from_rewards.or(from_blocks),
        sync_participation: (!sync_part.is_empty())
            .then(|| sync_part.iter().sum::<f64>() / sync_part.len() as f64),
        base_reward_per_increment: brpi,
    }
}

/// Rows → the contract's columns (sorted by index, as the rows are).
pub fn columns(rows: &[ValidatorEpoch], node: &str) -> ValidatorColumns {
    let tri = |b: Option<bool>| match b {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    };
    let g = |x: Option<i64>| x.unwrap_or(i64::MIN);
    let u = |x: Option<u32>| x.map_or(u64::MAX, u64::from);
    ValidatorColumns {
        index: rows.iter().map(|r| r.validator).collect(),
        status: rows.iter().map(|r| r.status).collect(),
        slashed: rows.iter().map(|r| tri(r.slashed)).collect(),
        balance: rows.iter().map(|r| g(r.balance)).collect(),
        effective_balance: rows.iter().map(|r| g(r.effective_balance)).collect(),
        attested: rows.iter().map(|r| tri(r.attested)).collect(),
        inclusion_delay: rows.iter().map(|r| u(r.inclusion_delay)).collect(),
        earliest_inclusion_delay: rows.iter().map(|r| u(r.earliest_inclusion_delay)).collect(),
        head_ok: rows.iter().map(|r| tri(r.head_ok)).collect(),
        target_ok: rows.iter().map(|r| tri(r.target_ok)).collect(),
        source_ok: rows.iter().map(|r| tri(r.source_ok)).collect(),
        reward_head: rows.iter().map(|r| g(r.reward_head)).collect(),
        reward_target: rows.iter().map(|r| g(r.reward_target)).collect(),
        reward_source: rows.iter().map(|r| g(r.reward_source)).collect(),
        reward_inactivity: rows.iter().map(|r| g(r.reward_inactivity)).collect(),
        ideal_head: rows.iter().map(|r| g(r.ideal_head)).collect(),
        ideal_target: rows.iter().map(|r| g(r.ideal_target)).collect(),
        ideal_source: rows.iter().map(|r| g(r.ideal_source)).collect(),
        proposals_assigned: rows.iter().map(|r| r.proposals_assigned.into()).collect(),
        proposals_made: rows.iter().map(|r| r.proposals_made.into()).collect(),
        proposals_orphaned: rows.iter().map(|r| r.proposals_orphaned.into()).collect(),
        proposal_reward: rows.iter().map(|r| g(r.proposal_reward)).collect(),
        sync_member: rows.iter().map(|r| tri(r.sync_member)).collect(),
        sync_signed: rows.iter().map(|r| r.sync_signed.into()).collect(),
        sync_expected: rows.iter().map(|r| r.sync_expected.into()).collect(),
        sync_reward: rows.iter().map(|r| g(r.sync_reward)).collect(),
        deposits: rows.iter().map(|r| r.deposits).collect(),
        withdrawals: rows.iter().map(|r| r.withdrawals).collect(),
        labels: vec![LabelColumn {
            name: "node".into(),
            values: vec![node.to_string()],
            codes: vec![0; rows.len()],
        }],
    }
}

#[cfg(test)]
mod network_tests {
    use super::*;

    #[test]
    fn base_reward_follows_the_spec() {
        assert_eq!(integer_sqrt(0), 0);
        assert_eq!(integer_sqrt(15), 3);
        assert_eq!(integer_sqrt(16), 4);
        assert_eq!(integer_sqrt(u64::MAX), 4_294_967_295);
        // 8 validators of 32 ETH (the recorded dev chain): 64e9 / isqrt(256e9) = 126_491.
        assert_eq!(base_reward_per_increment(256_000_000_000), Some(126_491));
        // Mainnet-sized: 34M ETH active gives about 347 gwei per increment.
        let m = base_reward_per_increment(34_000_000_000_000_000).unwrap();
        assert!((340..=350).contains(&m), "{m}");
        assert_eq!(base_reward_per_increment(0), None);
    }

    #[test]
    fn a_large_networks_summary_stands_for_a_day_a_small_ones_never() {
        let summary = |total_validators| NetworkSummary {
            active_validators: total_validators,
            total_active_balance: total_validators as i64 * 32_000_000_000,
            total_validators,
        };
        let mainnet = summary(1_000_000);
        assert!(summary_stands(&mainnet, 100, 101));
        assert!(summary_stands(
            &mainnet,
            100,
            100 + LARGE_NETWORK_SUMMARY_EPOCHS - 1
        ));
        assert!(!summary_stands(
            &mainnet,
            100,
            100 + LARGE_NETWORK_SUMMARY_EPOCHS
        ));
        // A small network is read every epoch: its figures are exact.
        assert!(!summary_stands(&summary(64), 100, 101));
    }

    #[test]
    fn network_stats_unknown_without_a_source() {
        let stats = network_stats(&EpochAcc::default(), &[]);
        assert_eq!(stats.total_active_balance, None);
        assert_eq!(stats.participation_rate, None);
        assert_eq!(stats.base_reward_per_increment, None);
        let acc = EpochAcc {
            network: Some(NetworkSummary {
                active_validators: 4,
                total_active_balance: 128_000_000_000,
                total_validators: 4,
            }),
            att_bits: [((8, 0), vec![true, false]), ((9, 0), vec![true, true])].into(),
            ..EpochAcc::default()
        };
        let stats = network_stats(&acc, &[0.5, 1.0]);
        assert_eq!(stats.participation_rate, Some(0.75));
        assert_eq!(stats.sync_participation, Some(0.75));
        assert_eq!(stats.active_validators, Some(4));
    }
}
