//! What the replayed beacon node answers to one request at one moment.
//!
//! Pure: a function of (recording, clock, request, recording time), so the rules can
//! be tested at exact moments without a server or waiting. The rules, most specific
//! first:
//!
//! 1. **Exact**: the latest recorded answer to the same method and path that existed
//!    (`t_ms + dur_ms`) at or before now, then filtered by the requested validators.
//! 2. **Knowable**: where the recorder simply asked later than a client does, the
//!    answer that the node already had is served: a block's header/body/rewards once
//!    the node imported that block (SSE `block`/`head`), duties for the current and
//!    next epoch, liveness for the previous and current epoch, attestation rewards once
//!    the state they need (last slot of the epoch after) exists. `head` (block and
//!    state id) follows the SSE head, which moves when a block is imported, rather than
//!    the recorder's `…/head` polls (0.7 s into each slot): a client fetching the head
//!    right after a `head` event gets that block and its post-state.
//! 3. **Not yet / never**: Lodestar's own errors, same shape as the recorded ones
//!    (`{"code","message","stacktraces"}`): `404 No block found for id '…'` for an empty
//!    or future slot, `404 No state found for id '…'`, `500 State is unavailable for
//!    slot …`, `400` for ids it rejects and for epochs outside its windows.
//! 4. A request never recorded in any form: fastify's own 404
//!    (`{"message":"Route GET:/… not found","error":"Not Found","statusCode":404}`),
//!    which is what Lodestar answers for a route it does not have.
//!
//! Numeric state ids (`states/80/…`): the recorder only asked `states/head/…`, so a
//! state at slot N is served from a `head` answer recorded while the head block was the
//! last block at or before N, provided no epoch boundary lies between that block and N
//! (epoch processing would change balances); otherwise `404 No state found`. The same
//! applies to `finalized`, `justified` and `genesis` (resolved through the recorded
//! checkpoints) and to `0x…` state roots of recorded headers.

use serde_json::{Value, json};

use crate::clock::Clock;
use crate::faults::Faults;
use crate::filter::{self, ValidatorId};
use crate::recording::{Answer, Ms, Recording};

/// One beacon API request, as far as the replay looks at it.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) body: &'a [u8],
}

/// An answer: status and JSON body (`None`: no body at all, as `/node/health` sends).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Option<Value>,
}

impl Reply {
    fn recorded(answer: &Answer) -> Reply {
        Reply {
            status: answer.status,
            body: answer.body.clone(),
        }
    }

    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
        }
    }

    /// Applies `f` to the body of a successful answer (filters, clock shifts).
    fn map_ok(mut self, f: impl FnOnce(&mut Value)) -> Reply {
        if self.status == 200
            && let Some(body) = self.body.as_mut()
        {
            f(body);
        }
        self
    }
}

/// An error as Lodestar's API handler shapes it (`lodestar dev` adds `stacktraces`).
pub(crate) fn lodestar_error(status: u16, message: impl Into<String>) -> Reply {
    let message = message.into();
    let trace = format!("Error: {message}");
    Reply {
        status,
        body: Some(json!({"code": status, "message": message, "stacktraces": [trace]})),
    }
}

/// The 404 that fastify (Lodestar's HTTP server) sends for a route it does not know.
pub(crate) fn route_not_found(method: &str, path: &str, query: Option<&str>) -> Reply {
    let url = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    Reply {
        status: 404,
        body: Some(json!({
            "message": format!("Route {method}:{url} not found"),
            "error": "Not Found",
            "statusCode": 404
        })),
    }
}

/// A block id as the beacon API accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BlockId {
    Head,
    Genesis,
    Finalized,
    Justified,
    Slot(u64),
    Root(String),
}

impl BlockId {
    fn parse(id: &str) -> Option<BlockId> {
        Some(match id {
            "head" => BlockId::Head,
            "genesis" => BlockId::Genesis,
            "finalized" => BlockId::Finalized,
            "justified" => BlockId::Justified,
            _ => match id.strip_prefix("0x") {
                Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    BlockId::Root(id.to_ascii_lowercase())
                }
                Some(_) => return None,
                None => BlockId::Slot(id.parse().ok()?),
            },
        })
    }
}

const FINALITY_PATH: &str = "/eth/v1/beacon/states/head/finality_checkpoints";
const ZERO_ROOT: &str = "0x0000000000000000000000000000000000000000000000000000000000000000";

/// The beacon API of one replay.
#[derive(Debug)]
pub(crate) struct Beacon {
    pub(crate) rec: std::sync::Arc<Recording>,
    pub(crate) clock: Clock,
    pub(crate) faults: Faults,
}

impl Beacon {
    /// The answer to `req` at recording time `now` (faults aside: see `server`).
    pub(crate) fn answer(&self, req: &Request<'_>, now: Ms) -> Reply {
        let path = req.path.trim_end_matches('/');
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (req.method, segments.as_slice()) {
            ("GET", ["eth", "v1", "beacon", "genesis"]) => self.genesis(now),
            ("GET", ["eth", "v1", "config", "spec"]) => self.spec(now),
            ("GET", ["eth", "v1", "beacon", "headers", id]) => {
                self.block("GET", "/eth/v1/beacon/headers/", id, now)
            }
            ("GET", ["eth", "v2", "beacon", "blocks", id]) => self
                .block("GET", "/eth/v2/beacon/blocks/", id, now)
                .map_ok(|body| self.shift_payload_time(body)),
            ("GET", ["eth", "v1", "beacon", "blocks", id, "root"]) => self.block_root(id, now),
            ("GET", ["eth", "v1", "beacon", "rewards", "blocks", id]) => {
                self.block("GET", "/eth/v1/beacon/rewards/blocks/", id, now)
            }
            ("POST", ["eth", "v1", "beacon", "rewards", "sync_committee", id]) => {
                match self.ids_body(req.body) {
                    Ok(wanted) => self
                        .block("POST", "/eth/v1/beacon/rewards/sync_committee/", id, now)
                        .map_ok(|b| filter::filter_data(b, "validator_index", &wanted)),
                    Err(reply) => reply,
                }
            }
            ("POST", ["eth", "v1", "beacon", "rewards", "attestations", epoch]) => {
                self.attestation_rewards(path, epoch, req.body, now)
            }
            ("GET", ["eth", "v1", "validator", "duties", "proposer", epoch]) => {
                self.proposer_duties(path, epoch, now)
            }
            (
                "POST",
                [
                    "eth",
                    "v1",
                    "validator",
                    "duties",
                    "attester" | "sync",
                    epoch,
                ],
            ) => self.duties(path, epoch, req.body, now),
            ("POST", ["eth", "v1", "validator", "liveness", epoch]) => {
                self.liveness(path, epoch, req.body, now)
            }
            (_, ["eth", "v1", "beacon", "states", id, rest @ ..]) if !rest.is_empty() => {
                self.state(req, id, &rest.join("/"), now)
            }
            _ => self.plain(req, now),
        }
    }

    /// Any other request: latest recorded answer, else the first one (the node said the
    /// same before the recorder first asked), else an unknown route.
    fn plain(&self, req: &Request<'_>, now: Ms) -> Reply {
        let with_query = req.query.map(|q| format!("{}?{q}", req.path));
        for key in with_query.as_deref().into_iter().chain([req.path]) {
            let found = self
                .rec
                .latest(req.method, key, now)
                .or_else(|| self.rec.earliest(req.method, key));
            if let Some(answer) = found {
                return Reply::recorded(answer);
            }
        }
        route_not_found(req.method, req.path, req.query)
    }

    fn latest_or_first(&self, method: &str, path: &str, now: Ms) -> Option<&Answer> {
        self.rec
            .latest(method, path, now)
            .or_else(|| self.rec.earliest(method, path))
    }

    /// Genesis with the shifted time (or the one set by `reset_genesis`).
    fn genesis(&self, now: Ms) -> Reply {
        let recorded = self
            .latest_or_first("GET", "/eth/v1/beacon/genesis", now)
            .and_then(|a| a.body.clone());
        let mut body = recorded.unwrap_or_else(|| {
            json!({"data": {
                "genesis_time": "0",
                "genesis_validators_root": self.rec.meta.get("genesis_validators_root").cloned().unwrap_or(Value::Null),
                "genesis_fork_version": "0x00000000"
            }})
        });
        let (time, root) = match self.faults.genesis_override() {
            Some((time, root)) => (time, Some(root)),
            None => (self.clock.served_genesis(), None),
        };
        if let Some(data) = body.get_mut("data").and_then(Value::as_object_mut) {
            data.insert("genesis_time".into(), Value::String(time.to_string()));
            if let Some(root) = root {
                data.insert("genesis_validators_root".into(), Value::String(root));
            }
        }
        Reply::ok(body)
    }

    /// The spec with `SECONDS_PER_SLOT` as served (halved at speed 2).
    fn spec(&self, now: Ms) -> Reply {
        match self.latest_or_first("GET", "/eth/v1/config/spec", now) {
            Some(answer) => Reply::recorded(answer).map_ok(|body| {
                if let Some(data) = body.get_mut("data").and_then(Value::as_object_mut) {
                    let sps = self.clock.served_seconds_per_slot().to_string();
                    data.insert("SECONDS_PER_SLOT".into(), Value::String(sps));
                }
            }),
            None => route_not_found("GET", "/eth/v1/config/spec", None),
        }
    }

    /// Execution payload timestamps are chain time: put them on the served clock.
    fn shift_payload_time(&self, body: &mut Value) {
        let Some(ts) = body.pointer_mut("/data/message/body/execution_payload/timestamp") else {
            return;
        };
        if let Some(recorded) = ts.as_str().and_then(|s| s.parse::<u64>().ok())
            && recorded != 0
        {
            let shifted = self.clock.shift_chain_time(self.rec.genesis_time, recorded);
            *ts = Value::String(shifted.to_string());
        }
    }

    /// Slot of a finality checkpoint's block (`finalized` or `current_justified`).
    fn checkpoint_slot(&self, which: &str, now: Ms) -> Option<u64> {
        let answer = self.latest_or_first("GET", FINALITY_PATH, now)?;
        let root = answer
            .body
            .as_ref()?
            .pointer(&format!("/data/{which}/root"))?
            .as_str()?;
        if root == ZERO_ROOT {
            return Some(0);
        }
        self.rec.slot_of_root(root)
    }

    /// Resolves a non-numeric block id to a slot; `None` when the node would not know it.
    fn block_slot(&self, id: &BlockId, now: Ms) -> Option<u64> {
        match id {
            BlockId::Head => Some(self.rec.head_slot_at(now)),
            BlockId::Genesis => Some(0),
            BlockId::Finalized => self.checkpoint_slot("finalized", now),
            BlockId::Justified => self.checkpoint_slot("current_justified", now),
            BlockId::Slot(slot) => Some(*slot),
            BlockId::Root(root) => self.rec.slot_of_root(root),
        }
    }

    /// Block-scoped endpoints (`{prefix}{block_id}`), unfiltered.
    fn block(&self, method: &str, prefix: &str, id: &str, now: Ms) -> Reply {
        let exact = format!("{prefix}{id}");
        // `head` follows the node's head (SSE), which changes when a block is imported,
        // not when the recorder happened to poll `…/head` (up to a slot later).
        if id != "head"
            && let Some(answer) = self.rec.latest(method, &exact, now)
        {
            return Reply::recorded(answer);
        }
        let Some(parsed) = BlockId::parse(id) else {
            return lodestar_error(400, format!("Invalid block id '{id}'"));
        };
        let not_found = || lodestar_error(404, format!("No block found for id '{id}'"));
        let Some(slot) = self.block_slot(&parsed, now) else {
            return not_found();
        };
        // The node has a block once it imported it; an empty or future slot has none.
        if self.rec.block_seen_ms(slot).is_none_or(|seen| seen > now) {
            return not_found();
        }
        let canonical = format!("{prefix}{slot}");
        match self.latest_or_first(method, &canonical, now) {
            Some(answer) => Reply::recorded(answer),
            None => lodestar_error(
                404,
                format!("vigil-replay: no recorded answer for {method} {canonical}"),
            ),
        }
    }

    /// `blocks/{id}/root`, derived from the header (never polled by the recorder).
    fn block_root(&self, id: &str, now: Ms) -> Reply {
        let header = self.block("GET", "/eth/v1/beacon/headers/", id, now);
        if header.status != 200 {
            return header;
        }
        let body = header.body.unwrap_or(Value::Null);
        let root = body.pointer("/data/root").cloned().unwrap_or(Value::Null);
        Reply::ok(json!({
            "data": {"root": root},
            "execution_optimistic": body.get("execution_optimistic").cloned().unwrap_or(Value::Bool(false)),
            "finalized": body.get("finalized").cloned().unwrap_or(Value::Bool(false)),
        }))
    }

    /// Validator ids of a POST body as indices (pubkeys through the recorded lists).
    fn ids_body(&self, body: &[u8]) -> Result<Vec<u64>, Reply> {
        let ids = filter::parse_id_array(body).map_err(|e| lodestar_error(400, e))?;
        Ok(self.indices_of(&ids))
    }

    fn indices_of(&self, ids: &[ValidatorId]) -> Vec<u64> {
        ids.iter()
            .map(|id| match id {
                ValidatorId::Index(i) => *i,
                // A pubkey the chain does not know matches nothing; u64::MAX keeps the
                // filter non-empty so that it does not mean "all".
                ValidatorId::Pubkey(pk) => self.rec.index_of_pubkey(pk).unwrap_or(u64::MAX),
            })
            .collect()
    }

    fn parse_epoch(epoch: &str) -> Result<u64, Reply> {
        epoch
            .parse()
            .map_err(|_| lodestar_error(400, format!("Invalid epoch '{epoch}'")))
    }

    /// `POST rewards/attestations/{epoch}`: needs the state at the last slot of the
    /// *next* epoch; before that slot Lodestar answers 500, and so does it forever when
    /// that slot is empty (no state exactly there).
    fn attestation_rewards(&self, path: &str, epoch: &str, body: &[u8], now: Ms) -> Reply {
        let epoch = match Self::parse_epoch(epoch) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
        let wanted = match self.ids_body(body) {
            Ok(w) => w,
            Err(reply) => return reply,
        };
        let spe = self.clock.slots_per_epoch();
        // Saturating: the epoch comes from the client and may be absurd.
        let state_slot = epoch.saturating_add(2).saturating_mul(spe) - 1;
        let answers = self.rec.answers("POST", path);
        let reply = if self.clock.slot_at(now) > state_slot {
            // The state question is settled: any answer asked after that slot says it.
            let settled_from = self.clock.slot_start(state_slot.saturating_add(1));
            let settled: Vec<&Answer> = answers
                .iter()
                .filter(|a| a.sent_ms >= settled_from)
                .collect();
            settled
                .iter()
                .rev()
                .find(|a| a.at_ms <= now)
                .or(settled.first())
                .map(|a| Reply::recorded(a))
                .or_else(|| self.rec.latest("POST", path, now).map(Reply::recorded))
        } else {
            self.rec.latest("POST", path, now).map(Reply::recorded)
        };
        reply
            .unwrap_or_else(|| {
                lodestar_error(500, format!("State is unavailable for slot {state_slot}"))
            })
            .map_ok(|b| filter::filter_attestation_rewards(b, &wanted))
    }

    /// `GET duties/proposer/{epoch}`: known for the current and next epoch.
    fn proposer_duties(&self, path: &str, epoch: &str, now: Ms) -> Reply {
        let epoch = match Self::parse_epoch(epoch) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
        if let Some(answer) = self.rec.latest("GET", path, now) {
            return Reply::recorded(answer);
        }
        if epoch > self.clock.epoch_at(now) + 1 {
            return lodestar_error(
                400,
                format!("Requested epoch {epoch} must not be more than one epoch in the future"),
            );
        }
        match self.rec.earliest("GET", path) {
            Some(answer) => Reply::recorded(answer),
            None => lodestar_error(
                404,
                format!("vigil-replay: no recorded answer for GET {path}"),
            ),
        }
    }

    /// `POST duties/{attester,sync}/{epoch}`: known up to the next epoch.
    fn duties(&self, path: &str, epoch: &str, body: &[u8], now: Ms) -> Reply {
        let epoch = match Self::parse_epoch(epoch) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
        let wanted = match filter::parse_index_array(body) {
            Ok(w) => w,
            Err(e) => return lodestar_error(400, e),
        };
        if wanted.is_empty() {
            return lodestar_error(400, "No validator to get attester duties");
        }
        let reply = if let Some(answer) = self.rec.latest("POST", path, now) {
            Reply::recorded(answer)
        } else if epoch > self.clock.epoch_at(now) + 1 {
            return lodestar_error(400, "Cannot get duties for epoch more than one ahead");
        } else if let Some(answer) = self.rec.earliest("POST", path) {
            Reply::recorded(answer)
        } else {
            return lodestar_error(
                404,
                format!("vigil-replay: no recorded answer for POST {path}"),
            );
        };
        reply.map_ok(|b| filter::select_duties(b, &wanted))
    }

    /// `POST liveness/{epoch}`: one entry per requested index. Lodestar accepts the
    /// previous, current and next epoch; recorded answers are served for any epoch.
    fn liveness(&self, path: &str, epoch: &str, body: &[u8], now: Ms) -> Reply {
        let epoch = match Self::parse_epoch(epoch) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
        let wanted = match filter::parse_index_array(body) {
            Ok(w) => w,
            Err(e) => return lodestar_error(400, e),
        };
        if wanted.is_empty() {
            return Reply::ok(json!({"data": []}));
        }
        if let Some(answer) = self.rec.latest("POST", path, now) {
            return Reply {
                status: answer.status,
                body: Some(filter::liveness(answer.body.as_ref(), &wanted)),
            };
        }
        let current = self.clock.epoch_at(now);
        if epoch.saturating_add(1) < current || epoch > current + 1 {
            return lodestar_error(
                400,
                format!(
                    "Request epoch {epoch} is more than one epoch before or after the current epoch {current}"
                ),
            );
        }
        // Next epoch: nothing seen yet. Previous/current: what the node saw by the time
        // the recorder asked (slot 4 of the next epoch), the closest record there is.
        let recorded = if epoch > current {
            None
        } else {
            self.rec.earliest("POST", path)
        };
        Reply::ok(filter::liveness(
            recorded.and_then(|a| a.body.as_ref()),
            &wanted,
        ))
    }

    /// `states/{state_id}/{rest}`.
    fn state(&self, req: &Request<'_>, id: &str, rest: &str, now: Ms) -> Reply {
        let reply = match self.state_unfiltered(req, id, rest, now) {
            Ok(reply) => reply,
            Err(reply) => return reply,
        };
        let query = filter::parse_query(req.query);
        match rest {
            "validators" => {
                let (ids, statuses) = if req.method == "POST" {
                    match filter::parse_validators_body(req.body) {
                        Ok(parsed) => parsed,
                        Err(e) => return lodestar_error(400, e),
                    }
                } else {
                    match parse_query_ids(&query) {
                        Ok(ids) => (ids, filter::query_values(&query, "status")),
                        Err(e) => return lodestar_error(400, e),
                    }
                };
                let wanted = self.indices_of(&ids);
                reply.map_ok(|b| filter::filter_validators(b, &wanted, &statuses))
            }
            "validator_balances" => {
                let ids = if req.method == "POST" {
                    if req.body.iter().all(u8::is_ascii_whitespace) {
                        Ok(Vec::new())
                    } else {
                        filter::parse_id_array(req.body)
                    }
                } else {
                    parse_query_ids(&query)
                };
                match ids {
                    Ok(ids) => {
                        let wanted = self.indices_of(&ids);
                        reply.map_ok(|b| filter::filter_data(b, "index", &wanted))
                    }
                    Err(e) => lodestar_error(400, e),
                }
            }
            _ => reply,
        }
    }

    fn state_unfiltered(
        &self,
        req: &Request<'_>,
        id: &str,
        rest: &str,
        now: Ms,
    ) -> Result<Reply, Reply> {
        let exact = format!("/eth/v1/beacon/states/{id}/{rest}");
        if id != "head"
            && let Some(answer) = self.rec.latest(req.method, &exact, now)
        {
            return Ok(Reply::recorded(answer));
        }
        let head_path = format!("/eth/v1/beacon/states/head/{rest}");
        // The POST forms of the validator lists were never recorded: same data as GET.
        let method = if self.rec.has(req.method, &head_path) {
            req.method
        } else if req.method == "POST"
            && matches!(rest, "validators" | "validator_balances")
            && self.rec.has("GET", &head_path)
        {
            "GET"
        } else if self.rec.has(req.method, &exact) {
            // Recorded, but only later: the node did not answer this yet.
            return Err(lodestar_error(404, format!("No state found for id '{id}'")));
        } else {
            return Err(route_not_found(req.method, req.path, req.query));
        };
        if id == "head" {
            // The state of the node's current head block (see `block` on `head`), else
            // the latest answer (for the few heads no poll caught).
            let head = self.rec.head_slot_at(now);
            let answer = self
                .answer_while_head(method, &head_path, head, now)
                .or_else(|| self.latest_or_first(method, &head_path, now));
            return Ok(answer
                .map(Reply::recorded)
                .unwrap_or_else(|| route_not_found(req.method, req.path, req.query)));
        }
        let Some(parsed) = BlockId::parse(id) else {
            return Err(lodestar_error(400, format!("Invalid block id '{id}'")));
        };
        let not_found = || lodestar_error(404, format!("No state found for id '{id}'"));
        let slot = self.block_slot(&parsed, now).ok_or_else(not_found)?;
        if slot > self.rec.head_slot_at(now) {
            return Err(not_found());
        }
        let block = self
            .rec
            .last_block_at_or_before(slot, now)
            .ok_or_else(not_found)?;
        let spe = self.clock.slots_per_epoch();
        if block / spe != slot / spe {
            return Err(not_found());
        }
        self.answer_while_head(method, &head_path, block, now)
            .map(Reply::recorded)
            .ok_or_else(not_found)
    }

    /// A `states/head/…` answer taken while `block` was the head (from request to
    /// answer): the latest that existed at `now`, else the first.
    fn answer_while_head(
        &self,
        method: &str,
        head_path: &str,
        block: u64,
        now: Ms,
    ) -> Option<&Answer> {
        let taken = |a: &&Answer| {
            self.rec.head_slot_at(a.sent_ms) == block && self.rec.head_slot_at(a.at_ms) == block
        };
        let answers = self.rec.answers(method, head_path);
        answers
            .iter()
            .filter(taken)
            .take_while(|a| a.at_ms <= now)
            .last()
            .or_else(|| answers.iter().find(taken))
    }
}

fn parse_query_ids(query: &[(String, String)]) -> Result<Vec<ValidatorId>, String> {
    filter::query_values(query, "id")
        .iter()
        .map(|v| ValidatorId::parse_str(v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::load_shared;

    /// A replay of scenario A at `speed`, queried at explicit recording times.
    fn beacon(speed: u32) -> Beacon {
        let rec = load_shared(&crate::scenario_a()).expect("scenario A fixture (see its README)");
        let clock = Clock::new(&rec, 0, speed, 1_800_000_000_000).expect("clock");
        Beacon {
            rec,
            clock,
            faults: Faults::new(),
        }
    }

    /// Recording time `ms` after the start of `slot`.
    fn at(b: &Beacon, slot: u64, ms: Ms) -> Ms {
        b.clock.slot_start(slot) + ms
    }

    fn get(b: &Beacon, path: &str, now: Ms) -> Reply {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        b.answer(
            &Request {
                method: "GET",
                path,
                query,
                body: b"",
            },
            now,
        )
    }

    fn post(b: &Beacon, path: &str, body: &str, now: Ms) -> Reply {
        b.answer(
            &Request {
                method: "POST",
                path,
                query: None,
                body: body.as_bytes(),
            },
            now,
        )
    }

    fn body(reply: &Reply) -> &Value {
        reply.body.as_ref().expect("a JSON body")
    }

    fn message(reply: &Reply) -> &str {
        body(reply)["message"].as_str().expect("an error message")
    }

    fn slot_of_header(reply: &Reply) -> u64 {
        body(reply)["data"]["header"]["message"]["slot"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a header slot")
    }

    fn strs<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
        list.as_array()
            .expect("an array")
            .iter()
            .map(|e| e[field].as_str().expect("a string field"))
            .collect()
    }

    #[test]
    fn missed_slot_is_404_before_and_after_it_is_recorded() {
        let b = beacon(1);
        // Slot 82 (validator 6, offline) has no block: during the slot, just after it,
        // and once the recorder asked (the recorded Lodestar error, with its stacktrace).
        for now in [at(&b, 82, 1500), at(&b, 83, 100), at(&b, 90, 0)] {
            let reply = get(&b, "/eth/v1/beacon/headers/82", now);
            assert_eq!(reply.status, 404);
            assert_eq!(body(&reply)["code"], 404);
            assert_eq!(message(&reply), "No block found for id '82'");
        }
        let recorded = get(&b, "/eth/v1/beacon/headers/82", at(&b, 90, 0));
        assert!(
            body(&recorded)["stacktraces"]
                .as_array()
                .is_some_and(|t| t.len() > 1)
        );
        // Same for the block body and rewards, never recorded for an empty slot.
        for path in [
            "/eth/v2/beacon/blocks/82",
            "/eth/v1/beacon/rewards/blocks/82",
        ] {
            assert_eq!(get(&b, path, at(&b, 90, 0)).status, 404, "{path}");
        }
        assert_eq!(
            post(
                &b,
                "/eth/v1/beacon/rewards/sync_committee/82",
                "[]",
                at(&b, 90, 0)
            )
            .status,
            404
        );
    }

    #[test]
    fn a_block_is_served_once_imported_even_before_the_recorder_asked() {
        let b = beacon(1);
        let seen = b.rec.block_seen_ms(100).expect("slot 100 has a block");
        assert_eq!(get(&b, "/eth/v1/beacon/headers/100", seen - 1).status, 404);
        let reply = get(&b, "/eth/v1/beacon/headers/100", seen);
        assert_eq!(reply.status, 200);
        assert_eq!(slot_of_header(&reply), 100);
        // A future slot is not there yet.
        assert_eq!(get(&b, "/eth/v1/beacon/headers/101", seen).status, 404);
        // Other block ids resolve to the same block.
        let root = body(&reply)["data"]["root"]
            .as_str()
            .expect("root")
            .to_owned();
        let by_root = get(&b, &format!("/eth/v1/beacon/headers/{root}"), seen);
        assert_eq!(slot_of_header(&by_root), 100);
        let derived = get(&b, "/eth/v1/beacon/blocks/100/root", seen);
        assert_eq!(body(&derived)["data"]["root"], root.as_str());
        assert_eq!(get(&b, "/eth/v1/beacon/headers/nonsense", seen).status, 400);
    }

    #[test]
    fn head_follows_the_replay() {
        let b = beacon(1);
        let early = slot_of_header(&get(&b, "/eth/v1/beacon/headers/head", at(&b, 100, 1000)));
        let late = slot_of_header(&get(&b, "/eth/v1/beacon/headers/head", at(&b, 150, 1000)));
        assert!((98..=100).contains(&early), "head {early} at slot 100");
        assert!((148..=150).contains(&late), "head {late} at slot 150");
        let block = get(&b, "/eth/v2/beacon/blocks/head", at(&b, 150, 1000));
        assert_eq!(body(&block)["data"]["message"]["slot"], late.to_string());
    }

    #[test]
    fn head_answers_change_when_the_block_is_imported() {
        let b = beacon(1);
        let seen = b.rec.block_seen_ms(150).expect("slot 150 has a block");
        // Before the recorder's poll of slot 150 (at +0.7 s), already the new head.
        let header = get(&b, "/eth/v1/beacon/headers/head", seen);
        assert_eq!(slot_of_header(&header), 150);
        let before = get(&b, "/eth/v1/beacon/headers/head", seen - 1);
        assert_eq!(slot_of_header(&before), 149);
        let path = "/eth/v1/beacon/states/head/validator_balances";
        let (old, new) = (get(&b, path, seen - 1), get(&b, path, seen));
        assert_ne!(
            body(&old)["data"],
            body(&new)["data"],
            "balances change with the head block"
        );
        assert_eq!(
            get(&b, "/eth/v1/beacon/states/150/validator_balances", seen),
            new
        );
    }

    #[test]
    fn payload_timestamps_follow_the_served_clock() {
        for speed in [1, 2] {
            let b = beacon(speed);
            let block = get(&b, "/eth/v2/beacon/blocks/100", at(&b, 101, 0));
            let ts: u64 = body(&block)["data"]["message"]["body"]["execution_payload"]["timestamp"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("a timestamp");
            let sps = b.clock.served_seconds_per_slot();
            assert_eq!(ts, b.clock.served_genesis() + 100 * sps);
        }
    }

    #[test]
    fn genesis_and_spec_are_shifted() {
        let b = beacon(2);
        let genesis = get(&b, "/eth/v1/beacon/genesis", at(&b, 5, 0));
        assert_eq!(
            body(&genesis)["data"]["genesis_time"],
            b.clock.served_genesis().to_string()
        );
        assert_eq!(
            body(&genesis)["data"]["genesis_validators_root"],
            b.rec.meta["genesis_validators_root"]
        );
        let spec = get(&b, "/eth/v1/config/spec", at(&b, 5, 0));
        assert_eq!(body(&spec)["data"]["SECONDS_PER_SLOT"], "1");
        assert_eq!(body(&spec)["data"]["SLOTS_PER_EPOCH"], "8");
        b.faults.reset_genesis(42, "0xabc");
        let reset = get(&b, "/eth/v1/beacon/genesis", at(&b, 5, 0));
        assert_eq!(body(&reset)["data"]["genesis_time"], "42");
        assert_eq!(body(&reset)["data"]["genesis_validators_root"], "0xabc");
    }

    #[test]
    fn liveness_is_filtered_to_the_requested_indices() {
        let b = beacon(1);
        // Epoch 12, asked in epoch 13 (before and after the recorder asked at slot 4).
        for now in [at(&b, 104, 500), at(&b, 110, 0), at(&b, 200, 0)] {
            let reply = post(&b, "/eth/v1/validator/liveness/12", r#"["6","7","1"]"#, now);
            assert_eq!(reply.status, 200);
            let data = &body(&reply)["data"];
            assert_eq!(strs(data, "index"), vec!["6", "7", "1"]);
            let live: Vec<bool> = data
                .as_array()
                .expect("array")
                .iter()
                .map(|e| e["is_live"] == true)
                .collect();
            assert_eq!(live, vec![false, false, true]);
        }
        // Back from epoch 22.
        let back = post(
            &b,
            "/eth/v1/validator/liveness/23",
            r#"["6","7"]"#,
            at(&b, 200, 0),
        );
        assert!(
            body(&back)["data"]
                .as_array()
                .expect("array")
                .iter()
                .all(|e| e["is_live"] == true)
        );
        // Lodestar's rules where nothing is recorded yet.
        assert_eq!(
            body(&post(
                &b,
                "/eth/v1/validator/liveness/12",
                "[]",
                at(&b, 110, 0)
            ))["data"],
            json!([])
        );
        let next = post(
            &b,
            "/eth/v1/validator/liveness/14",
            r#"["1"]"#,
            at(&b, 104, 500),
        );
        assert_eq!(
            body(&next)["data"],
            json!([{"index": "1", "is_live": false}])
        );
        let far = post(
            &b,
            "/eth/v1/validator/liveness/20",
            r#"["1"]"#,
            at(&b, 104, 500),
        );
        assert_eq!(far.status, 400);
        assert_eq!(
            post(&b, "/eth/v1/validator/liveness/12", "{", at(&b, 110, 0)).status,
            400
        );
    }

    #[test]
    fn absurd_ids_are_answered_not_panicked_on() {
        let b = beacon(1);
        let now = at(&b, 110, 0);
        let max = u64::MAX;
        let liveness = post(
            &b,
            &format!("/eth/v1/validator/liveness/{max}"),
            r#"["1"]"#,
            now,
        );
        assert_eq!(liveness.status, 400);
        let rewards = post(
            &b,
            &format!("/eth/v1/beacon/rewards/attestations/{max}"),
            "[]",
            now,
        );
        assert_eq!(rewards.status, 500);
        let duties = post(
            &b,
            &format!("/eth/v1/validator/duties/attester/{max}"),
            r#"["1"]"#,
            now,
        );
        assert_eq!(duties.status, 400);
        assert_eq!(
            get(&b, &format!("/eth/v1/beacon/headers/{max}"), now).status,
            404
        );
        let state = get(&b, &format!("/eth/v1/beacon/states/{max}/validators"), now);
        assert_eq!(state.status, 404);
        let huge = get(&b, "/eth/v1/beacon/headers/99999999999999999999999", now);
        assert_eq!(huge.status, 400);
    }

    #[test]
    fn attestation_rewards_are_filtered_and_follow_state_availability() {
        let b = beacon(1);
        // Epoch 13: rewards exist from the end of epoch 14 on.
        let reply = post(
            &b,
            "/eth/v1/beacon/rewards/attestations/13",
            r#"["6","7"]"#,
            at(&b, 125, 0),
        );
        assert_eq!(reply.status, 200);
        let total = &body(&reply)["data"]["total_rewards"];
        assert_eq!(strs(total, "validator_index"), vec!["6", "7"]);
        for entry in total.as_array().expect("array") {
            assert_eq!(entry["head"], "0");
            assert!(
                entry["target"].as_str().is_some_and(|t| t.starts_with('-')),
                "{entry}"
            );
        }
        assert!(
            !body(&reply)["data"]["ideal_rewards"]
                .as_array()
                .expect("array")
                .is_empty()
        );
        // `[]` means everyone.
        let all = post(
            &b,
            "/eth/v1/beacon/rewards/attestations/13",
            "[]",
            at(&b, 125, 0),
        );
        assert_eq!(
            body(&all)["data"]["total_rewards"].as_array().map(Vec::len),
            Some(8)
        );
        // Mid-epoch 14, epoch 13's state (slot 119) is not there yet.
        let early = post(
            &b,
            "/eth/v1/beacon/rewards/attestations/13",
            "[]",
            at(&b, 116, 0),
        );
        assert_eq!(early.status, 500);
        assert_eq!(message(&early), "State is unavailable for slot 119");
        // Epoch 14 needs the state at slot 127, which is empty: no reward data, ever.
        let never = post(
            &b,
            "/eth/v1/beacon/rewards/attestations/14",
            "[]",
            at(&b, 200, 0),
        );
        assert_eq!(never.status, 500);
    }

    #[test]
    fn sync_rewards_and_duties_are_filtered() {
        let b = beacon(1);
        let reply = post(
            &b,
            "/eth/v1/beacon/rewards/sync_committee/100",
            r#"["6"]"#,
            at(&b, 101, 0),
        );
        assert_eq!(reply.status, 200);
        let data = &body(&reply)["data"];
        assert_eq!(strs(data, "validator_index"), vec!["6"]);
        assert!(
            data[0]["reward"]
                .as_str()
                .is_some_and(|r| r.starts_with('-'))
        );

        let duties = post(
            &b,
            "/eth/v1/validator/duties/attester/13",
            r#"["7","6"]"#,
            at(&b, 96, 800),
        );
        assert_eq!(duties.status, 200);
        assert_eq!(
            strs(&body(&duties)["data"], "validator_index"),
            vec!["7", "6"]
        );
        let sync = post(
            &b,
            "/eth/v1/validator/duties/sync/13",
            r#"["2"]"#,
            at(&b, 96, 800),
        );
        assert_eq!(strs(&body(&sync)["data"], "validator_index"), vec!["2"]);
        assert_eq!(
            post(
                &b,
                "/eth/v1/validator/duties/attester/13",
                "[]",
                at(&b, 96, 800)
            )
            .status,
            400
        );
        let far = post(
            &b,
            "/eth/v1/validator/duties/attester/20",
            r#"["1"]"#,
            at(&b, 96, 800),
        );
        assert_eq!(far.status, 400);
        let proposer = get(&b, "/eth/v1/validator/duties/proposer/12", at(&b, 96, 100));
        assert_eq!(body(&proposer)["data"].as_array().map(Vec::len), Some(8));
        assert_eq!(
            get(&b, "/eth/v1/validator/duties/proposer/15", at(&b, 96, 100)).status,
            400
        );
    }

    #[test]
    fn state_ids_and_validator_filters() {
        let b = beacon(1);
        let now = at(&b, 100, 1000);
        let balances = get(
            &b,
            "/eth/v1/beacon/states/head/validator_balances?id=6&id=7",
            now,
        );
        assert_eq!(strs(&body(&balances)["data"], "index"), vec!["6", "7"]);
        let by_slot = get(
            &b,
            "/eth/v1/beacon/states/99/validator_balances?id=6,1",
            now,
        );
        assert_eq!(by_slot.status, 200);
        assert_eq!(strs(&body(&by_slot)["data"], "index"), vec!["1", "6"]);
        assert_eq!(
            get(&b, "/eth/v1/beacon/states/150/validator_balances", now).status,
            404
        );
        assert_eq!(
            get(&b, "/eth/v1/beacon/states/nonsense/validator_balances", now).status,
            400
        );

        let validators = get(
            &b,
            "/eth/v1/beacon/states/head/validators?id=3&status=active",
            now,
        );
        let list = &body(&validators)["data"];
        assert_eq!(strs(list, "index"), vec!["3"]);
        let pubkey = list[0]["validator"]["pubkey"]
            .as_str()
            .expect("pubkey")
            .to_owned();
        let by_pubkey = get(
            &b,
            &format!("/eth/v1/beacon/states/head/validator_balances?id={pubkey}"),
            now,
        );
        assert_eq!(strs(&body(&by_pubkey)["data"], "index"), vec!["3"]);
        let posted = post(
            &b,
            "/eth/v1/beacon/states/head/validators",
            r#"{"ids":["5"]}"#,
            now,
        );
        assert_eq!(strs(&body(&posted)["data"], "index"), vec!["5"]);
        let posted = post(
            &b,
            "/eth/v1/beacon/states/head/validator_balances",
            r#"["0"]"#,
            now,
        );
        assert_eq!(strs(&body(&posted)["data"], "index"), vec!["0"]);
        let none = get(
            &b,
            "/eth/v1/beacon/states/head/validators?status=exited",
            now,
        );
        assert_eq!(body(&none)["data"], json!([]));
    }

    #[test]
    fn unknown_routes_answer_like_fastify() {
        let b = beacon(1);
        let reply = get(&b, "/eth/v1/node/peers", at(&b, 10, 0));
        assert_eq!(reply.status, 404);
        assert_eq!(
            body(&reply)["message"],
            "Route GET:/eth/v1/node/peers not found"
        );
        // Known path, wrong method.
        assert_eq!(
            post(&b, "/eth/v1/node/version", "", at(&b, 10, 0)).status,
            404
        );
        // Empty body where Lodestar sends none.
        let health = get(&b, "/eth/v1/node/health", at(&b, 10, 0));
        assert_eq!((health.status, health.body), (200, None));
    }

    #[test]
    fn recorded_metrics_outage_of_validator_client_b() {
        let b = beacon(1);
        assert!(!b.rec.outage_at("vc-metrics-B", at(&b, 60, 0)).0);
        let (down, back) = b.rec.outage_at("vc-metrics-B", at(&b, 120, 0));
        assert!(down);
        assert!(back.is_some_and(|t| b.clock.slot_at(t) >= 176));
        assert!(b.rec.metrics_text("vc-metrics-B", at(&b, 60, 0)).is_some());
        assert!(
            b.rec
                .metrics_text("beacon-metrics", at(&b, 60, 0))
                .is_some()
        );
        assert!(!b.rec.outage_at("beacon", at(&b, 120, 0)).0);
    }
}
