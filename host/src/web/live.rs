//! `/events`: server-sent events telling open pages that there is news.
//!
//! One `update` event per change of the findings (every evaluated input: each slot,
//! epoch and node tick) and per alert change, coalesced so a burst of evaluations in
//! one slot is one event. The event carries the slot and epoch; pages then fetch their
//! fresh `<main>` (see `html::page`). A comment line every 15 s keeps proxies from
//! closing an idle stream.

use super::Shared;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;

/// Changes closer together than this are sent as one event.
pub const COALESCE: Duration = Duration::from_millis(100);

/// The data of an `update` event.
pub fn update_data(state: &Shared) -> String {
    let s = state.parts.findings().read();
    serde_json::json!({ "slot": s.slot, "epoch": s.epoch, "updated_ms": s.updated_ms }).to_string()
}

/// `GET /events`.
pub async fn events(
    State(state): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.parts.findings().subscribe();
    let stream = futures_util::stream::unfold((state, rx), |(state, mut rx)| async move {
        rx.changed().await.ok()?;
        tokio::time::sleep(COALESCE).await;
        rx.borrow_and_update();
        let ev = Event::default().event("update").data(update_data(&state));
        Some((Ok(ev), (state, rx)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
