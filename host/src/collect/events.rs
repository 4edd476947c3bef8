//! Beacon node SSE events: `head`, `block`, `finalized_checkpoint`, `chain_reorg`.
//!
//! The stream is a latency aid and the only source of reorg depths; polling stays the
//! source of truth, so a dropped stream costs nothing but promptness. Topics are sent in
//! the repeated `topics=a&topics=b` form (the spec's array encoding); some older clients
//! hang instead of answering when given the comma form or a topic they do not know, so
//! the connection has a header timeout and, when it expires, the optional topics
//! (`chain_reorg`) are dropped on the next attempt.

use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;

/// Time to wait for the response headers of the event stream.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// First reconnect delay; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest reconnect delay: a node back from a restart is noticed within this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// An event from one node's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainEvent {
    Connected,
    Disconnected { reason: String },
    Head { slot: u64, block: String },
    Block { slot: u64, block: String },
    Finalized { epoch: u64 },
    Reorg { slot: u64, depth: u64 },
}

/// Incremental parser of `text/event-stream`.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: String,
    event: String,
    data: String,
}

impl SseParser {
    /// Feed bytes; returns complete `(event, data)` pairs.
    pub fn feed(&mut self, chunk: &str) -> Vec<(String, String)> {
        self.buf.push_str(chunk);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.find('\n') {
            let line: String = self.buf.drain(..=nl).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || !self.event.is_empty() {
                    let event = if self.event.is_empty() {
                        "message".to_string()
                    } else {
                        std::mem::take(&mut self.event)
                    };
                    out.push((event, std::mem::take(&mut self.data)));
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line
                .split_once(':')
                .map(|(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)))
                .unwrap_or((line, ""));
            match field {
                "event" => self.event = value.to_string(),
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                _ => {}
            }
        }
        out
    }
}

/// Decode one SSE event into a [`ChainEvent`]; unknown or malformed ones are `None`.
pub fn decode(event: &str, data: &str) -> Option<ChainEvent> {
    let v: Value = serde_json::from_str(data).ok()?;
    let num = |k: &str| crate::collect::beacon::num_u64(&v[k]);
    match event {
        "head" => Some(ChainEvent::Head {
            slot: num("slot")?,
            block: v["block"].as_str()?.to_string(),
        }),
        "block" => Some(ChainEvent::Block {
            slot: num("slot")?,
            block: v["block"].as_str()?.to_string(),
        }),
        "finalized_checkpoint" => Some(ChainEvent::Finalized {
            epoch: num("epoch")?,
        }),
        "chain_reorg" => Some(ChainEvent::Reorg {
            slot: num("slot")?,
            depth: num("depth")?,
        }),
        _ => None,
    }
}

/// Follow `base`'s event stream until `tx` closes, reconnecting with backoff.
pub async fn follow(base: String, http: reqwest::Client, tx: mpsc::Sender<ChainEvent>) {
    let mut topics = vec!["head", "block", "finalized_checkpoint", "chain_reorg"];
    let mut backoff = MIN_BACKOFF;
    loop {
        let query: String = topics
            .iter()
            .map(|t| format!("topics={t}"))
            .collect::<Vec<_>>()
            .join("&");
        let url = format!("{base}/eth/v1/events?{query}");
        let reason = match tokio::time::timeout(
            HEADER_TIMEOUT,
            http.get(&url).header("accept", "text/event-stream").send(),
        )
        .await
        {
            Err(_) => {
                if topics.len() > 3 {
                    tracing::info!(node = %base, "event stream did not answer: retrying without chain_reorg (older client)");
                    topics.pop();
                }
                format!("no answer within {} s", HEADER_TIMEOUT.as_secs())
            }
            Ok(Err(e)) => format!("cannot connect: {e}"),
            Ok(Ok(resp)) if !resp.status().is_success() => format!("HTTP {}", resp.status()),
            Ok(Ok(resp)) => {
                if tx.send(ChainEvent::Connected).await.is_err() {
                    return;
                }
                backoff = MIN_BACKOFF;
                let mut parser = SseParser::default();
                let mut stream = resp.bytes_stream();
                loop {
                    match stream.next().await {
                        Some(Ok(bytes)) => {
                            for (event, data) in parser.feed(&String::from_utf8_lossy(&bytes)) {
                                if let Some(ev) = decode(&event, &data)
                                    && tx.send(ev).await.is_err()
                                {
                                    return;
                                }
                            }
                        }
                        Some(Err(e)) => break format!("stream broken: {e}"),
                        None => break "stream closed by the node".to_string(),
                    }
                }
            }
        };
        if tx
            .send(ChainEvent::Disconnected {
                reason: reason.clone(),
            })
            .await
            .is_err()
        {
            return;
        }
        tracing::debug!(node = %base, "event stream: {reason}; reconnecting in {:?}", backoff);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed("event: head\ndata: {\"slot\":\"5\",").is_empty());
        let out = p.feed("\"block\":\"0xab\"}\n\n: keepalive\n\nevent: chain_reorg\r\ndata: {\"slot\":\"9\",\"depth\":\"2\"}\r\n\r\n");
        assert_eq!(out.len(), 2);
        assert_eq!(
            decode(&out[0].0, &out[0].1),
            Some(ChainEvent::Head {
                slot: 5,
                block: "0xab".into()
            })
        );
        assert_eq!(
            decode(&out[1].0, &out[1].1),
            Some(ChainEvent::Reorg { slot: 9, depth: 2 })
        );
    }

    #[test]
    fn malformed_events_are_ignored() {
        assert_eq!(decode("head", "{not json"), None);
        assert_eq!(decode("head", "{\"slot\":\"x\"}"), None);
        assert_eq!(decode("payload_attributes", "{}"), None);
    }
}
