//! Loading and indexing a recording (`*.jsonl.gz`, format in the fixture's README).
//!
//! Everything the server needs to answer "what did the node say about X at moment T" is
//! indexed once here, so that request handling is a few binary searches: answers by
//! (method, path) sorted by the moment they existed, the SSE stream, the head and block
//! timelines derived from it, block/state roots, and per-target `/metrics` samples with
//! the outages (`http_error` lines) between them.
//!
//! All times are *recording* milliseconds (`t_ms`, since the recording started); they
//! are signed because a replay can be asked about moments before the first line.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Recording time in milliseconds since the recording started.
pub(crate) type Ms = i64;

/// The target name of the beacon REST API in the recording.
pub(crate) const BEACON: &str = "beacon";

/// One recorded HTTP answer of the beacon API.
#[derive(Debug)]
pub(crate) struct Answer {
    /// When the request was sent (`t_ms`): the node's state is the one of this moment.
    pub(crate) sent_ms: Ms,
    /// When the answer had been read (`t_ms + dur_ms`): from then on it "exists".
    pub(crate) at_ms: Ms,
    pub(crate) status: u16,
    /// `None` for an empty body (`/eth/v1/node/health` answers with no content).
    pub(crate) body: Option<Value>,
}

/// One recorded server-sent event.
#[derive(Debug)]
pub(crate) struct SseEvent {
    pub(crate) t_ms: Ms,
    pub(crate) event: String,
    /// The event's data, re-serialised compactly (one line, as an SSE `data:` needs).
    pub(crate) data: String,
}

/// One poll of a `/metrics` target: its text, or `None` when the target did not answer.
#[derive(Debug)]
struct MetricsSample {
    at_ms: Ms,
    /// Kept as the raw JSON string literal: decoding 100 MB of texts nobody asks for
    /// would dominate the start-up time.
    text: Option<Box<RawValue>>,
}

/// A loaded, indexed recording. Immutable; shared between replays of the same file.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) meta: Value,
    pub(crate) t0_unix_ms: i64,
    pub(crate) genesis_time: u64,
    pub(crate) seconds_per_slot: u64,
    pub(crate) slots_per_epoch: u64,
    /// Beacon answers by (method, path), sorted by `at_ms`.
    answers: HashMap<(String, String), Vec<Answer>>,
    /// All SSE events, sorted by `t_ms`.
    pub(crate) sse: Vec<SseEvent>,
    /// SSE `head` events as (t_ms, slot), sorted by time.
    heads: Vec<(Ms, u64)>,
    /// When the node had the block of each slot (first SSE `block` or `head` naming it);
    /// slot 0 (genesis) always.
    blocks: BTreeMap<u64, Ms>,
    /// Block roots and state roots (of recorded headers and SSE events) to their slot.
    roots: HashMap<String, u64>,
    /// Validator pubkeys (lowercase `0x…`) to their index, from recorded validator lists.
    pubkeys: HashMap<String, u64>,
    /// `/metrics` polls by target, sorted by time.
    metrics: HashMap<String, Vec<MetricsSample>>,
    /// Per target, sorted (moment, reachable) transitions built from answers and
    /// `http_error` lines: a target is down between an error and the next answer.
    reachability: HashMap<String, Vec<(Ms, bool)>>,
}

/// One line of the file; fields absent from a kind stay `None`.
#[derive(Deserialize)]
struct Line {
    kind: String,
    t_ms: Option<Ms>,
    dur_ms: Option<Ms>,
    target: Option<String>,
    method: Option<String>,
    path: Option<String>,
    query: Option<Value>,
    status: Option<u16>,
    response: Option<Box<RawValue>>,
    event: Option<String>,
    data: Option<Value>,
}

impl Recording {
    /// Loads and indexes a recording; see [`load_shared`] for the cached form.
    pub(crate) fn load(path: &Path) -> Result<Recording> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = BufReader::with_capacity(
            1 << 20,
            GzDecoder::new(BufReader::with_capacity(1 << 16, file)),
        );
        let mut line = String::new();
        let mut meta: Option<Value> = None;
        let mut rec = Recording {
            meta: Value::Null,
            t0_unix_ms: 0,
            genesis_time: 0,
            seconds_per_slot: 0,
            slots_per_epoch: 0,
            answers: HashMap::new(),
            sse: Vec::new(),
            heads: Vec::new(),
            blocks: BTreeMap::new(),
            roots: HashMap::new(),
            pubkeys: HashMap::new(),
            metrics: HashMap::new(),
            reachability: HashMap::new(),
        };
        let mut reach_events: HashMap<String, Vec<(Ms, bool)>> = HashMap::new();
        let mut number = 0usize;
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .with_context(|| format!("reading {} (line {})", path.display(), number + 1))?;
            if n == 0 {
                break;
            }
            number += 1;
            if line.trim().is_empty() {
                continue;
            }
            if meta.is_none() {
                let value: Value = serde_json::from_str(&line)
                    .with_context(|| format!("{}: line 1 is not JSON", path.display()))?;
                if value.get("kind").and_then(Value::as_str) != Some("meta") {
                    bail!("{}: the first line is not the `meta` line", path.display());
                }
                meta = Some(value);
                continue;
            }
            let parsed: Line = serde_json::from_str(&line).with_context(|| {
                format!("{}: line {number} is not a valid line", path.display())
            })?;
            rec.add_line(parsed, &mut reach_events)
                .with_context(|| format!("{}: line {number}", path.display()))?;
        }
        let meta = meta.with_context(|| format!("{}: empty recording", path.display()))?;
        rec.set_meta(meta)?;
        for answers in rec.answers.values_mut() {
            answers.sort_by_key(|a| a.at_ms);
        }
        for samples in rec.metrics.values_mut() {
            samples.sort_by_key(|s| s.at_ms);
        }
        rec.sse.sort_by_key(|e| e.t_ms);
        rec.heads.sort_unstable();
        rec.blocks.insert(0, Ms::MIN);
        for (target, mut events) in reach_events {
            events.sort_by_key(|e| e.0);
            rec.reachability.insert(target, events);
        }
        rec.index_roots();
        rec.index_pubkeys();
        Ok(rec)
    }

    fn set_meta(&mut self, meta: Value) -> Result<()> {
        let num = |key: &str| -> Result<u64> {
            meta.get(key)
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .with_context(|| format!("meta line lacks a numeric `{key}`"))
        };
        self.t0_unix_ms =
            i64::try_from(num("t0_unix_ms")?).context("meta `t0_unix_ms` out of range")?;
        self.genesis_time = num("genesis_time")?;
        self.seconds_per_slot = num("seconds_per_slot")?;
        self.slots_per_epoch = num("slots_per_epoch")?;
        if self.seconds_per_slot == 0 || self.slots_per_epoch == 0 {
            bail!("meta line has a zero `seconds_per_slot` or `slots_per_epoch`");
        }
        self.meta = meta;
        Ok(())
    }

    fn add_line(
        &mut self,
        line: Line,
        reach_events: &mut HashMap<String, Vec<(Ms, bool)>>,
    ) -> Result<()> {
        let t_ms = line.t_ms.context("line without `t_ms`")?;
        match line.kind.as_str() {
            "http" => {
                let target = line.target.context("http line without `target`")?;
                let at_ms = t_ms + line.dur_ms.unwrap_or(0);
                reach_events
                    .entry(target.clone())
                    .or_default()
                    .push((at_ms, true));
                if target == BEACON {
                    let method = line.method.context("http line without `method`")?;
                    let mut path = line.path.context("http line without `path`")?;
                    if let Some(Value::String(q)) = &line.query
                        && !q.is_empty()
                    {
                        path = format!("{path}?{q}");
                    }
                    let body = match line.response {
                        Some(raw) => {
                            Some(serde_json::from_str(raw.get()).context("response is not JSON")?)
                        }
                        None => None,
                    };
                    let answer = Answer {
                        sent_ms: t_ms,
                        at_ms,
                        status: line.status.context("http line without `status`")?,
                        body,
                    };
                    self.answers.entry((method, path)).or_default().push(answer);
                } else {
                    self.metrics.entry(target).or_default().push(MetricsSample {
                        at_ms,
                        text: line.response,
                    });
                }
            }
            "http_error" => {
                let target = line.target.context("http_error line without `target`")?;
                reach_events
                    .entry(target.clone())
                    .or_default()
                    .push((t_ms, false));
                if target != BEACON {
                    self.metrics.entry(target).or_default().push(MetricsSample {
                        at_ms: t_ms,
                        text: None,
                    });
                }
            }
            "sse" => {
                let event = line.event.context("sse line without `event`")?;
                let data = line.data.unwrap_or(Value::Null);
                let slot = data
                    .get("slot")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok());
                match (event.as_str(), slot) {
                    ("head", Some(slot)) => {
                        self.heads.push((t_ms, slot));
                        // A head event can precede the block event of the same block
                        // by a few ms: either proves the node has the block.
                        let seen = self.blocks.entry(slot).or_insert(t_ms);
                        *seen = (*seen).min(t_ms);
                    }
                    ("block", Some(slot)) => {
                        let seen = self.blocks.entry(slot).or_insert(t_ms);
                        *seen = (*seen).min(t_ms);
                        if let Some(root) = data.get("block").and_then(Value::as_str) {
                            self.roots.insert(root.to_ascii_lowercase(), slot);
                        }
                    }
                    _ => {}
                }
                self.sse.push(SseEvent {
                    t_ms,
                    event,
                    data: data.to_string(),
                });
            }
            // meta (again), action, sse_conn: context for humans, nothing to serve.
            _ => {}
        }
        Ok(())
    }

    /// Block roots and state roots of every recorded header, so that `0x…` block and
    /// state ids resolve to a slot.
    fn index_roots(&mut self) {
        let mut found = Vec::new();
        for ((method, path), answers) in &self.answers {
            if method != "GET" || !path.starts_with("/eth/v1/beacon/headers/") {
                continue;
            }
            for answer in answers {
                let Some(data) = answer.body.as_ref().and_then(|b| b.get("data")) else {
                    continue;
                };
                let message = data.pointer("/header/message");
                let slot = message
                    .and_then(|m| m.get("slot"))
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<u64>().ok());
                let Some(slot) = slot else { continue };
                if let Some(root) = data.get("root").and_then(Value::as_str) {
                    found.push((root.to_ascii_lowercase(), slot));
                }
                if let Some(root) = message
                    .and_then(|m| m.get("state_root"))
                    .and_then(Value::as_str)
                {
                    found.push((root.to_ascii_lowercase(), slot));
                }
            }
        }
        self.roots.extend(found);
    }

    /// Pubkeys of every validator list recorded (`states/…/validators`), so that a
    /// validator id given as a pubkey can filter answers that carry only indices.
    fn index_pubkeys(&mut self) {
        let mut found = Vec::new();
        for ((_, path), answers) in &self.answers {
            if !(path.starts_with("/eth/v1/beacon/states/") && path.ends_with("/validators")) {
                continue;
            }
            for answer in answers {
                let entries = answer
                    .body
                    .as_ref()
                    .and_then(|b| b.get("data"))
                    .and_then(Value::as_array);
                for entry in entries.into_iter().flatten() {
                    let index = entry
                        .get("index")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok());
                    let pubkey = entry.pointer("/validator/pubkey").and_then(Value::as_str);
                    if let (Some(index), Some(pubkey)) = (index, pubkey) {
                        found.push((pubkey.to_ascii_lowercase(), index));
                    }
                }
            }
        }
        self.pubkeys.extend(found);
    }

    /// Index of a validator pubkey seen in a recorded validator list.
    pub(crate) fn index_of_pubkey(&self, pubkey: &str) -> Option<u64> {
        self.pubkeys.get(&pubkey.to_ascii_lowercase()).copied()
    }

    /// Recording time of genesis (slot 0's start).
    pub(crate) fn genesis_ms(&self) -> Ms {
        self.genesis_time as i64 * 1000 - self.t0_unix_ms
    }

    /// Recorded answers for one request, sorted by the moment they existed.
    pub(crate) fn answers(&self, method: &str, path: &str) -> &[Answer] {
        self.answers
            .get(&(method.to_owned(), path.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// Whether anything was ever recorded for a request.
    pub(crate) fn has(&self, method: &str, path: &str) -> bool {
        !self.answers(method, path).is_empty()
    }

    /// The latest answer that existed at `now`.
    pub(crate) fn latest(&self, method: &str, path: &str, now: Ms) -> Option<&Answer> {
        let answers = self.answers(method, path);
        let after = answers.partition_point(|a| a.at_ms <= now);
        after.checked_sub(1).map(|i| &answers[i])
    }

    /// The first answer ever recorded for a request.
    pub(crate) fn earliest(&self, method: &str, path: &str) -> Option<&Answer> {
        self.answers(method, path).first()
    }

    /// The slot of the node's head at `now` (from SSE `head`); 0 before the first.
    pub(crate) fn head_slot_at(&self, now: Ms) -> u64 {
        let after = self.heads.partition_point(|h| h.0 <= now);
        after.checked_sub(1).map_or(0, |i| self.heads[i].1)
    }

    /// When the block of `slot` was imported, if it ever was.
    pub(crate) fn block_seen_ms(&self, slot: u64) -> Option<Ms> {
        self.blocks.get(&slot).copied()
    }

    /// The highest slot ≤ `slot` whose block the node had at `now`.
    pub(crate) fn last_block_at_or_before(&self, slot: u64, now: Ms) -> Option<u64> {
        self.blocks
            .range(..=slot)
            .rev()
            .find(|(_, seen)| **seen <= now)
            .map(|(slot, _)| *slot)
    }

    /// Slot of a block root or state root seen in the recording.
    pub(crate) fn slot_of_root(&self, root: &str) -> Option<u64> {
        self.roots.get(&root.to_ascii_lowercase()).copied()
    }

    /// Every `/metrics` target of the recording, sorted.
    pub(crate) fn metrics_targets(&self) -> Vec<String> {
        let mut targets: Vec<String> = self.metrics.keys().cloned().collect();
        targets.sort();
        targets
    }

    /// The `/metrics` text of `target` at `now`: the latest successful poll at or
    /// before it, else the first one (the raw JSON string literal, decoded on serving).
    /// Outages are [`Recording::outage_at`]'s business.
    pub(crate) fn metrics_text(&self, target: &str, now: Ms) -> Option<&RawValue> {
        let samples = self.metrics.get(target)?;
        let after = samples.partition_point(|s| s.at_ms <= now);
        samples[..after]
            .iter()
            .rev()
            .chain(&samples[after..])
            .find_map(|s| s.text.as_deref())
    }

    /// Whether `target` was unreachable at `now` according to the recording, and the
    /// next moment at which that changes (to schedule the listener).
    pub(crate) fn outage_at(&self, target: &str, now: Ms) -> (bool, Option<Ms>) {
        let Some(events) = self.reachability.get(target) else {
            return (false, None);
        };
        let after = events.partition_point(|e| e.0 <= now);
        let up = match after.checked_sub(1) {
            Some(i) => events[i].1,
            None => events.first().is_none_or(|e| e.1),
        };
        let next = events[after..].iter().find(|e| e.1 != up).map(|e| e.0);
        (!up, next)
    }
}

/// Loads a recording once per process: tests start many replays of the same file, and
/// decompressing 100+ MB each time would dominate their run time. A recording is freed
/// when the last replay using it is gone.
pub(crate) fn load_shared(path: &Path) -> Result<Arc<Recording>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Weak<Recording>>>> = OnceLock::new();
    let key = path
        .canonicalize()
        .with_context(|| format!("fixture {} not found", path.display()))?;
    // Held while loading: a second replay of the same file waits instead of loading twice.
    let mut cache = CACHE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(rec) = cache.get(&key).and_then(Weak::upgrade) {
        return Ok(rec);
    }
    let rec = Arc::new(Recording::load(&key)?);
    cache.retain(|_, weak| weak.strong_count() > 0);
    cache.insert(key, Arc::downgrade(&rec));
    Ok(rec)
}
