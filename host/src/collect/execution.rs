//! Execution nodes over JSON-RPC: sync state, head, chain id, peers, gas price, client,
//! and block time, TPS and gas use over the recent blocks.
//!
//! ## How a poll talks to the node
//! One HTTP POST carries the whole JSON-RPC batch (`eth_syncing`, `eth_blockNumber`,
//! `eth_chainId`, `net_peerCount`, `eth_gasPrice`, `web3_clientVersion`,
//! `eth_getBlockByNumber("latest")`). A node (or proxy) that refuses batches answers
//! with a single error object; the collector then sends the calls one by one,
//! concurrently, and remembers not to batch again. A second request fetches only the
//! blocks below the head it has not seen yet: the last [`RECENT_BLOCKS`] are cached,
//! checked by parent hash so a reorg or a restarted devnet refreshes the cache.
//!
//! ## Invariants
//! - [`ExecutionCollector::poll`] never fails and returns within the collector's
//!   timeout ([`REQUEST_TIMEOUT`] by default) plus scheduling slack: both requests share
//!   one deadline, so a hanging node cannot stall the tick.
//! - `reachable` is false only when no call got a JSON-RPC answer; `error` then says
//!   why (timed out, connection refused, HTTP status, not JSON-RPC), naming the URL
//!   with any password or query redacted. A reachable node may still carry `error`:
//!   the methods that failed, joined by `"; "`; their fields are `None`.
//! - Unknown is `None`, never zero.

use super::client::parse_client_version;
use crate::config::NodeConfig;
use crate::contract::ExecutionNode;
use crate::net::{self as http, Answer, HttpError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::net::REQUEST_TIMEOUT;

/// Blocks below the head kept for block time, TPS and gas use: ten intervals smooth out
/// one slow block without hiding a stall that lasts a minute or more (at 12 s blocks).
pub const RECENT_BLOCKS: u64 = 10;

/// Largest JSON-RPC answer read. A batch of eleven blocks without transactions is tens
/// of kilobytes; more means the URL points at something that is not an execution node.
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Why a request got no JSON-RPC answer at all. The node is then unreachable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RpcError {
    /// Timed out, refused, an HTTP error status, too large…
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered, but not with JSON-RPC: a wrong URL, or a broken proxy.
    #[error("answer from {url} is not JSON-RPC: {reason} (it starts with \"{start}\")")]
    Malformed {
        url: String,
        reason: String,
        start: String,
    },
}

/// Why one method gave no value while the node itself answered.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MethodError {
    /// The node answered with a JSON-RPC error (e.g. method not supported).
    #[error("{method} failed: {message} (JSON-RPC error {code})")]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },
    /// The batch answer had no entry for this call.
    #[error("{method} got no answer in the batch")]
    Missing { method: String },
    /// The value is not what the method returns.
    #[error("{method} returned {value}: {reason}")]
    BadValue {
        method: String,
        value: String,
        reason: String,
    },
    /// This call's own request failed (calls sent one by one).
    #[error("{method}: {source}")]
    Request { method: String, source: RpcError },
}

/// Why a hex quantity did not parse.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuantityError {
    #[error("not a 0x-prefixed hex quantity")]
    NotHex,
    #[error("larger than the largest u64")]
    Overflow,
}

/// Parses a JSON-RPC quantity: `0x` then hex digits, `0x0` for zero. Leading zeros are
/// accepted (the spec forbids them, some nodes send them anyway).
pub fn parse_quantity(s: &str) -> Result<u64, QuantityError> {
    match parse_quantity_saturating(s)? {
        (v, false) => Ok(v),
        (_, true) => Err(QuantityError::Overflow),
    }
}

/// Like [`parse_quantity`], but a value above `u64::MAX` gives `(u64::MAX, true)`:
/// quantities such as a gas price are 256-bit on the wire.
pub fn parse_quantity_saturating(s: &str) -> Result<(u64, bool), QuantityError> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or(QuantityError::NotHex)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(QuantityError::NotHex);
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 16 {
        return Ok((u64::MAX, true));
    }
    if significant.is_empty() {
        return Ok((0, false));
    }
    u64::from_str_radix(significant, 16)
        .map(|v| (v, false))
        .map_err(|_| QuantityError::NotHex)
}

/// Whether the node takes JSON-RPC batches; learnt from its first answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batching {
    Unknown,
    Supported,
    Unsupported,
}

/// What the statistics need of one block.
#[derive(Debug, Clone, PartialEq)]
struct BlockSummary {
    number: u64,
    hash: String,
    parent_hash: String,
    timestamp_s: u64,
    tx_count: u64,
    gas_used: u64,
    gas_limit: u64,
}

/// One JSON-RPC call: a method and its params.
type Call = (&'static str, Value);

/// Polls one execution node. Keep it alive between ticks: it caches recent blocks and
/// whether the node takes batches.
pub struct ExecutionCollector {
    name: String,
    url: String,
    /// `url` redacted, for messages.
    shown_url: String,
    http: reqwest::Client,
    timeout: Duration,
    batching: Batching,
    /// Recent blocks by number: the head and up to [`RECENT_BLOCKS`] below it.
    blocks: BTreeMap<u64, BlockSummary>,
    chain_id: Option<u64>,
    next_id: u64,
}

impl ExecutionCollector {
    /// A collector for `node`, sending through `http` (see [`http::http_client`]).
    pub fn new(node: &NodeConfig, http: reqwest::Client) -> ExecutionCollector {
        ExecutionCollector {
            name: node.name.clone(),
            url: node.url.clone(),
            shown_url: http::redact_url(&node.url),
            http,
            timeout: REQUEST_TIMEOUT,
            batching: Batching::Unknown,
            blocks: BTreeMap::new(),
            chain_id: None,
            next_id: 1,
        }
    }

    /// The same collector with another deadline per poll.
    pub fn with_timeout(mut self, timeout: Duration) -> ExecutionCollector {
        self.timeout = timeout;
        self
    }

    /// The configured node name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The chain id the node last reported: part of the network's identity (a change
    /// means a new network iteration, as on Ephemery).
    pub fn chain_id(&self) -> Option<u64> {
        self.chain_id
    }

    /// One observation of the node. Never fails: see the module's invariants.
    pub async fn poll(&mut self) -> ExecutionNode {
        let deadline = Instant::now() + self.timeout;
        let mut node = ExecutionNode {
            name: self.name.clone(),
            reachable: false,
            error: None,
            client: None,
            is_syncing: None,
            block_number: None,
            block_age_ms: None,
            chain_id: None,
            peers: None,
            gas_price_wei: None,
            block_time_ms: None,
            tps: None,
            gas_used_ratio: None,
        };
        let calls: [Call; 7] = [
            ("eth_syncing", json!([])),
            ("eth_blockNumber", json!([])),
            ("eth_chainId", json!([])),
            ("net_peerCount", json!([])),
            ("eth_gasPrice", json!([])),
            ("web3_clientVersion", json!([])),
            ("eth_getBlockByNumber", json!(["latest", false])),
        ];
        let results = match self.call_all(&calls, deadline).await {
            Ok(results) => results,
            Err(e) => {
                node.error = Some(e.to_string());
                return node;
            }
        };
        node.reachable = true;
        let mut problems: Vec<String> = Vec::new();
        let mut take = |result: Result<Value, MethodError>| {
            result.map_err(|e| problems.push(e.to_string())).ok()
        };
        let [syncing, number, chain, peers, gas, version, latest] = results;
        let syncing = take(syncing);
        let number = take(number);
        let chain = take(chain);
        let peers = take(peers);
        let gas = take(gas);
        let version = take(version);
        let latest = take(latest);

        node.is_syncing = syncing.and_then(|v| match v {
            Value::Bool(b) => Some(b),
            // An object describes the sync in progress.
            Value::Object(_) => Some(true),
            other => {
                problems.push(bad_value(
                    "eth_syncing",
                    &other,
                    "expected false or an object",
                ));
                None
            }
        });
        node.block_number = number.and_then(|v| quantity("eth_blockNumber", &v, &mut problems));
        node.chain_id = chain.and_then(|v| quantity("eth_chainId", &v, &mut problems));
        node.peers = peers.and_then(|v| quantity("net_peerCount", &v, &mut problems));
        node.gas_price_wei = gas.and_then(|v| gas_price(&v, &mut problems));
        node.client = version.and_then(|v| match v.as_str() {
            Some(s) => Some(parse_client_version(s)),
            None => {
                problems.push(bad_value("web3_clientVersion", &v, "expected a string"));
                None
            }
        });

        if let Some(id) = node.chain_id {
            if self.chain_id.is_some_and(|old| old != id) {
                tracing::info!(
                    node = %self.name,
                    "chain id changed from {:?} to {id}: a new network; recent blocks forgotten",
                    self.chain_id
                );
                self.blocks.clear();
            }
            self.chain_id = Some(id);
        }

        let head = latest.and_then(|v| match block_summary(&v) {
            Ok(b) => Some(b),
            Err(reason) => {
                problems.push(bad_value("eth_getBlockByNumber(latest)", &v, &reason));
                None
            }
        });
        if let Some(head) = head {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            node.block_age_ms = Some(now_ms - (head.timestamp_s as i64).saturating_mul(1000));
            node.block_number = node.block_number.or(Some(head.number));
            if let Err(e) = self.update_blocks(head, deadline).await {
                problems.push(e);
            }
            let stats = BlockStats::of(&self.linked_run());
            node.block_time_ms = stats.block_time_ms;
            node.tps = stats.tps;
            node.gas_used_ratio = stats.gas_used_ratio;
        }
        node.error = (!problems.is_empty()).then(|| problems.join("; "));
        node
    }

    /// Puts `head` in the cache and fetches the blocks below it that are missing or no
    /// longer linked by parent hash. An error is a problem to report, not a failed poll.
    async fn update_blocks(&mut self, head: BlockSummary, deadline: Instant) -> Result<(), String> {
        let top = head.number;
        let lowest = top.saturating_sub(RECENT_BLOCKS);
        // A head at or below a cached block: a reorg or a restarted chain.
        self.blocks.retain(|n, _| *n < top && *n >= lowest);
        self.blocks.insert(top, head);
        let missing: Vec<u64> = match self.first_unlinked() {
            Some(n) => {
                self.blocks.retain(|k, _| *k > n);
                (lowest..=n).collect()
            }
            None => Vec::new(),
        };
        if missing.is_empty() {
            return Ok(());
        }
        let calls: Vec<Call> = missing
            .iter()
            .map(|n| ("eth_getBlockByNumber", json!([format!("{n:#x}"), false])))
            .collect();
        let results = self
            .call_slice(&calls, deadline)
            .await
            .map_err(|e| format!("fetching recent blocks: {e}"))?;
        let mut failures = Vec::new();
        for (n, result) in missing.iter().zip(results) {
            match result
                .map_err(|e| e.to_string())
                .and_then(|v| block_summary(&v))
            {
                Ok(b) if b.number == *n => {
                    self.blocks.insert(b.number, b);
                }
                Ok(b) => failures.push(format!("block {n} came back as block {}", b.number)),
                Err(e) => failures.push(format!("block {n}: {e}")),
            }
        }
        // Whatever no longer links (a reorg during the fetch) is dropped; next poll retries.
        if let Some(n) = self.first_unlinked() {
            self.blocks.retain(|k, _| *k > n);
        }
        match failures.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "fetching recent blocks: {} of {} failed, first {first}",
                failures.len(),
                missing.len()
            )),
        }
    }

    /// The highest block number below the head at which the cache stops being one
    /// linked chain: missing, or its hash is not the parent hash of the block above.
    /// `None` when the cache links all the way down to the window's bottom.
    fn first_unlinked(&self) -> Option<u64> {
        let (&top, mut above) = self.blocks.last_key_value()?;
        let lowest = top.saturating_sub(RECENT_BLOCKS);
        for n in (lowest..top).rev() {
            match self.blocks.get(&n) {
                Some(b) if b.hash == above.parent_hash => above = b,
                _ => return Some(n),
            }
        }
        None
    }

    /// The cached blocks that link to the head, oldest first.
    fn linked_run(&self) -> Vec<&BlockSummary> {
        let mut run: Vec<&BlockSummary> = Vec::new();
        for b in self.blocks.values().rev() {
            match run.last() {
                Some(above) if !(b.number + 1 == above.number && b.hash == above.parent_hash) => {
                    break;
                }
                _ => run.push(b),
            }
        }
        run.reverse();
        run
    }

    /// Sends `calls`, batched when the node allows it. `Err` only when no call got a
    /// JSON-RPC answer; then the node is unreachable.
    async fn call_all<const N: usize>(
        &mut self,
        calls: &[Call; N],
        deadline: Instant,
    ) -> Result<[Result<Value, MethodError>; N], RpcError> {
        let results = self.call_slice(calls, deadline).await?;
        // call_slice returns exactly one result per call.
        Ok(results
            .try_into()
            .unwrap_or_else(|_| std::array::from_fn(|i| Err(missing(calls[i].0)))))
    }

    async fn call_slice(
        &mut self,
        calls: &[Call],
        deadline: Instant,
    ) -> Result<Vec<Result<Value, MethodError>>, RpcError> {
        if calls.len() > 1 && self.batching != Batching::Unsupported {
            // A refusal falls through to single calls.
            if let Some(results) = self.batch(calls, deadline).await? {
                self.batching = Batching::Supported;
                return Ok(results);
            }
        }
        let first_id = self.take_ids(calls.len());
        let this = &*self;
        let singles = calls.iter().enumerate().map(|(i, (method, params))| {
            let body = request(first_id + i as u64, method, params);
            async move {
                let answer = this.post(&body, deadline).await?;
                this.single_answer(method, &answer)
            }
        });
        let answers = futures_util::future::join_all(singles).await;
        let mut results = Vec::with_capacity(calls.len());
        let mut first_transport_error = None;
        let mut any_answered = false;
        for ((method, _), answer) in calls.iter().zip(answers) {
            results.push(match answer {
                Ok(result) => {
                    any_answered = true;
                    result
                }
                Err(e) => {
                    first_transport_error.get_or_insert_with(|| e.clone());
                    Err(MethodError::Request {
                        method: (*method).to_owned(),
                        source: e,
                    })
                }
            });
        }
        match first_transport_error {
            Some(e) if !any_answered => Err(e),
            _ => {
                if calls.len() > 1 && self.batching == Batching::Unknown {
                    tracing::info!(node = %self.name, "{} refuses JSON-RPC batches: sending calls one by one", self.shown_url);
                    self.batching = Batching::Unsupported;
                }
                Ok(results)
            }
        }
    }

    /// One batch. `Ok(None)` when the node refused the batch as such.
    async fn batch(
        &mut self,
        calls: &[Call],
        deadline: Instant,
    ) -> Result<Option<Vec<Result<Value, MethodError>>>, RpcError> {
        let first_id = self.take_ids(calls.len());
        let body = Value::Array(
            calls
                .iter()
                .enumerate()
                .map(|(i, (method, params))| request(first_id + i as u64, method, params))
                .collect(),
        );
        let answer = self.post(&body, deadline).await?;
        let items = match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Array(items)) => items,
            // A lone error object: "batch requests not supported" and the like.
            Ok(Value::Object(o)) if o.contains_key("error") && !o.contains_key("result") => {
                return Ok(None);
            }
            Ok(_) if !answer.status.is_success() => {
                return Err(http::status_error(&self.shown_url, &answer).into());
            }
            Ok(_) => return Err(self.malformed(&answer, "expected an array answering the batch")),
            Err(_) if !answer.status.is_success() => {
                return Err(http::status_error(&self.shown_url, &answer).into());
            }
            Err(e) => return Err(self.malformed(&answer, &e.to_string())),
        };
        let mut by_id: BTreeMap<u64, Value> = BTreeMap::new();
        for item in items {
            if let Some(id) = item.get("id").and_then(id_of) {
                by_id.insert(id, item);
            }
        }
        Ok(Some(
            calls
                .iter()
                .enumerate()
                .map(
                    |(i, (method, _))| match by_id.remove(&(first_id + i as u64)) {
                        Some(item) => method_result(method, &item),
                        None => Err(missing(method)),
                    },
                )
                .collect(),
        ))
    }

    /// The result of a call sent alone; `Err` when the answer is not JSON-RPC.
    fn single_answer(
        &self,
        method: &str,
        answer: &Answer,
    ) -> Result<Result<Value, MethodError>, RpcError> {
        match serde_json::from_slice::<Value>(&answer.body) {
            Ok(item @ Value::Object(_))
                if item.get("result").is_some() || item.get("error").is_some() =>
            {
                Ok(method_result(method, &item))
            }
            _ if !answer.status.is_success() => {
                Err(http::status_error(&self.shown_url, answer).into())
            }
            Ok(_) => Err(self.malformed(answer, "expected an object with a result or an error")),
            Err(e) => Err(self.malformed(answer, &e.to_string())),
        }
    }

    async fn post(&self, body: &Value, deadline: Instant) -> Result<Answer, RpcError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpError::Timeout {
                url: self.shown_url.clone(),
                timeout: self.timeout,
            }
            .into());
        }
        let request = self.http.post(&self.url).json(body);
        http::exchange(request, &self.shown_url, left, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                // Report the poll's deadline, not what was left of it.
                HttpError::Timeout { url, .. } => HttpError::Timeout {
                    url,
                    timeout: self.timeout,
                },
                other => other,
            })
            .map_err(RpcError::from)
    }

    fn malformed(&self, answer: &Answer, reason: &str) -> RpcError {
        RpcError::Malformed {
            url: self.shown_url.clone(),
            reason: reason.to_owned(),
            start: http::snippet(&answer.body),
        }
    }

    fn take_ids(&mut self, n: usize) -> u64 {
        let first = self.next_id;
        self.next_id = self.next_id.wrapping_add(n as u64);
        first
    }
}

/// A JSON-RPC 2.0 request object.
fn request(id: u64, method: &str, params: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A response id: a number, or (from lax servers) a string holding one.
fn id_of(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// The `result` of a response object, or its `error` as a [`MethodError`].
fn method_result(method: &str, item: &Value) -> Result<Value, MethodError> {
    if let Some(err) = item.get("error").filter(|e| !e.is_null()) {
        return Err(MethodError::Rpc {
            method: method.to_owned(),
            code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: err
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| err.to_string(), str::to_owned),
        });
    }
    match item.get("result") {
        Some(v) => Ok(v.clone()),
        None => Err(MethodError::BadValue {
            method: method.to_owned(),
            value: item.to_string(),
            reason: "neither a result nor an error".to_owned(),
        }),
    }
}

fn missing(method: &str) -> MethodError {
    MethodError::Missing {
        method: method.to_owned(),
    }
}

fn bad_value(method: &str, value: &Value, reason: &str) -> String {
    MethodError::BadValue {
        method: method.to_owned(),
        value: short(value),
        reason: reason.to_owned(),
    }
    .to_string()
}

/// A value for a message, cut to a readable length.
fn short(value: &Value) -> String {
    http::snippet(value.to_string().as_bytes())
}

/// A quantity result: a hex string (or, from lax nodes, a JSON integer).
fn quantity(method: &str, v: &Value, problems: &mut Vec<String>) -> Option<u64> {
    let parsed = match v {
        Value::String(s) => parse_quantity(s).map_err(|e| e.to_string()),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| "not an unsigned integer".to_owned()),
        _ => Err("expected a hex string".to_owned()),
    };
    parsed
        .map_err(|reason| problems.push(bad_value(method, v, &reason)))
        .ok()
}

/// A gas price: 256-bit on the wire, saturated to `u64::MAX` with a note when above.
fn gas_price(v: &Value, problems: &mut Vec<String>) -> Option<u64> {
    let Some(text) = v.as_str() else {
        problems.push(bad_value("eth_gasPrice", v, "expected a hex string"));
        return None;
    };
    match parse_quantity_saturating(text) {
        Ok((wei, saturated)) => {
            if saturated {
                problems.push(format!(
                    "eth_gasPrice returned {text}, above the largest u64: reported as {}",
                    u64::MAX
                ));
            }
            Some(wei)
        }
        Err(e) => {
            problems.push(bad_value("eth_gasPrice", v, &e.to_string()));
            None
        }
    }
}

/// The fields the statistics need from a block object (without transactions).
fn block_summary(v: &Value) -> Result<BlockSummary, String> {
    if v.is_null() {
        return Err("no such block".to_owned());
    }
    let field = |name: &str| -> Result<&str, String> {
        v.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("field {name} is missing or not a string"))
    };
    let number = |name: &str| -> Result<u64, String> {
        let s = field(name)?;
        parse_quantity(s).map_err(|e| format!("field {name} = {s}: {e}"))
    };
    let block_number = number("number")?;
    let tx_count = v
        .get("transactions")
        .and_then(Value::as_array)
        .ok_or("field transactions is missing or not a list")?
        .len() as u64;
    Ok(BlockSummary {
        number: block_number,
        hash: field("hash")?.to_owned(),
        parent_hash: field("parentHash")?.to_owned(),
        timestamp_s: number("timestamp")?,
        tx_count,
        gas_used: number("gasUsed")?,
        gas_limit: number("gasLimit")?,
    })
}

/// Block time, TPS and gas use over a linked run of blocks.
#[derive(Debug, Default, PartialEq)]
struct BlockStats {
    block_time_ms: Option<f64>,
    tps: Option<f64>,
    gas_used_ratio: Option<f64>,
}

impl BlockStats {
    /// `blocks` oldest first. Block time and TPS need two blocks; TPS counts the
    /// transactions of every block but the oldest, whose transactions came before the
    /// span began.
    fn of(blocks: &[&BlockSummary]) -> BlockStats {
        let ratios: Vec<f64> = blocks
            .iter()
            .filter(|b| b.gas_limit > 0)
            .map(|b| b.gas_used as f64 / b.gas_limit as f64)
            .collect();
        let gas_used_ratio =
            (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64);
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return BlockStats::default();
        };
        if blocks.len() < 2 {
            return BlockStats {
                gas_used_ratio,
                ..BlockStats::default()
            };
        }
        let span_s = last.timestamp_s.saturating_sub(first.timestamp_s);
        let txs: u64 = blocks[1..].iter().map(|b| b.tx_count).sum();
        BlockStats {
            block_time_ms: Some(span_s as f64 * 1000.0 / (blocks.len() - 1) as f64),
            tps: (span_s > 0).then(|| txs as f64 / span_s as f64),
            gas_used_ratio,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("0x0"), Ok(0));
        assert_eq!(parse_quantity("0x1b4"), Ok(436));
        assert_eq!(parse_quantity("0X1B4"), Ok(436));
        assert_eq!(parse_quantity("0x0001"), Ok(1));
        assert_eq!(
            parse_quantity("0x00000000000000000ffffffffffffffff"),
            Ok(u64::MAX)
        );
        assert_eq!(
            parse_quantity("0x10000000000000000"),
            Err(QuantityError::Overflow)
        );
        for bad in ["", "0x", "12", "0xg1", "0x-1", "0x 1", "0x+1"] {
            assert_eq!(parse_quantity(bad), Err(QuantityError::NotHex), "{bad:?}");
        }
    }

    #[test]
    fn gas_prices_above_u64_saturate() {
        assert_eq!(
            parse_quantity_saturating("0x77359400"),
            Ok((2_000_000_000, false))
        );
        assert_eq!(
            parse_quantity_saturating("0x1000000000000000000000000"),
            Ok((u64::MAX, true))
        );
    }

    fn block(number: u64, ts: u64, txs: u64, gas_used: u64) -> BlockSummary {
        BlockSummary {
            number,
            hash: format!("h{number}"),
            parent_hash: format!("h{}", number.wrapping_sub(1)),
            timestamp_s: ts,
            tx_count: txs,
            gas_used,
            gas_limit: 100,
        }
    }

    #[test]
    fn stats_over_recent_blocks() {
        let blocks = [
            block(1, 100, 5, 50),
            block(2, 112, 3, 25),
            block(3, 124, 9, 75),
        ];
        let refs: Vec<&BlockSummary> = blocks.iter().collect();
        let s = BlockStats::of(&refs);
        assert_eq!(s.block_time_ms, Some(12_000.0));
        // 12 transactions over 24 s: the first block's five came before the span.
        assert_eq!(s.tps, Some(0.5));
        assert_eq!(s.gas_used_ratio, Some(0.5));

        let s = BlockStats::of(&refs[..1]);
        assert_eq!(
            (s.block_time_ms, s.tps, s.gas_used_ratio),
            (None, None, Some(0.5))
        );
        assert_eq!(BlockStats::of(&[]), BlockStats::default());
    }

    #[test]
    fn block_objects() {
        let v = json!({
            "number": "0x2a", "hash": "0xb", "parentHash": "0xa", "timestamp": "0x6b03722b",
            "gasUsed": "0x5208", "gasLimit": "0x1c9c380", "transactions": ["0x1", "0x2"]
        });
        let b = block_summary(&v).unwrap();
        assert_eq!((b.number, b.tx_count, b.gas_used), (42, 2, 21_000));
        assert_eq!(block_summary(&Value::Null).unwrap_err(), "no such block");
        let err = block_summary(&json!({"number": "0xzz"})).unwrap_err();
        assert_eq!(err, "field number = 0xzz: not a 0x-prefixed hex quantity");
    }

    fn collector() -> ExecutionCollector {
        let node = NodeConfig {
            name: "el".into(),
            url: "http://127.0.0.1:1".into(),
            metrics_url: None,
        };
        ExecutionCollector::new(&node, http::http_client().unwrap())
    }

    #[test]
    fn the_cache_follows_the_chain() {
        let mut c = collector();
        for n in 0..=12 {
            c.blocks.insert(n, block(n, 100 + n * 12, 1, 50));
        }
        // A window of eleven blocks links from the head down.
        c.blocks.retain(|n, _| *n >= 12 - RECENT_BLOCKS);
        assert_eq!(c.first_unlinked(), None);
        assert_eq!(c.linked_run().len(), 11);
        // A reorged block 9: everything at and below it is stale.
        c.blocks.get_mut(&9).unwrap().hash = "other".into();
        assert_eq!(c.first_unlinked(), Some(9));
        assert_eq!(c.linked_run().len(), 3);
        // A gap.
        c.blocks.remove(&11);
        assert_eq!(c.first_unlinked(), Some(11));
        assert_eq!(c.linked_run().len(), 1);
    }

    #[tokio::test]
    async fn an_invalid_url_is_named() {
        let node = NodeConfig {
            name: "el".into(),
            url: "127.0.0.1:8545".into(),
            metrics_url: None,
        };
        let mut c = ExecutionCollector::new(&node, http::http_client().unwrap());
        let n = c.poll().await;
        assert!(!n.reachable);
        let error = n.error.unwrap();
        assert_eq!(
            error,
            "invalid URL 127.0.0.1:8545: relative URL without a base (expected a full URL such as http://host:port)"
        );
    }

    #[test]
    fn method_errors_read_well() {
        let e = method_result(
            "net_peerCount",
            &json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "the method net_peerCount does not exist"}}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "net_peerCount failed: the method net_peerCount does not exist (JSON-RPC error -32601)"
        );
        assert_eq!(
            method_result("x", &json!({"result": false})),
            Ok(json!(false))
        );
    }
}
