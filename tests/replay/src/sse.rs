//! `GET /eth/v1/events`: the recorded event stream, replayed as the events come due.
//!
//! A stream starts with the first event recorded after the moment it connected (a
//! beacon node does not replay history) and sends each event of the requested topics at
//! its recorded moment on the replay clock. `Faults::drop_sse` aborts it mid-body.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use futures_util::stream::{self, Stream};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::faults::Faults;
use crate::filter;
use crate::recording::{Ms, Recording};

/// Topics Lodestar v1.22 accepts; others are rejected with a 400 as it does.
const KNOWN_TOPICS: &[&str] = &[
    "head",
    "block",
    "block_gossip",
    "attestation",
    "voluntary_exit",
    "bls_to_execution_change",
    "proposer_slashing",
    "attester_slashing",
    "finalized_checkpoint",
    "chain_reorg",
    "contribution_and_proof",
    "light_client_optimistic_update",
    "light_client_finality_update",
    "payload_attributes",
    "blob_sidecar",
];

/// A comment line every so often without events, so idle clients and proxies keep the
/// stream open (after the recording's end no event comes any more).
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The requested topics (`topics=head,block` and/or repeated `topics=`), validated.
pub(crate) fn parse_topics(query: Option<&str>) -> Result<Vec<String>, String> {
    let topics = filter::query_values(&filter::parse_query(query), "topics");
    if topics.is_empty() {
        return Err("querystring must have required property 'topics'".to_owned());
    }
    if let Some(unknown) = topics.iter().find(|t| !KNOWN_TOPICS.contains(&t.as_str())) {
        return Err(format!("Invalid topic {unknown}"));
    }
    Ok(topics)
}

struct StreamState {
    rec: Arc<Recording>,
    clock: Clock,
    faults: Faults,
    topics: Vec<String>,
    /// Index of the next event in `rec.sse` to consider.
    next: usize,
    drops: watch::Receiver<u64>,
    /// Simulated reorgs, and how many of them this stream has sent.
    reorgs: watch::Receiver<Vec<(u64, u64)>>,
    reorgs_sent: usize,
    last_sent: Instant,
    done: bool,
}

impl StreamState {
    /// Skips events of topics nobody asked for; returns the next due moment.
    fn next_due(&mut self) -> Option<Ms> {
        while let Some(event) = self.rec.sse.get(self.next) {
            if self.topics.contains(&event.event) {
                return Some(event.t_ms);
            }
            self.next += 1;
        }
        None
    }

    fn frame(&self, index: usize) -> Bytes {
        let event = &self.rec.sse[index];
        let data = if self.faults.garbage() {
            // Cut in the middle of the JSON: what a client sees from a broken proxy.
            let cut = event.data.len() / 2;
            event.data.get(..cut).unwrap_or("{").to_owned()
        } else {
            event.data.clone()
        };
        Bytes::from(format!("event: {}\ndata: {}\n\n", event.event, data))
    }
}

/// The body of an SSE response for `topics`, starting after recording time `now`.
pub(crate) fn body(
    rec: Arc<Recording>,
    clock: Clock,
    faults: Faults,
    topics: Vec<String>,
    now: Ms,
) -> Body {
    let next = rec.sse.partition_point(|e| e.t_ms <= now);
    let drops = faults.sse_drops();
    let reorgs = faults.reorgs();
    let state = StreamState {
        reorgs,
        reorgs_sent: 0,
        rec,
        clock,
        faults,
        topics,
        next,
        drops,
        last_sent: Instant::now(),
        done: false,
    };
    Body::from_stream(events(state))
}

fn events(state: StreamState) -> impl Stream<Item = io::Result<Bytes>> + Send {
    stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let due = st.next_due();
            let keep_alive_in = KEEP_ALIVE.saturating_sub(st.last_sent.elapsed());
            let wait = due.map_or(keep_alive_in, |t| st.clock.until(t).min(keep_alive_in));
            tokio::select! {
                biased;
                Ok(()) = st.reorgs.changed() => {
                    let pending: Vec<(u64, u64)> = st.reorgs.borrow_and_update().iter().skip(st.reorgs_sent).copied().collect();
                    st.reorgs_sent += pending.len();
                    let frames: String = pending
                        .iter()
                        .map(|(slot, depth)| format!("event: chain_reorg\ndata: {{\"slot\":\"{slot}\",\"depth\":\"{depth}\"}}\n\n"))
                        .collect();
                    if !frames.is_empty() {
                        st.last_sent = Instant::now();
                        return Some((Ok(Bytes::from(frames)), st));
                    }
                }
                _ = st.drops.changed() => {
                    // An error (not the end of the stream) makes hyper abort the
                    // connection without the final chunk: a cut, not a clean close.
                    st.done = true;
                    let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "SSE stream dropped (fault injection)");
                    return Some((Err(cut), st));
                }
                () = tokio::time::sleep(wait) => {
                    if let Some(t) = due
                        && st.clock.now() >= t
                    {
                        let frame = st.frame(st.next);
                        st.next += 1;
                        st.last_sent = Instant::now();
                        return Some((Ok(frame), st));
                    }
                    if st.last_sent.elapsed() >= KEEP_ALIVE {
                        st.last_sent = Instant::now();
                        return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), st));
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_accept_commas_and_repeats() {
        let t = parse_topics(Some("topics=head,block&topics=finalized_checkpoint")).expect("valid");
        assert_eq!(t, vec!["head", "block", "finalized_checkpoint"]);
        assert!(parse_topics(Some("topics=head,nope")).is_err());
        assert!(parse_topics(None).is_err());
    }
}
