//! Network iterations: an Ephemery reset (or a new devnet) opens a new one.
//!
//! An iteration is numbered from 1 and remembers its identity
//! `(genesis_time, genesis_validators_root, chain_id)`, its chain spec and when Vigil
//! first saw it. Every stored row that depends on the network carries its iteration,
//! so history stays per iteration. The current iteration also gives the slot grid that
//! slot-aligned series snap to.
//!
//! Identity matching: same genesis time and validators root, and the same chain id —
//! or one of the two chain ids unknown (the execution node had not answered yet; the
//! stored record learns the id then). Seeing an older iteration's identity again makes
//! it current again; it does not open a new one.

use super::codec::CodecError;
use super::tables::{ITERATIONS, META};
use super::{Store, StoreError};
use crate::model::{ChainSpec, NetworkIdentity};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

/// Key of the current iteration number in `meta`.
const CURRENT_KEY: &str = "current_iteration";

/// One network iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iteration {
    /// From 1, in the order Vigil first saw them.
    pub number: u32,
    pub identity: NetworkIdentity,
    pub spec: ChainSpec,
    /// When Vigil first saw it, Unix ms.
    pub first_seen_ms: i64,
}

impl Iteration {
    /// The slot grid of this iteration.
    pub fn grid(&self) -> Grid {
        Grid {
            genesis_ms: (self.identity.genesis_time as i64).saturating_mul(1000),
            slot_ms: (self.spec.seconds_per_slot as i64)
                .saturating_mul(1000)
                .max(1),
        }
    }
}

/// Where slots start: genesis and slot length, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub genesis_ms: i64,
    pub slot_ms: i64,
}

impl Grid {
    /// The start of the slot `ts_ms` falls in (before genesis too: the grid extends).
    pub fn snap(&self, ts_ms: i64) -> i64 {
        let off = ts_ms.saturating_sub(self.genesis_ms);
        self.genesis_ms
            .saturating_add(off.div_euclid(self.slot_ms) * self.slot_ms)
    }
}

fn same_network(a: &NetworkIdentity, b: &NetworkIdentity) -> bool {
    a.genesis_time == b.genesis_time
        && a.genesis_validators_root
            .eq_ignore_ascii_case(&b.genesis_validators_root)
        && (a.chain_id == b.chain_id || a.chain_id.is_none() || b.chain_id.is_none())
}

fn decode(bytes: &[u8]) -> Result<Iteration, CodecError> {
    serde_json::from_slice(bytes).map_err(|_| CodecError("iteration record is not valid JSON"))
}

fn encode(it: &Iteration) -> Vec<u8> {
    // Plain data: serialising cannot fail.
    serde_json::to_vec(it).unwrap_or_default()
}

impl Store {
    /// The iteration the store is in now, if one was recorded.
    pub fn current_iteration(&self) -> Option<Iteration> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every iteration, oldest first.
    pub fn iterations(&self) -> Result<Vec<Iteration>, StoreError> {
        let tx = self.read()?;
        let table = tx
            .open_table(ITERATIONS)
            .map_err(self.io("opening table iterations"))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(self.io("reading iterations"))? {
            let (_, v) = row.map_err(self.io("reading iterations"))?;
            out.push(decode(v.value()).map_err(self.corrupt("reading iterations"))?);
        }
        Ok(out)
    }

    /// Record the network identity seen at `seen_ms`: `(iteration, true)` when it opens a
    /// new iteration (a reset), `(iteration, false)` when it is a known one. Either way
    /// it becomes the current iteration.
    pub fn record_identity(
        &self,
        identity: &NetworkIdentity,
        spec: &ChainSpec,
        seen_ms: i64,
    ) -> Result<(u32, bool), StoreError> {
        let (it, is_new) = self.write("recording the network iteration", |tx| {
            record(self, tx, identity, spec, seen_ms)
        })?;
        let number = it.number;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(it);
        Ok((number, is_new))
    }
}

pub(super) fn record(
    store: &Store,
    tx: &WriteTransaction,
    identity: &NetworkIdentity,
    spec: &ChainSpec,
    seen_ms: i64,
) -> Result<(Iteration, bool), StoreError> {
    let mut table = tx
        .open_table(ITERATIONS)
        .map_err(store.io("opening table iterations"))?;
    let mut found = None;
    let mut last = 0u32;
    for row in table.iter().map_err(store.io("reading iterations"))? {
        let (k, v) = row.map_err(store.io("reading iterations"))?;
        last = k.value();
        let it = decode(v.value()).map_err(store.corrupt("reading iterations"))?;
        if same_network(&it.identity, identity) {
            found = Some(it);
        }
    }
    let (it, is_new) = match found {
        Some(mut it) => {
            if it.identity.chain_id.is_none() && identity.chain_id.is_some() {
                it.identity.chain_id = identity.chain_id;
                table
                    .insert(it.number, encode(&it).as_slice())
                    .map_err(store.io("writing an iteration"))?;
            }
            (it, false)
        }
        None => {
            let it = Iteration {
                number: last + 1,
                identity: identity.clone(),
                spec: *spec,
                first_seen_ms: seen_ms,
            };
            table
                .insert(it.number, encode(&it).as_slice())
                .map_err(store.io("writing an iteration"))?;
            (it, true)
        }
    };
    tx.open_table(META)
        .map_err(store.io("opening table meta"))?
        .insert(CURRENT_KEY, it.number.to_le_bytes().as_slice())
        .map_err(store.io("writing the current iteration"))?;
    Ok((it, is_new))
}

pub(super) fn load_current(store: &Store) -> Result<Option<Iteration>, StoreError> {
    let tx = store.read()?;
    let meta = tx
        .open_table(META)
        .map_err(store.io("opening table meta"))?;
    let Some(n) = meta
        .get(CURRENT_KEY)
        .map_err(store.io("reading the current iteration"))?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map(u32::from_le_bytes)
    else {
        return Ok(None);
    };
    let table = tx
        .open_table(ITERATIONS)
        .map_err(store.io("opening table iterations"))?;
    let v = table.get(n).map_err(store.io("reading iterations"))?;
    v.map(|v| decode(v.value()))
        .transpose()
        .map_err(store.corrupt("reading iterations"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(genesis: u64, chain: Option<u64>) -> NetworkIdentity {
        NetworkIdentity {
            genesis_time: genesis,
            genesis_validators_root: format!("0x{genesis:064x}"),
            chain_id: chain,
        }
    }

    #[test]
    fn resets_open_iterations_and_known_identities_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.current_iteration(), None);
            let spec = ChainSpec::MAINNET;
            assert_eq!(
                s.record_identity(&net(10, None), &spec, 5).unwrap(),
                (1, true)
            );
            // The execution node answers later: same iteration, chain id learnt.
            assert_eq!(
                s.record_identity(&net(10, Some(7)), &spec, 6).unwrap(),
                (1, false)
            );
            assert_eq!(
                s.record_identity(&net(10, None), &spec, 7).unwrap(),
                (1, false)
            );
            assert_eq!(
                s.record_identity(&net(20, Some(8)), &spec, 8).unwrap(),
                (2, true)
            );
            // Same genesis, other chain: another network.
            assert_eq!(
                s.record_identity(&net(20, Some(9)), &spec, 9).unwrap(),
                (3, true)
            );
            assert_eq!(
                s.record_identity(&net(10, Some(7)), &spec, 10).unwrap(),
                (1, false)
            );
            assert_eq!(s.current_iteration().unwrap().number, 1);
        }
        let s = Store::open(&path).unwrap();
        let cur = s.current_iteration().unwrap();
        assert_eq!(
            (cur.number, cur.identity.chain_id, cur.first_seen_ms),
            (1, Some(7), 5)
        );
        let all = s.iterations().unwrap();
        assert_eq!(all.iter().map(|i| i.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(all[1].identity, net(20, Some(8)));
    }

    #[test]
    fn grid_snaps_down_to_the_slot_start_even_before_genesis() {
        let g = Grid {
            genesis_ms: 1_000_000,
            slot_ms: 12_000,
        };
        assert_eq!(g.snap(1_000_000), 1_000_000);
        assert_eq!(g.snap(1_011_999), 1_000_000);
        assert_eq!(g.snap(1_012_000), 1_012_000);
        assert_eq!(g.snap(999_999), 988_000);
    }
}
