//! Beacon API client: the standard REST API every consensus client serves.
//!
//! Client differences are detected, not assumed: each endpoint that has an older request
//! form (Lodestar 1.5.1 and other clients operators still run) is tried in its modern
//! form first and, on 404/405, in the older form; the working form is remembered per
//! endpoint. "State unavailable" answers (404/500 for pruned or not-yet-computed states)
//! are `Ok(None)`: data missing, never a crash and never a zero.

use crate::model::ChainSpec;
use serde_json::Value;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Per-request timeout: one slot on mainnet is 12 s; a request must leave time to act.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request failed, worded for the operator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BeaconError {
    #[error(
        "{url}: connection refused or reset (is the beacon node running and its REST API enabled?)"
    )]
    Unreachable { url: String },
    #[error("{url}: no answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: malformed answer: {detail}")]
    Malformed { url: String, detail: String },
    #[error("{url}: {detail}")]
    Other { url: String, detail: String },
}

impl BeaconError {
    /// HTTP status, when the node answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            BeaconError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the node is up but the data does not exist (yet, or any more) or the
    /// request is outside what it serves (400: e.g. duties too far ahead).
    pub fn is_missing(&self) -> bool {
        matches!(self.status(), Some(400 | 404 | 500 | 503))
    }
}

/// Which request form an endpoint accepts here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Form {
    Untried = 0,
    Modern = 1,
    Legacy = 2,
    /// Neither form exists (e.g. rewards on Lodestar 1.5.1).
    Absent = 3,
}

/// Endpoints with more than one request form, or that may be absent.
#[derive(Debug, Default)]
struct Forms {
    liveness: AtomicU8,
    validators: AtomicU8,
    rewards: AtomicU8,
}

fn load(f: &AtomicU8) -> Form {
    match f.load(Ordering::Relaxed) {
        1 => Form::Modern,
        2 => Form::Legacy,
        3 => Form::Absent,
        _ => Form::Untried,
    }
}

/// A block header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub slot: u64,
    pub proposer: u64,
    pub root: String,
    pub parent_root: String,
}

/// An attestation as included in a block (phase0 to Deneb layout).
#[derive(Debug, Clone, PartialEq)]
pub struct IncludedAttestation {
    pub slot: u64,
    pub committee_index: u64,
    /// Aggregation bits, one per committee member.
    pub bits: Vec<bool>,
}

/// The parts of a block Vigil uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub slot: u64,
    pub proposer: u64,
    pub root: Option<String>,
    pub parent_root: String,
    pub attestations: Vec<IncludedAttestation>,
    /// Sync committee bits (signing for the previous slot); empty before Altair.
    pub sync_bits: Vec<bool>,
    pub execution_block_number: Option<u64>,
    pub fee_recipient: Option<String>,
    /// Deposits in the block body: `(pubkey, amount gwei)` (deposits name keys, not indices).
    pub deposits: Vec<(String, i64)>,
    /// Withdrawals swept by the execution payload: `(validator, amount gwei)`.
    pub withdrawals: Vec<(u64, i64)>,
}

/// Network-wide figures from the state's validator list: the spec's inputs for base
/// rewards, read without indexing anything per validator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkSummary {
    /// Validators active in the state's epoch.
    pub active_validators: u64,
    /// Sum of their effective balances, gwei.
    pub total_active_balance: i64,
    /// Validators in the state (any status): the size of the answer.
    pub total_validators: u64,
}

/// `/eth/v1/node/syncing`.
#[derive(Debug, Clone, PartialEq)]
pub struct Syncing {
    pub head_slot: u64,
    pub sync_distance: u64,
    pub is_syncing: bool,
    pub is_optimistic: Option<bool>,
    pub el_offline: Option<bool>,
}

/// A validator from `states/{id}/validators`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatorInfo {
    pub index: u64,
    pub pubkey: String,
    /// `validator-status` code of the contract (0-9).
    pub status: u8,
    pub balance: i64,
    pub effective_balance: i64,
    pub slashed: bool,
}

/// An attester duty.
#[derive(Debug, Clone, PartialEq)]
pub struct AttesterDuty {
    pub validator: u64,
    pub slot: u64,
    pub committee_index: u64,
    pub committee_length: u64,
    pub position: u64,
}

/// Attestation rewards of one validator for one epoch, gwei.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationReward {
    pub validator: u64,
    pub head: i64,
    pub target: i64,
    pub source: i64,
    pub inactivity: i64,
}

/// What a perfect validator with this effective balance earned, gwei.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdealReward {
    pub effective_balance: i64,
    pub head: i64,
    pub target: i64,
    pub source: i64,
}

/// `rewards/attestations/{epoch}`: actual rewards per validator and the ideal table
/// (one row per effective-balance step).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttestationRewards {
    pub totals: Vec<AttestationReward>,
    pub ideal: Vec<IdealReward>,
}

impl AttestationRewards {
    /// The ideal rewards for an effective balance.
    pub fn ideal_for(&self, effective_balance: i64) -> Option<IdealReward> {
        self.ideal
            .iter()
            .copied()
            .find(|r| r.effective_balance == effective_balance)
    }
}

/// `/eth/v1/beacon/genesis`.
#[derive(Debug, Clone, PartialEq)]
pub struct Genesis {
    pub genesis_time: u64,
    pub genesis_validators_root: String,
}

/// One beacon node's REST API. Cheap to clone (shared state behind `Arc`s).
#[derive(Debug, Clone)]
pub struct BeaconApi {
    base: std::sync::Arc<str>,
    http: reqwest::Client,
    forms: std::sync::Arc<Forms>,
}

/// Deposits `(pubkey lower-case, gwei)` and withdrawals `(validator, gwei)` of a block.
pub type BlockFlows = (Vec<(String, i64)>, Vec<(u64, i64)>);

/// The [`BlockFlows`] of a block body (`deposits[].data`,
/// `execution_payload.withdrawals[]`); absent lists are empty.
pub fn block_flows(body: &Value) -> BlockFlows {
    let deposits = body["deposits"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    let data = &d["data"];
                    Some((
                        data["pubkey"].as_str()?.to_ascii_lowercase(),
                        num_gwei(&data["amount"])?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let withdrawals = body["execution_payload"]["withdrawals"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| Some((num_u64(&w["validator_index"])?, num_gwei(&w["amount"])?)))
                .collect()
        })
        .unwrap_or_default();
    (deposits, withdrawals)
}

/// A number the API sends as a string (or, in old clients, a JSON number).
pub fn num_u64(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A gwei amount: integer or decimal string ("1233287.25", some clients' ideal
/// rewards), rounded half to even.
pub fn num_gwei(v: &Value) -> Option<i64> {
    let s = match v {
        Value::String(s) => s.as_str(),
        Value::Number(n) => return n.as_i64().or_else(|| n.as_f64().map(round_half_even)),
        _ => return None,
    };
    if let Ok(i) = s.parse::<i64>() {
        return Some(i);
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(round_half_even)
}

fn round_half_even(f: f64) -> i64 {
    let r = f.round();
    if (f - f.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - f.signum()) as i64
    } else {
        r as i64
    }
}

/// Bits of an SSZ bitlist (with its length-marker bit) from 0x-hex.
pub fn bitlist(hex_str: &str) -> Option<Vec<bool>> {
    let bytes = hex::decode(hex_str.trim_start_matches("0x")).ok()?;
    let last = *bytes.last()?;
    if last == 0 {
        return None;
    }
    let len = (bytes.len() - 1) * 8 + (7 - last.leading_zeros() as usize);
    Some((0..len).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

/// Bits of an SSZ bitvector from 0x-hex.
pub fn bitvector(hex_str: &str) -> Option<Vec<bool>> {
    let bytes = hex::decode(hex_str.trim_start_matches("0x")).ok()?;
    Some(
        (0..bytes.len() * 8)
            .map(|i| bytes[i / 8] >> (i % 8) & 1 == 1)
            .collect(),
    )
}

/// The contract's `validator-status` code for a beacon API status string.
pub fn status_code(s: &str) -> u8 {
    match s {
        "pending_initialized" => 0,
        "pending_queued" => 1,
        "active_ongoing" => 2,
        "active_exiting" => 3,
        "active_slashed" => 4,
        "exited_unslashed" => 5,
        "exited_slashed" => 6,
        "withdrawal_possible" => 7,
        "withdrawal_done" => 8,
        _ => 9,
    }
}

impl BeaconApi {
    /// A client for the node at `base` (e.g. `http://127.0.0.1:5052`).
    pub fn new(base: &str, http: reqwest::Client) -> BeaconApi {
        BeaconApi {
            base: base.trim_end_matches('/').into(),
            http,
            forms: Default::default(),
        }
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn classify(&self, url: &str, e: reqwest::Error) -> BeaconError {
        let url = url.to_string();
        if e.is_timeout() {
            BeaconError::Timeout { url }
        } else if e.is_connect() {
            BeaconError::Unreachable { url }
        } else if e.is_decode() || e.is_body() {
            BeaconError::Malformed {
                url,
                detail: e.to_string(),
            }
        } else {
            BeaconError::Other {
                url,
                detail: e.to_string(),
            }
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, url: &str) -> Result<Value, BeaconError> {
        let resp = req
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.classify(url, e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.classify(url, e))?;
        if !(200..300).contains(&status) {
            // Error bodies are `{"code":…,"message":…}`; keep the message, drop stack traces.
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| text.chars().take(200).collect());
            return Err(BeaconError::Status {
                url: url.to_string(),
                status,
                message,
            });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| BeaconError::Malformed {
            url: url.to_string(),
            detail: e.to_string(),
        })
    }

    /// GET a path, returning the whole JSON body.
    pub async fn get(&self, path: &str) -> Result<Value, BeaconError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(&url), &url).await
    }

    /// POST a JSON body to a path.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, BeaconError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.post(&url).json(body), &url).await
    }

    fn malformed(&self, path: &str, what: &str) -> BeaconError {
        BeaconError::Malformed {
            url: format!("{}{path}", self.base),
            detail: format!("missing or invalid {what}"),
        }
    }

    /// The `data` array of an answer, or a malformed-answer error naming the URL.
    fn data_array<'a>(&self, path: &str, v: &'a Value) -> Result<&'a Vec<Value>, BeaconError> {
        self.data(path, v)?
            .as_array()
            .ok_or_else(|| self.malformed(path, "`data` array"))
    }

    fn data<'a>(&self, path: &str, v: &'a Value) -> Result<&'a Value, BeaconError> {
        v.get("data").ok_or_else(|| self.malformed(path, "`data`"))
    }

    /// `/eth/v1/node/version` → the raw version string.
    pub async fn version(&self) -> Result<String, BeaconError> {
        let p = "/eth/v1/node/version";
        let v = self.get(p).await?;
        self.data(p, &v)?["version"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.malformed(p, "version"))
    }

    /// `/eth/v1/beacon/genesis`.
    pub async fn genesis(&self) -> Result<Genesis, BeaconError> {
        let p = "/eth/v1/beacon/genesis";
        let v = self.get(p).await?;
        let d = self.data(p, &v)?;
        Ok(Genesis {
            genesis_time: num_u64(&d["genesis_time"])
                .ok_or_else(|| self.malformed(p, "genesis_time"))?,
            genesis_validators_root: d["genesis_validators_root"]
                .as_str()
                .ok_or_else(|| self.malformed(p, "genesis_validators_root"))?
                .to_string(),
        })
    }

    /// `/eth/v1/config/spec`: the constants Vigil needs, read, never assumed.
    pub async fn spec(&self) -> Result<ChainSpec, BeaconError> {
        let p = "/eth/v1/config/spec";
        let v = self.get(p).await?;
        let d = self.data(p, &v)?;
        let u = |k: &str| num_u64(&d[k]).ok_or_else(|| self.malformed(p, k));
        let i = |k: &str, default: i64| num_gwei(&d[k]).unwrap_or(default);
        Ok(ChainSpec {
            seconds_per_slot: u("SECONDS_PER_SLOT")?,
            slots_per_epoch: u("SLOTS_PER_EPOCH")?,
            epochs_per_sync_committee_period: num_u64(&d["EPOCHS_PER_SYNC_COMMITTEE_PERIOD"])
                .unwrap_or(256),
            sync_committee_size: num_u64(&d["SYNC_COMMITTEE_SIZE"]).unwrap_or(512),
            max_effective_balance: i("MAX_EFFECTIVE_BALANCE", 32_000_000_000),
            effective_balance_increment: i("EFFECTIVE_BALANCE_INCREMENT", 1_000_000_000),
            base_reward_factor: i("BASE_REWARD_FACTOR", 64),
        })
    }

    /// `/eth/v1/node/syncing`.
    pub async fn syncing(&self) -> Result<Syncing, BeaconError> {
        let p = "/eth/v1/node/syncing";
        let v = self.get(p).await?;
        let d = self.data(p, &v)?;
        Ok(Syncing {
            head_slot: num_u64(&d["head_slot"]).ok_or_else(|| self.malformed(p, "head_slot"))?,
            sync_distance: num_u64(&d["sync_distance"])
                .ok_or_else(|| self.malformed(p, "sync_distance"))?,
            is_syncing: d["is_syncing"]
                .as_bool()
                .ok_or_else(|| self.malformed(p, "is_syncing"))?,
            is_optimistic: d["is_optimistic"].as_bool(),
            el_offline: d["el_offline"].as_bool(),
        })
    }

    /// `/eth/v1/node/peer_count` → connected peers.
    pub async fn peer_count(&self) -> Result<u64, BeaconError> {
        let p = "/eth/v1/node/peer_count";
        let v = self.get(p).await?;
        num_u64(&self.data(p, &v)?["connected"]).ok_or_else(|| self.malformed(p, "connected"))
    }

    /// `/eth/v1/node/health` → its HTTP status (200 ready, 206 syncing, 503 not ready).
    pub async fn health(&self) -> Result<u16, BeaconError> {
        let url = format!("{}/eth/v1/node/health", self.base);
        let resp = self
            .http
            .get(&url)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.classify(&url, e))?;
        Ok(resp.status().as_u16())
    }

    /// `/eth/v1/beacon/states/head/finality_checkpoints` → (finalized, current justified).
    pub async fn finality(&self) -> Result<(u64, u64), BeaconError> {
        let p = "/eth/v1/beacon/states/head/finality_checkpoints";
        let v = self.get(p).await?;
        let d = self.data(p, &v)?;
        Ok((
            num_u64(&d["finalized"]["epoch"])
                .ok_or_else(|| self.malformed(p, "finalized.epoch"))?,
            num_u64(&d["current_justified"]["epoch"])
                .ok_or_else(|| self.malformed(p, "current_justified.epoch"))?,
        ))
    }

    /// A header by block id (`head`, a slot, a root); `None` when there is no block.
    pub async fn header(&self, id: &str) -> Result<Option<Header>, BeaconError> {
        let p = format!("/eth/v1/beacon/headers/{id}");
        let v = match self.get(&p).await {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let d = self.data(&p, &v)?;
        let m = &d["header"]["message"];
        Ok(Some(Header {
            slot: num_u64(&m["slot"]).ok_or_else(|| self.malformed(&p, "slot"))?,
            proposer: num_u64(&m["proposer_index"])
                .ok_or_else(|| self.malformed(&p, "proposer_index"))?,
            root: d["root"].as_str().unwrap_or_default().to_string(),
            parent_root: m["parent_root"].as_str().unwrap_or_default().to_string(),
        }))
    }

    /// A block by id; `None` when there is no block at that slot.
    pub async fn block(&self, id: &str) -> Result<Option<Block>, BeaconError> {
        let p = format!("/eth/v2/beacon/blocks/{id}");
        let v = match self.get(&p).await {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let m = &self.data(&p, &v)?["message"];
        let body = &m["body"];
        let attestations = body["attestations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|att| {
                        Some(IncludedAttestation {
                            slot: num_u64(&att["data"]["slot"])?,
                            committee_index: num_u64(&att["data"]["index"])?,
                            bits: bitlist(att["aggregation_bits"].as_str()?)?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let payload = &body["execution_payload"];
        let flows = block_flows(body);
        Ok(Some(Block {
            slot: num_u64(&m["slot"]).ok_or_else(|| self.malformed(&p, "slot"))?,
            proposer: num_u64(&m["proposer_index"])
                .ok_or_else(|| self.malformed(&p, "proposer_index"))?,
            root: None,
            parent_root: m["parent_root"].as_str().unwrap_or_default().to_string(),
            attestations,
            sync_bits: body["sync_aggregate"]["sync_committee_bits"]
                .as_str()
                .and_then(bitvector)
                .unwrap_or_default(),
            execution_block_number: num_u64(&payload["block_number"]),
            fee_recipient: payload["fee_recipient"].as_str().map(str::to_string),
            deposits: flows.0,
            withdrawals: flows.1,
        }))
    }

    /// Active validator count and total active balance from the unfiltered validator
    /// list of state `head`. One request per epoch; its size grows with the network, so
    /// on a large network the collector asks once a day (see `chain.rs`).
    pub async fn network_summary(&self) -> Result<NetworkSummary, BeaconError> {
        let p = "/eth/v1/beacon/states/head/validators";
        let v = self.get(p).await?;
        let list = self.data_array(p, &v)?;
        let mut sum = NetworkSummary {
            active_validators: 0,
            total_active_balance: 0,
            total_validators: list.len() as u64,
        };
        for e in list {
            // active_ongoing, active_exiting, active_slashed
            if matches!(status_code(e["status"].as_str().unwrap_or_default()), 2..=4) {
                sum.active_validators += 1;
                sum.total_active_balance +=
                    num_gwei(&e["validator"]["effective_balance"]).unwrap_or(0);
            }
        }
        Ok(sum)
    }

    /// Validators by index (state `head`). Modern nodes filter with POST; old ones (e.g.
    /// Lodestar 1.5.1 filters only by pubkey) get an unfiltered GET, filtered here.
    pub async fn validators(&self, indices: &[u64]) -> Result<Vec<ValidatorInfo>, BeaconError> {
        let p = "/eth/v1/beacon/states/head/validators";
        let ids: Vec<String> = indices.iter().map(u64::to_string).collect();
        let v = match load(&self.forms.validators) {
            Form::Legacy => self.get(p).await?,
            _ => match self.post(p, &serde_json::json!({ "ids": ids })).await {
                Ok(v) => {
                    self.forms
                        .validators
                        .store(Form::Modern as u8, Ordering::Relaxed);
                    v
                }
                Err(e) if matches!(e.status(), Some(404 | 405 | 400)) => {
                    tracing::info!(node = %self.base, "POST validators not supported here: using GET (older client)");
                    self.forms
                        .validators
                        .store(Form::Legacy as u8, Ordering::Relaxed);
                    self.get(p).await?
                }
                Err(e) => return Err(e),
            },
        };
        let want: std::collections::BTreeSet<u64> = indices.iter().copied().collect();
        let list = self.data_array(p, &v)?;
        Ok(list
            .iter()
            .filter_map(|e| {
                let index = num_u64(&e["index"])?;
                want.contains(&index).then(|| ValidatorInfo {
                    index,
                    pubkey: e["validator"]["pubkey"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    status: status_code(e["status"].as_str().unwrap_or_default()),
                    balance: num_gwei(&e["balance"]).unwrap_or(0),
                    effective_balance: num_gwei(&e["validator"]["effective_balance"]).unwrap_or(0),
                    slashed: e["validator"]["slashed"].as_bool().unwrap_or(false),
                })
            })
            .collect())
    }

    /// The index of the validator with this public key; `None` if the chain has none.
    pub async fn index_of(&self, pubkey: &str) -> Result<Option<u64>, BeaconError> {
        let p = format!("/eth/v1/beacon/states/head/validators/{pubkey}");
        match self.get(&p).await {
            Ok(v) => Ok(num_u64(&self.data(&p, &v)?["index"])),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Proposer duties of an epoch: `(slot, validator)`.
    pub async fn proposer_duties(&self, epoch: u64) -> Result<Vec<(u64, u64)>, BeaconError> {
        let p = format!("/eth/v1/validator/duties/proposer/{epoch}");
        let v = self.get(&p).await?;
        let list = self.data_array(&p, &v)?;
        Ok(list
            .iter()
            .filter_map(|d| Some((num_u64(&d["slot"])?, num_u64(&d["validator_index"])?)))
            .collect())
    }

    /// Attester duties of an epoch for these validators.
    pub async fn attester_duties(
        &self,
        epoch: u64,
        indices: &[u64],
    ) -> Result<Vec<AttesterDuty>, BeaconError> {
        let p = format!("/eth/v1/validator/duties/attester/{epoch}");
        let ids: Vec<String> = indices.iter().map(u64::to_string).collect();
        let v = self.post(&p, &serde_json::json!(ids)).await?;
        let list = self.data_array(&p, &v)?;
        Ok(list
            .iter()
            .filter_map(|d| {
                Some(AttesterDuty {
                    validator: num_u64(&d["validator_index"])?,
                    slot: num_u64(&d["slot"])?,
                    committee_index: num_u64(&d["committee_index"])?,
                    committee_length: num_u64(&d["committee_length"])?,
                    position: num_u64(&d["validator_committee_index"])?,
                })
            })
            .collect())
    }

    /// Sync committee duties of an epoch: validator → its seats in the committee.
    pub async fn sync_duties(
        &self,
        epoch: u64,
        indices: &[u64],
    ) -> Result<Vec<(u64, Vec<u64>)>, BeaconError> {
        let p = format!("/eth/v1/validator/duties/sync/{epoch}");
        let ids: Vec<String> = indices.iter().map(u64::to_string).collect();
        let v = self.post(&p, &serde_json::json!(ids)).await?;
        let list = self.data_array(&p, &v)?;
        Ok(list
            .iter()
            .filter_map(|d| {
                let seats = d["validator_sync_committee_indices"]
                    .as_array()?
                    .iter()
                    .filter_map(num_u64)
                    .collect();
                Some((num_u64(&d["validator_index"])?, seats))
            })
            .collect())
    }

    /// Liveness of validators in an epoch. Modern: `POST /eth/v1/validator/liveness/{e}`;
    /// older clients: `GET …/liveness?epoch=E&indices=…`. `None` when the node has
    /// no liveness endpoint (Teku needs a flag for it).
    pub async fn liveness(
        &self,
        epoch: u64,
        indices: &[u64],
    ) -> Result<Option<Vec<(u64, bool)>>, BeaconError> {
        let parse = |p: &str, v: Value| -> Result<Option<Vec<(u64, bool)>>, BeaconError> {
            let list = self.data_array(p, &v)?;
            Ok(Some(
                list.iter()
                    .filter_map(|d| Some((num_u64(&d["index"])?, d["is_live"].as_bool()?)))
                    .collect(),
            ))
        };
        let modern = format!("/eth/v1/validator/liveness/{epoch}");
        let legacy = format!(
            "/eth/v1/validator/liveness?epoch={epoch}{}",
            indices
                .iter()
                .map(|i| format!("&indices={i}"))
                .collect::<String>()
        );
        match load(&self.forms.liveness) {
            Form::Absent => Ok(None),
            Form::Legacy => match self.get(&legacy).await {
                Ok(v) => parse(&legacy, v),
                Err(e) if e.status() == Some(404) && e.to_string().contains("Route") => Ok(None),
                Err(e) => Err(e),
            },
            _ => {
                let ids: Vec<String> = indices.iter().map(u64::to_string).collect();
                match self.post(&modern, &serde_json::json!(ids)).await {
                    Ok(v) => {
                        self.forms
                            .liveness
                            .store(Form::Modern as u8, Ordering::Relaxed);
                        parse(&modern, v)
                    }
                    Err(e)
                        if matches!(e.status(), Some(404 | 405))
                            && load(&self.forms.liveness) == Form::Untried =>
                    {
                        match self.get(&legacy).await {
                            Ok(v) => {
                                tracing::info!(node = %self.base, "liveness answers only in its older GET form here: using it");
                                self.forms
                                    .liveness
                                    .store(Form::Legacy as u8, Ordering::Relaxed);
                                parse(&legacy, v)
                            }
                            Err(e2) if matches!(e2.status(), Some(404 | 405)) => {
                                tracing::warn!(node = %self.base, "no liveness endpoint: attestations judged from rewards and blocks only");
                                self.forms
                                    .liveness
                                    .store(Form::Absent as u8, Ordering::Relaxed);
                                Ok(None)
                            }
                            Err(e2) => Err(e2),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Attestation rewards of an epoch. `Ok(None)` when unavailable: the state is not
    /// (yet, or any more) available, or the client has no rewards endpoints.
    pub async fn attestation_rewards(
        &self,
        epoch: u64,
        indices: &[u64],
    ) -> Result<Option<AttestationRewards>, BeaconError> {
        if load(&self.forms.rewards) == Form::Absent {
            return Ok(None);
        }
        let p = format!("/eth/v1/beacon/rewards/attestations/{epoch}");
        let ids: Vec<String> = indices.iter().map(u64::to_string).collect();
        let v = match self.post(&p, &serde_json::json!(ids)).await {
            Ok(v) => v,
            Err(e) if self.rewards_absent(&e) || e.is_missing() => return Ok(None),
            Err(e) => return Err(e),
        };
        self.forms
            .rewards
            .store(Form::Modern as u8, Ordering::Relaxed);
        let d = self.data(&p, &v)?;
        let ideal = d["ideal_rewards"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        Some(IdealReward {
                            effective_balance: num_gwei(&r["effective_balance"])?,
                            head: num_gwei(&r["head"])?,
                            target: num_gwei(&r["target"])?,
                            source: num_gwei(&r["source"])?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let totals = d["total_rewards"]
            .as_array()
            .ok_or_else(|| self.malformed(&p, "total_rewards"))?
            .iter()
            .filter_map(|r| {
                Some(AttestationReward {
                    validator: num_u64(&r["validator_index"])?,
                    // Some clients omit `head` when it is zero.
                    head: num_gwei(&r["head"]).unwrap_or(0),
                    target: num_gwei(&r["target"])?,
                    source: num_gwei(&r["source"])?,
                    inactivity: num_gwei(&r["inactivity"]).unwrap_or(0),
                })
            })
            .collect();
        Ok(Some(AttestationRewards { totals, ideal }))
    }

    fn rewards_absent(&self, e: &BeaconError) -> bool {
        // A 404 whose message is about the route, not the state: the endpoint does not
        // exist in this client (Lodestar 1.5.1).
        let absent = e.status() == Some(404) && e.to_string().to_lowercase().contains("route");
        if absent {
            tracing::info!(node = %self.base, "no rewards endpoints here (older client): falling back to liveness, blocks and balances");
            self.forms
                .rewards
                .store(Form::Absent as u8, Ordering::Relaxed);
        }
        absent
    }

    /// Block reward of the block at `slot`, gwei; `None` when unavailable.
    pub async fn block_reward(&self, slot: u64) -> Result<Option<i64>, BeaconError> {
        if load(&self.forms.rewards) == Form::Absent {
            return Ok(None);
        }
        let p = format!("/eth/v1/beacon/rewards/blocks/{slot}");
        match self.get(&p).await {
            Ok(v) => Ok(num_gwei(&self.data(&p, &v)?["total"])),
            Err(e) if self.rewards_absent(&e) || e.is_missing() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sync committee rewards of the block at `slot` for these validators.
    pub async fn sync_rewards(
        &self,
        slot: u64,
        indices: &[u64],
    ) -> Result<Option<Vec<(u64, i64)>>, BeaconError> {
        if load(&self.forms.rewards) == Form::Absent {
            return Ok(None);
        }
        let p = format!("/eth/v1/beacon/rewards/sync_committee/{slot}");
        let ids: Vec<String> = indices.iter().map(u64::to_string).collect();
        match self.post(&p, &serde_json::json!(ids)).await {
            Ok(v) => {
                let list = self.data_array(&p, &v)?;
                Ok(Some(
                    list.iter()
                        .filter_map(|r| {
                            Some((num_u64(&r["validator_index"])?, num_gwei(&r["reward"])?))
                        })
                        .collect(),
                ))
            }
            Err(e) if self.rewards_absent(&e) || e.is_missing() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_from_strings_and_decimals() {
        assert_eq!(num_u64(&serde_json::json!("42")), Some(42));
        assert_eq!(num_u64(&serde_json::json!(42)), Some(42));
        assert_eq!(num_gwei(&serde_json::json!("-5316")), Some(-5316));
        assert_eq!(num_gwei(&serde_json::json!("20752.4296875")), Some(20752));
        assert_eq!(num_gwei(&serde_json::json!("2.5")), Some(2));
        assert_eq!(num_gwei(&serde_json::json!("3.5")), Some(4));
        assert_eq!(num_gwei(&serde_json::json!("-2.5")), Some(-2));
        assert_eq!(num_gwei(&serde_json::json!("x")), None);
    }

    #[test]
    fn bitlists_drop_the_length_marker() {
        // 0b0000_0101: bits [1, 0] then the marker at position 2.
        assert_eq!(bitlist("0x05"), Some(vec![true, false]));
        assert_eq!(
            bitlist("0x0301"),
            Some(vec![true, true, false, false, false, false, false, false])
        );
        assert_eq!(bitlist("0x00"), None);
        assert_eq!(bitvector("0x01").map(|b| b.len()), Some(8));
    }

    #[test]
    fn deposits_and_withdrawals_from_block_bodies() {
        // The recorded Lodestar 1.5.1 block: no deposits, no withdrawals (known empty).
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/lodestar-1.5.1/eth_v2_beacon_blocks_42.json"
        ))
        .unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        let body = &v["data"]["message"]["body"];
        assert!(body.is_object(), "fixture block body");
        assert_eq!(block_flows(body), (vec![], vec![]));
        // A Capella+ body with a top-up deposit and a withdrawal sweep.
        let body = serde_json::json!({
            "deposits": [{"proof": [], "data": {"pubkey": "0xAB12", "withdrawal_credentials": "0x00",
                          "amount": "1000000000", "signature": "0x"}}],
            "execution_payload": {"withdrawals": [
                {"index": "1", "validator_index": "6", "address": "0x00", "amount": "12345"}
            ]}
        });
        assert_eq!(
            block_flows(&body),
            (
                vec![("0xab12".to_string(), 1_000_000_000)],
                vec![(6, 12_345)]
            )
        );
    }

    #[test]
    fn statuses_map_to_contract_codes() {
        assert_eq!(status_code("active_ongoing"), 2);
        assert_eq!(status_code("withdrawal_done"), 8);
        assert_eq!(status_code("something_new"), 9);
    }
}
