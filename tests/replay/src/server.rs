//! HTTP front: the beacon API router and the `/metrics` routers, with faults applied.
//!
//! Every beacon request goes through one handler (the API is matched by path in
//! `beacon`, not by an axum route table, because unknown paths must still be answered
//! from the recording). Faults are applied in the order a client would meet them: a
//! down node never answers, a slow one answers late, then injected status, garbage,
//! and finally the replayed answer.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::beacon::{self, Beacon, Reply, Request};
use crate::clock::Clock;
use crate::faults::Faults;
use crate::recording::Recording;
use crate::sse;

/// How often a request held by a "down" listener checks whether the fault is over.
const DOWN_POLL: Duration = Duration::from_millis(20);

const JSON: &str = "application/json; charset=utf-8";
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A request that arrives while its listener is down is never answered: the listener
/// task aborts the connection it came on. It only goes on if the fault ends first.
async fn hold_while(down: impl Fn() -> bool) {
    while down() {
        tokio::time::sleep(DOWN_POLL).await;
    }
}

/// The beacon API router.
pub(crate) fn beacon_router(beacon: Arc<Beacon>) -> Router {
    Router::new().fallback(beacon_handler).with_state(beacon)
}

async fn beacon_handler(
    State(app): State<Arc<Beacon>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    hold_while(|| app.faults.is_down()).await;
    if let Some(delay) = app.faults.delay() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = app.faults.status() {
        let message = match status {
            503 => "Node is syncing - headSlot 0 currentSlot 0".to_owned(),
            _ => format!("vigil-replay: injected HTTP {status}"),
        };
        return reply_response(beacon::lodestar_error(status, message));
    }
    let now = app.clock.now();
    if method == Method::GET && uri.path().trim_end_matches('/') == "/eth/v1/events" {
        return match sse::parse_topics(uri.query()) {
            Ok(topics) => {
                let body = sse::body(
                    app.rec.clone(),
                    app.clock.clone(),
                    app.faults.clone(),
                    topics,
                    now,
                );
                (
                    [
                        (header::CONTENT_TYPE, "text/event-stream"),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
                    .into_response()
            }
            Err(message) => reply_response(beacon::lodestar_error(400, message)),
        };
    }
    if app.faults.garbage() {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, JSON)],
            &br#"{"data":{"head_slot":"1","sync_distance":"0","is_syncing":fal"#[..],
        )
            .into_response();
    }
    // Blocks a simulated reorg took away are gone, as on a real node.
    let path = uri.path();
    let taken = ["/eth/v1/beacon/headers/", "/eth/v2/beacon/blocks/"]
        .iter()
        .filter_map(|p| path.strip_prefix(p))
        .filter_map(|id| id.parse::<u64>().ok())
        .any(|slot| app.faults.is_orphaned(slot));
    if taken {
        let id = path.rsplit('/').next().unwrap_or_default();
        return reply_response(beacon::lodestar_error(
            404,
            format!("No block found for id '{id}'"),
        ));
    }
    let request = Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        body: &body[..],
    };
    reply_response(app.answer(&request, now))
}

/// Serialises a reply as Lodestar would send it.
fn reply_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let Some(body) = reply.body else {
        return status.into_response();
    };
    let version = body
        .get("version")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let bytes = match serde_json::to_vec(&body) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "serialising a reply");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, [(header::CONTENT_TYPE, JSON)], bytes).into_response();
    // Lodestar names the fork of versioned answers (v2 blocks) in a header as well.
    if let Some(version) = version.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response
            .headers_mut()
            .insert("eth-consensus-version", version);
    }
    response
}

/// One `/metrics` target.
#[derive(Debug)]
pub(crate) struct MetricsTarget {
    pub(crate) target: String,
    pub(crate) rec: Arc<Recording>,
    pub(crate) clock: Clock,
    pub(crate) faults: Faults,
    /// Whether the recorded outages (`http_error` lines) take the listener down.
    pub(crate) recorded_outages: bool,
}

impl MetricsTarget {
    /// Whether the target is down now, and the real time until that changes by itself.
    pub(crate) fn down(&self) -> (bool, Option<Duration>) {
        if !self.recorded_outages {
            return (self.faults.metrics_down(&self.target), None);
        }
        let (outage, next) = self.rec.outage_at(&self.target, self.clock.now());
        // +1 ms: wake just after the change, not just before it.
        let recheck = next.map(|at| self.clock.until(at) + Duration::from_millis(1));
        (outage || self.faults.metrics_down(&self.target), recheck)
    }
}

/// The router of one `/metrics` target.
pub(crate) fn metrics_router(target: Arc<MetricsTarget>) -> Router {
    Router::new().fallback(metrics_handler).with_state(target)
}

/// What a broken exporter might send: unterminated label set, non-numeric value, NUL.
const GARBAGE_EXPOSITION: &str = "# HELP beacon_head_slot slot of the head\n# TYPE beacon_head_slot gauge\nbeacon_head_slot{instance=\"a 12x\nvalidator_\u{0}balance NaNa\n{}} 1 2 3\n";

async fn metrics_handler(
    State(m): State<Arc<MetricsTarget>>,
    method: Method,
    uri: Uri,
) -> Response {
    hold_while(|| m.down().0).await;
    if method != Method::GET || uri.path() != "/metrics" {
        return (StatusCode::NOT_FOUND, "Not Found\n").into_response();
    }
    if m.faults.metrics_garbage() {
        return ([(header::CONTENT_TYPE, EXPOSITION)], GARBAGE_EXPOSITION).into_response();
    }
    let Some(raw) = m.rec.metrics_text(&m.target, m.clock.now()) else {
        return (StatusCode::NOT_FOUND, "Not Found\n").into_response();
    };
    match serde_json::from_str::<String>(raw.get()) {
        Ok(text) => {
            let text = shift_metric_times(&text, &m.clock, m.rec.genesis_time);
            ([(header::CONTENT_TYPE, EXPOSITION)], Body::from(text)).into_response()
        }
        Err(e) => {
            tracing::error!(target = %m.target, error = %e, "recorded /metrics text is not a JSON string");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Puts the Unix-time samples of an exposition text on the served clock: the genesis
/// gauge and process start times (so an "uptime" or a genesis check agrees with the
/// served genesis). Other samples are served as recorded.
fn shift_metric_times(text: &str, clock: &Clock, recorded_genesis: u64) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let name_end = line.find([' ', '{']).unwrap_or(line.len());
        let name = &line[..name_end];
        let is_time =
            name == "lodestar_genesis_time" || name.ends_with("process_start_time_seconds");
        let shifted = is_time
            .then(|| line.trim_end().rsplit_once(' '))
            .flatten()
            .and_then(|(head, value)| {
                let ts: f64 = value.parse().ok()?;
                let shifted = clock.shift_unix_seconds(recorded_genesis, ts);
                let newline = if line.ends_with('\n') { "\n" } else { "" };
                Some(format!("{head} {shifted}{newline}"))
            });
        match shifted {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::load_shared;

    #[test]
    fn metric_times_follow_the_served_clock() {
        let rec = load_shared(&crate::scenario_a()).expect("scenario A fixture");
        let clock = Clock::new(&rec, 0, 2, 1_800_000_000_000).expect("clock");
        let text = "# HELP lodestar_genesis_time g\nlodestar_genesis_time 1000\n\
                    process_start_time_seconds 990.5\nbeacon_head_slot 7\nx{a=\"1\"} 2";
        let shifted = shift_metric_times(text, &clock, 1000);
        let g = clock.served_genesis();
        let want = format!(
            "# HELP lodestar_genesis_time g\nlodestar_genesis_time {g}\n\
             process_start_time_seconds {}\nbeacon_head_slot 7\nx{{a=\"1\"}} 2",
            g as f64 - 4.75
        );
        assert_eq!(shifted, want);
    }
}
