//! Delivery: one worker per receiver drains its queue in the outbox, oldest first,
//! one notification at a time (so a group's notifications arrive in order). A
//! notification is in redb before its first attempt; each attempt is recorded; a
//! failure waits an exponential backoff with jitter (per-receiver timeout and rate
//! limit); after `give_up_after` or a permanent error it is dead-lettered, visible and
//! retryable. A delivered notification moves to the delivery log.
//!
//! Queued notifications survive restarts and config reloads: a receiver removed from
//! the config keeps its last known settings until its queue is empty.

use crate::alerts::Engine;
use crate::alerts::notification::{Attempt, DeliveryState, OutboxItem};
use crate::alerts::settings::Receiver;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often idle workers look at the queue anyway (a missed wake-up costs this).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often a worker in backoff looks at the clock (the engine's clock may be a
/// test's, moved by hand).
const BACKOFF_POLL: Duration = Duration::from_millis(250);

/// The running delivery tasks; dropping it does not stop them (abort with `stop`).
#[derive(Debug)]
pub struct Delivery {
    tasks: Vec<JoinHandle<()>>,
}

impl Delivery {
    /// Stop every task (queued notifications stay in the outbox).
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Start the timer task and the delivery supervisor on the current runtime.
pub fn spawn(engine: Arc<Engine>, http: reqwest::Client) -> Delivery {
    let timers = tokio::spawn(timer_task(engine.clone()));
    let sup = tokio::spawn(supervisor(engine, http));
    Delivery {
        tasks: vec![timers, sup],
    }
}

/// How often old history and delivery-log rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Runs the group timers when due (observations run them too), and prunes history.
async fn timer_task(engine: Arc<Engine>) {
    let mut pruned: Option<Instant> = None;
    loop {
        if pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            pruned = Some(Instant::now());
            let e = engine.clone();
            match tokio::task::spawn_blocking(move || e.prune_history()).await {
                Ok(Ok(n)) if n > 0 => tracing::info!("alert history pruned: {n} old row(s)"),
                Ok(Err(e)) => tracing::warn!("alert history not pruned: {e}"),
                _ => {}
            }
        }
        // Commits with fsync: off the async workers.
        let e = engine.clone();
        let due = tokio::task::spawn_blocking(move || e.tick())
            .await
            .unwrap_or(None);
        let now = engine.now_ms();
        let wait = due.map_or(1000, |d| (d - now).clamp(0, 1000)) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait.max(5))) => {}
            _ = engine.timers.notified() => {}
        }
    }
}

/// Keeps one worker per receiver that is configured or has queued notifications.
async fn supervisor(engine: Arc<Engine>, http: reqwest::Client) {
    let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
    // Receivers with queued notifications but no config, warned about once.
    let mut orphans: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut wake = engine.delivery.subscribe();
    loop {
        let settings = engine.settings();
        let mut names: Vec<String> = settings.receivers.keys().cloned().collect();
        match engine.store().outbox_receivers() {
            Ok(r) => names.extend(r),
            Err(e) => tracing::error!("cannot read the outbox: {e}"),
        }
        workers.retain(|_, h| !h.is_finished());
        for name in names {
            if workers.contains_key(&name) {
                continue;
            }
            let known = settings.receivers.get(&name).cloned();
            if known.is_none() {
                if orphans.insert(name.clone()) {
                    tracing::warn!(receiver = %name, "notifications are queued for a receiver that is not in the config: add it back to deliver them (they stay in the outbox, see `vigil outbox list`)");
                }
                continue;
            }
            orphans.remove(&name);
            let h = tokio::spawn(worker(engine.clone(), name.clone(), http.clone(), known));
            workers.insert(name, h);
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE_POLL * 5) => {}
            _ = wake.changed() => {}
        }
    }
}

/// The delay before attempt `n + 1` (n ≥ 1 failed attempts): doubling from
/// `initial`, capped at `max`, then a random part of its upper half (jitter).
pub fn backoff_ms(r: &Receiver, failed: usize) -> i64 {
    let exp = (failed.saturating_sub(1)).min(30) as u32;
    let d = r
        .backoff_initial_ms
        .saturating_mul(1i64 << exp)
        .min(r.backoff_max_ms)
        .max(1);
    d / 2 + fastrand::i64(0..=d / 2)
}

/// A token bucket: `per_minute` sends, bursting up to the same.
struct RateLimit {
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new() -> RateLimit {
        RateLimit {
            tokens: f64::MAX,
            last: Instant::now(),
        }
    }

    /// How long to wait before the next send.
    fn wait(&mut self, per_minute: u32) -> Duration {
        let cap = f64::from(per_minute);
        let now = Instant::now();
        self.tokens = (self.tokens.min(cap)
            + now.duration_since(self.last).as_secs_f64() * cap / 60.0)
            .min(cap);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) * 60.0 / cap)
        }
    }
}

async fn worker(
    engine: Arc<Engine>,
    name: String,
    http: reqwest::Client,
    mut known: Option<Receiver>,
) {
    let mut wake = engine.delivery.subscribe();
    let mut rate = RateLimit::new();
    loop {
        let configured = engine.settings().receivers.get(&name).cloned();
        if configured.is_some() {
            known = configured.clone();
        }
        let head = match engine.store().outbox_pending(&name, 1) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(receiver = %name, "cannot read the outbox: {e}");
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
        };
        let Some(entry) = head.into_iter().next() else {
            if configured.is_none() {
                return; // removed from the config and drained
            }
            tokio::select! {
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = wake.changed() => {}
            }
            continue;
        };
        let Some(r) = known.clone() else { return };
        let Some(mut item) = OutboxItem::decode(&name, entry.seq, &entry.notification) else {
            tracing::error!(receiver = %name, seq = entry.seq, "unreadable notification dead-lettered");
            let _ = engine
                .store()
                .outbox_dead_letter(&name, entry.seq, &entry.notification);
            continue;
        };
        let now = engine.now_ms();
        if item.next_attempt_ms > now {
            let wait = Duration::from_millis((item.next_attempt_ms - now) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait.min(BACKOFF_POLL)) => {}
                _ = wake.changed() => {}
            }
            continue;
        }
        let hold = rate.wait(r.rate_limit_per_minute);
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        let started = Instant::now();
        let at_ms = engine.now_ms();
        let timeout = Duration::from_millis(r.timeout_ms as u64);
        let result = match tokio::time::timeout(
            timeout,
            super::deliver(&r, &item.notification, &http),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(super::DeliveryError::transient(format!(
                "no answer within {} ms (timeout)",
                timeout.as_millis()
            ))),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let seq = item.seq;
        let key = item.notification.idempotency_key.clone();
        match result {
            Ok(outcome) => {
                item.attempts.push(Attempt {
                    at_ms,
                    duration_ms,
                    ok: true,
                    outcome: outcome.clone(),
                });
                item.state = DeliveryState::Delivered;
                item.last_error = None;
                tracing::info!(receiver = %name, seq, key = %key, attempts = item.attempts.len(), "delivered: {outcome}");
                if let Err(e) = write(&engine, move |s| {
                    s.outbox_finish(&name_of(&item), seq, &item.encode())
                })
                .await
                {
                    tracing::error!(receiver = %name, seq, "delivered but not recorded (it may be sent again, same idempotency key): {e}");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
            Err(e) => {
                item.attempts.push(Attempt {
                    at_ms,
                    duration_ms,
                    ok: false,
                    outcome: e.message.clone(),
                });
                item.last_error = Some(e.message.clone());
                let age = at_ms - item.notification.created_ms;
                let stored = if e.permanent || age >= r.give_up_after_ms {
                    item.state = DeliveryState::Dead;
                    tracing::error!(receiver = %name, seq, key = %key, attempts = item.attempts.len(),
                        "notification dead-lettered ({}): {} — retry with `vigil outbox retry {name} {seq}`",
                        if e.permanent { "permanent error" } else { "gave up" }, e.message);
                    write(&engine, move |s| {
                        s.outbox_dead_letter(&name_of(&item), seq, &item.encode())
                    })
                    .await
                } else {
                    let delay = backoff_ms(&r, item.attempts.len());
                    item.next_attempt_ms = at_ms + delay;
                    tracing::warn!(receiver = %name, seq, key = %key, attempts = item.attempts.len(),
                        "delivery failed, retrying in {delay} ms: {}", e.message);
                    write(&engine, move |s| {
                        s.outbox_update(&name_of(&item), seq, &item.encode())
                    })
                    .await
                };
                if let Err(e) = stored {
                    tracing::error!(receiver = %name, seq, "cannot record the attempt: {e}");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }
}

/// A durable store write (fsync) on the blocking pool.
async fn write(
    engine: &Arc<Engine>,
    f: impl FnOnce(&crate::store::Store) -> Result<bool, crate::store::StoreError> + Send + 'static,
) -> Result<bool, String> {
    let store = engine.store().clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn name_of(item: &OutboxItem) -> String {
    item.receiver.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::alerts::tests::settings(
            "[[receiver]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"http://x\"\nbackoff_initial = \"1s\"\nbackoff_max = \"8s\"\n",
            dir.path(),
        );
        let r = &s.receivers["h"];
        for (n, full) in [(1, 1000), (2, 2000), (3, 4000), (4, 8000), (9, 8000)] {
            let d = backoff_ms(r, n);
            assert!(d >= full / 2 && d <= full, "attempt {n}: {d}");
        }
        let mut rl = RateLimit::new();
        assert!(rl.wait(2).is_zero() && rl.wait(2).is_zero());
        assert!(rl.wait(2) > Duration::from_secs(20));
    }
}
