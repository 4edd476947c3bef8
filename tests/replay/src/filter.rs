//! Narrowing a recorded answer to the validators a request asked for.
//!
//! The recorder always asked for every validator; a collector asks for its own. Each
//! endpoint names the index differently (`validator_index`, `index`) and nests its list
//! differently, so the filters are per endpoint shape. Recorded order is kept, except
//! where Lodestar answers in request order (duties, liveness).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// A validator id as a client may give it: an index or a `0x…` pubkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValidatorId {
    Index(u64),
    Pubkey(String),
}

impl ValidatorId {
    /// Parses `"6"`, `6` or `"0xabc…"`; anything else is a client error.
    fn parse(value: &Value) -> Result<ValidatorId, String> {
        match value {
            Value::Number(n) => n
                .as_u64()
                .map(ValidatorId::Index)
                .ok_or_else(|| format!("invalid validator index {n}")),
            Value::String(s) => ValidatorId::parse_str(s),
            other => Err(format!("invalid validator id {other}")),
        }
    }

    pub(crate) fn parse_str(s: &str) -> Result<ValidatorId, String> {
        let s = s.trim();
        if let Some(hex) = s.strip_prefix("0x") {
            if hex.len() == 96 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(ValidatorId::Pubkey(s.to_ascii_lowercase()));
            }
            return Err(format!("invalid validator pubkey '{s}'"));
        }
        s.parse()
            .map(ValidatorId::Index)
            .map_err(|_| format!("invalid validator id '{s}'"))
    }
}

/// Parses a POST body that is a JSON array of validator ids (`["6","7"]`).
pub(crate) fn parse_id_array(body: &[u8]) -> Result<Vec<ValidatorId>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not JSON: {e}"))?;
    match value {
        Value::Array(items) => items.iter().map(ValidatorId::parse).collect(),
        _ => Err("request body must be a JSON array of validator ids".to_owned()),
    }
}

/// Parses a POST body that must hold validator *indices* only (duties, liveness).
pub(crate) fn parse_index_array(body: &[u8]) -> Result<Vec<u64>, String> {
    parse_id_array(body)?
        .into_iter()
        .map(|id| match id {
            ValidatorId::Index(i) => Ok(i),
            ValidatorId::Pubkey(p) => Err(format!("expected a validator index, got '{p}'")),
        })
        .collect()
}

/// Parses the body of `POST /eth/v1/beacon/states/{id}/validators`:
/// `{"ids":[…],"statuses":[…]}`, both optional.
pub(crate) fn parse_validators_body(
    body: &[u8],
) -> Result<(Vec<ValidatorId>, Vec<String>), String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Vec::new(), Vec::new()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not JSON: {e}"))?;
    let ids = match value.get("ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(ValidatorId::parse)
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`ids` must be an array".to_owned()),
    };
    let statuses = match value.get("statuses") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or("`statuses` must be strings")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`statuses` must be an array".to_owned()),
    };
    Ok((ids, statuses))
}

/// Decodes a query string into (key, value) pairs; repeated keys stay repeated.
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    let Some(query) = query else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Every value of `key`, with comma-separated lists split (`id=1,2&id=3`).
pub(crate) fn query_values(query: &[(String, String)], key: &str) -> Vec<String> {
    query
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn index_of(entry: &Value, field: &str) -> Option<u64> {
    match entry.get(field)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Keeps the entries of `list` whose `field` is in `wanted` (all when `wanted` is empty).
fn retain_in(list: Option<&mut Value>, field: &str, wanted: &[u64]) {
    if wanted.is_empty() {
        return;
    }
    let wanted: HashSet<u64> = wanted.iter().copied().collect();
    if let Some(Value::Array(items)) = list {
        items.retain(|e| index_of(e, field).is_some_and(|i| wanted.contains(&i)));
    }
}

/// `data[]` filtered on `field` (rewards/sync_committee, validator_balances, validators).
pub(crate) fn filter_data(body: &mut Value, field: &str, wanted: &[u64]) {
    retain_in(body.get_mut("data"), field, wanted);
}

/// `rewards/attestations`: `data.total_rewards[]` filtered on `validator_index`;
/// `data.ideal_rewards[]` (per effective balance, not per validator) kept whole.
pub(crate) fn filter_attestation_rewards(body: &mut Value, wanted: &[u64]) {
    retain_in(
        body.pointer_mut("/data/total_rewards"),
        "validator_index",
        wanted,
    );
}

/// Duties: the entries of the requested validators, in request order (as Lodestar
/// builds them); validators without a duty are absent.
pub(crate) fn select_duties(body: &mut Value, wanted: &[u64]) {
    let Some(Value::Array(items)) = body.get_mut("data") else {
        return;
    };
    let mut by_index: HashMap<u64, Vec<Value>> = HashMap::new();
    for item in items.drain(..) {
        if let Some(i) = index_of(&item, "validator_index") {
            by_index.entry(i).or_default().push(item);
        }
    }
    let mut seen = HashSet::new();
    for i in wanted {
        if seen.insert(*i)
            && let Some(entries) = by_index.remove(i)
        {
            items.extend(entries);
        }
    }
}

/// Liveness: one entry per requested index, in request order, as Lodestar answers
/// (an index the recording does not know is simply not live).
pub(crate) fn liveness(recorded: Option<&Value>, wanted: &[u64]) -> Value {
    let live: HashMap<u64, bool> = recorded
        .and_then(|b| b.get("data"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| Some((index_of(e, "index")?, e.get("is_live")?.as_bool()?)))
        .collect();
    let data: Vec<Value> = wanted
        .iter()
        .map(|i| {
            serde_json::json!({"index": i.to_string(), "is_live": live.get(i).copied().unwrap_or(false)})
        })
        .collect();
    serde_json::json!({ "data": data })
}

/// Whether a validator status matches a requested status or status group
/// (`active` covers `active_ongoing`, `active_exiting`, `active_slashed`, …).
fn status_matches(status: &str, wanted: &str) -> bool {
    status == wanted
        || status
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('_'))
}

/// `states/{id}/validators`: `data[]` filtered on `index` and on status (groups allowed).
pub(crate) fn filter_validators(body: &mut Value, wanted: &[u64], statuses: &[String]) {
    filter_data(body, "index", wanted);
    if statuses.is_empty() {
        return;
    }
    if let Some(Value::Array(items)) = body.get_mut("data") {
        items.retain(|e| {
            let status = e.get("status").and_then(Value::as_str).unwrap_or("");
            statuses.iter().any(|s| status_matches(status, s))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_parse_as_strings_numbers_or_pubkeys() {
        let pk = format!("0x{}", "ab".repeat(48));
        let ids = parse_id_array(format!(r#"["6", 7, "{pk}"]"#).as_bytes()).expect("valid");
        assert_eq!(
            ids,
            vec![
                ValidatorId::Index(6),
                ValidatorId::Index(7),
                ValidatorId::Pubkey(pk)
            ]
        );
        assert!(parse_id_array(b"{}").is_err());
        assert!(parse_id_array(b"[\"x\"]").is_err());
        assert!(parse_index_array(b"[\"-1\"]").is_err());
        assert_eq!(parse_index_array(b"[]").expect("empty"), Vec::<u64>::new());
    }

    #[test]
    fn query_values_split_commas_and_repeats() {
        let q = parse_query(Some("id=1%2C2&id=3&status=active"));
        assert_eq!(query_values(&q, "id"), vec!["1", "2", "3"]);
        assert_eq!(query_values(&q, "status"), vec!["active"]);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn duties_follow_request_order() {
        let mut body = json!({"data": [
            {"validator_index": "1", "slot": "9"},
            {"validator_index": "6", "slot": "10"},
            {"validator_index": "7", "slot": "11"}
        ]});
        select_duties(&mut body, &[7, 1, 7, 42]);
        let got: Vec<&str> = body["data"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|e| e["validator_index"].as_str())
            .collect();
        assert_eq!(got, vec!["7", "1"]);
    }

    #[test]
    fn statuses_match_groups() {
        assert!(status_matches("active_ongoing", "active"));
        assert!(status_matches("active_ongoing", "active_ongoing"));
        assert!(!status_matches("active_ongoing", "act"));
        assert!(!status_matches("pending_queued", "active"));
    }
}
