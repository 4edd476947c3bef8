//! The alert engine: turns "this condition holds now" into alerts with a lifecycle, and
//! alerts into notifications queued durably for receivers.
//!
//! - Lifecycle (evaluation time): a reported condition is `pending` until held for
//!   `for` (evaluations or a duration), then `firing`; it resolves when its plugin judges
//!   the same input kind again without reporting it, after `keep_firing_for` (longer
//!   while flapping). Only that (plugin, input kind) can resolve it: an epoch
//!   evaluation never resolves a node-tick alert.
//! - Muting (wall clock): silences and inhibition rules; muted alerts are tracked and
//!   shown but not notified.
//! - Notification (wall clock): the routing tree picks receivers, alerts are grouped
//!   by `group_by`, and a group is notified after `group_wait`, on change after
//!   `group_interval`, and unchanged after `repeat_interval` (not while acked).
//!
//! Every step's changes (alert states, history, groups, new outbox entries) are one
//! redb transaction, committed before any delivery attempt: a restart neither re-sends
//! nor forgets.

use super::matcher::all_match;
use super::model::{
    Ack, Alert, AlertEvent, AlertState, EventKind, Severity, fingerprint, identity,
};
use super::notification::{DeliveryState, Notification, OutboxItem, Status};
use super::settings::{Hold, Route, Settings};
use super::silence::Silence;
use crate::clock::Clock;
use crate::contract::{AlertCondition, InputKind};
use crate::evaluate::Evaluation;
use crate::store::{AlertsBatch, Store, StoreError};
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, broadcast, watch};

/// A refused engine operation.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("no alert has fingerprint {0} (see `vigil alerts list`)")]
    UnknownAlert(String),
    #[error("no silence has id {0} (see `vigil alerts silence --list`)")]
    UnknownSilence(String),
    #[error("no receiver is named {0:?} in the config (see [[receiver]])")]
    UnknownReceiver(String),
    #[error("no dead letter {receiver}#{seq} (see `vigil outbox list`)")]
    UnknownDeadLetter { receiver: String, seq: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A plugin-suggested action: (action id, subject, title).
type Suggestion = (String, Vec<(String, String)>, String);

/// How many events the dashboard feed buffers per subscriber.
const FEED_CAPACITY: usize = 4096;

/// Tracked state of one alert (persisted as JSON in `alerts`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tracked {
    alert: Alert,
    identity: String,
    /// Consecutive evaluations it was reported in (while pending).
    evals: u32,
    /// First evaluation (time) it was missing while firing.
    absent_since_ms: Option<i64>,
    /// Recent state changes (evaluation time), for flap detection.
    transitions: Vec<i64>,
    /// Wall clock of resolution, for `resolved_retention`.
    resolved_wall_ms: Option<i64>,
    /// The evaluation that last reported it (not persisted).
    #[serde(skip)]
    seen_eval: u64,
}

/// What a group last told its receiver about one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Sent {
    /// A signature of the affected validators (set and count) and the severity.
    affected: u64,
}

/// A notification group (persisted as JSON in `alert_groups`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Group {
    key: String,
    /// Unique per group lifetime: part of every idempotency key.
    id: String,
    route: String,
    receiver: String,
    labels: Vec<(String, String)>,
    first_ms: i64,
    last_flush_ms: Option<i64>,
    /// Firing alerts last notified, by fingerprint.
    sent: BTreeMap<String, Sent>,
    /// Notifications sent so far.
    seq: u64,
    group_wait_ms: i64,
    group_interval_ms: i64,
    repeat_interval_ms: i64,
}

#[derive(Default)]
struct Inner {
    /// By identity key.
    alerts: HashMap<String, Tracked>,
    /// Fingerprint → identity key.
    by_fp: HashMap<String, String>,
    /// (scope, input kind) → identity keys reported there.
    scopes: HashMap<(String, String), HashSet<String>>,
    silences: Vec<Silence>,
    groups: HashMap<String, Group>,
    /// Exec actions already queued: key → wall ms.
    actions: HashMap<String, i64>,
    eval_seq: u64,
    dirty: HashSet<String>,
    batch: AlertsBatch,
    events: Vec<AlertEvent>,
}

/// The alert engine. Shared behind an `Arc`; every method is thread-safe.
pub struct Engine {
    settings: ArcSwap<Settings>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
    feed: broadcast::Sender<AlertEvent>,
    /// Bumped when notifications are queued (the delivery workers watch it).
    pub(crate) delivery: watch::Sender<u64>,
    /// Woken when the timers may have moved earlier.
    pub(crate) timers: Arc<Notify>,
    /// When the next group timer is due (wall ms; `i64::MAX`: none).
    next_due: AtomicI64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

fn kind_str(k: InputKind) -> &'static str {
    match k {
        InputKind::Epoch => "epoch",
        InputKind::Slot => "slot",
        InputKind::Node => "node",
        InputKind::Reset => "reset",
    }
}

/// A stable (persisted) signature of what a notification says about an alert beyond
/// its identity: the affected validators, their count, the severity. FNV-1a.
fn affected_sig(a: &Alert) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for v in &a.validators {
        eat(*v);
    }
    eat(a.affected_count);
    // An escalation (medium → critical) is news too.
    eat(a.severity as u64);
    h
}

impl Engine {
    /// Load the engine's state from `store`.
    pub fn new(
        settings: Settings,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Engine>, AlertError> {
        let mut inner = Inner::default();
        for (fp, bytes) in store.alerts()? {
            match serde_json::from_slice::<Tracked>(&bytes) {
                Ok(t) => {
                    inner
                        .scopes
                        .entry((t.alert.plugin_scope(), t.alert.input_kind.clone()))
                        .or_default()
                        .insert(t.identity.clone());
                    inner.by_fp.insert(fp, t.identity.clone());
                    inner.alerts.insert(t.identity.clone(), t);
                }
                Err(e) => tracing::warn!(fingerprint = %fp, "unreadable alert state skipped: {e}"),
            }
        }
        for (key, bytes) in store.alert_groups()? {
            match serde_json::from_slice::<Group>(&bytes) {
                Ok(g) => {
                    inner.groups.insert(key, g);
                }
                Err(e) => tracing::warn!(group = %key, "unreadable group state skipped: {e}"),
            }
        }
        for (id, bytes) in store.silences()? {
            match serde_json::from_slice::<Silence>(&bytes) {
                Ok(s) => inner.silences.push(s),
                Err(e) => tracing::warn!(silence = %id, "unreadable silence skipped: {e}"),
            }
        }
        inner.silences.sort_by_key(|s| s.created_ms);
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let n = inner.alerts.len();
        let engine = Arc::new(Engine {
            settings: ArcSwap::from_pointee(settings),
            store,
            clock,
            inner: Mutex::new(inner),
            feed,
            delivery: watch::channel(0).0,
            timers: Arc::new(Notify::new()),
            next_due: AtomicI64::new(i64::MAX),
        });
        if n > 0 {
            tracing::info!("alert state restored: {n} alert(s)");
        }
        Ok(engine)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// The store it persists to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Wall clock of the engine.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Apply new settings (config reload). Queued notifications are untouched: each is
    /// delivered to the receiver it was queued for; new alerts follow the new routes.
    pub fn reconfigure(&self, settings: Settings) {
        self.settings.store(Arc::new(settings));
        self.timers.notify_one();
        self.wake_delivery();
    }

    /// Take in one evaluation's findings, then run the timers.
    pub fn observe(&self, ev: &Evaluation) {
        let mut covered: Vec<String> = Vec::new();
        for r in &ev.results {
            if r.outcome.is_ok() {
                covered.push(r.plugin.clone());
            }
            // The host's own conditions about a plugin resolve when it ran again.
            covered.push(format!("vigil:{}", r.plugin));
        }
        let actions: Vec<Suggestion> = ev
            .results
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok())
            .flat_map(|o| o.recommendations.iter())
            .filter_map(|r| {
                r.action_id
                    .as_ref()
                    .map(|id| (id.clone(), r.subject.clone(), r.title.clone()))
            })
            .collect();
        // Every plugin subscribed to this kind is in the results (failures included):
        // alerts of a plugin that no longer judges this kind (removed, or its
        // subscriptions changed) can never be resolved by it, so they resolve now.
        {
            let present: HashSet<&str> = ev.results.iter().map(|r| r.plugin.as_str()).collect();
            let kind = kind_str(ev.kind);
            let inner = self.lock();
            for ((scope, k), ids) in &inner.scopes {
                let plugin = scope.strip_prefix("vigil:").unwrap_or(scope);
                if k == kind && !ids.is_empty() && !present.contains(plugin) {
                    tracing::info!(
                        plugin,
                        "plugin no longer judges {kind} inputs: its {kind} alerts resolve"
                    );
                    covered.push(scope.clone());
                }
            }
        }
        self.observe_conditions(ev.kind, ev.now_ms, &covered, ev.alerts());
        if !actions.is_empty() {
            self.suggest_actions(&actions);
        }
    }

    /// Lower level than [`Engine::observe`]: `covered` are the scopes (plugin names, and
    /// `vigil:<plugin>` for host conditions about a plugin) that judged this input.
    pub fn observe_conditions<'a>(
        &self,
        kind: InputKind,
        now_ms: i64,
        covered: &[String],
        conditions: impl Iterator<Item = (&'a str, &'a AlertCondition)>,
    ) {
        let kind = kind_str(kind);
        let settings = self.settings();
        let mut inner = self.lock();
        inner.eval_seq += 1;
        let seq = inner.eval_seq;
        for (plugin, cond) in conditions {
            self.report(&mut inner, &settings, plugin, kind, cond, now_ms, seq);
        }
        for scope in covered {
            let Some(ids) = inner.scopes.get(&(scope.clone(), kind.to_string())) else {
                continue;
            };
            let missing: Vec<String> = ids
                .iter()
                .filter(|id| inner.alerts.get(*id).is_some_and(|t| t.seen_eval != seq))
                .cloned()
                .collect();
            for id in missing {
                self.absent(&mut inner, &settings, &id, now_ms);
            }
        }
        self.step(&mut inner, &settings);
        self.timers.notify_one();
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        inner: &mut Inner,
        settings: &Settings,
        plugin: &str,
        kind: &str,
        cond: &AlertCondition,
        now: i64,
        seq: u64,
    ) {
        let id = identity(&cond.name, &cond.subject);
        let (lc, sev_override) = settings.lifecycle(&cond.name);
        let severity = sev_override.unwrap_or_else(|| Severity::from(cond.severity));
        let wall = self.clock.now_ms();
        let is_new = !inner.alerts.contains_key(&id);
        if is_new {
            let mut labels = cond.subject.clone();
            labels.sort();
            let fp = fingerprint(&id);
            let t = Tracked {
                alert: Alert {
                    fingerprint: fp.clone(),
                    name: cond.name.clone(),
                    labels,
                    severity,
                    state: AlertState::Resolved,
                    since_ms: now,
                    started_ms: now,
                    last_seen_ms: now,
                    summary: cond.summary.clone(),
                    value: cond.value,
                    threshold: cond.threshold,
                    validators: cond.validators.iter().copied().take(100).collect(),
                    affected_count: cond.affected_count,
                    plugin: plugin.to_string(),
                    input_kind: kind.to_string(),
                    silenced_by: Vec::new(),
                    inhibited_by: Vec::new(),
                    acked: None,
                    flapping: false,
                },
                identity: id.clone(),
                evals: 0,
                absent_since_ms: None,
                transitions: Vec::new(),
                resolved_wall_ms: None,
                seen_eval: seq,
            };
            let scope = t.alert.plugin_scope();
            inner
                .scopes
                .entry((scope, kind.to_string()))
                .or_default()
                .insert(id.clone());
            inner.by_fp.insert(fp, id.clone());
            inner.alerts.insert(id.clone(), t);
        }
        let Some(t) = inner.alerts.get_mut(&id) else {
            return;
        };
        t.seen_eval = seq;
        t.absent_since_ms = None;
        t.alert.last_seen_ms = now;
        t.alert.summary.clone_from(&cond.summary);
        t.alert.value = cond.value;
        t.alert.threshold = cond.threshold;
        let mut events = Vec::new();
        // A new severity is persisted at once: groups compare it (see `affected_sig`).
        let mut dirty = t.alert.severity != severity;
        t.alert.severity = severity;
        if t.alert.state == AlertState::Resolved {
            // A new episode.
            tracing::warn!(plugin, alert = %cond.name, severity = ?cond.severity, subject = %subject_text(&cond.subject), "{}", cond.summary);
            t.alert.state = AlertState::Pending;
            t.alert.since_ms = now;
            t.alert.started_ms = now;
            t.alert.acked = None;
            t.resolved_wall_ms = None;
            t.evals = 0;
            t.alert.validators = cond.validators.iter().copied().take(100).collect();
            t.alert.affected_count = cond.affected_count;
            events.push(EventKind::Pending);
            dirty = true;
        }
        if t.alert.state == AlertState::Pending {
            t.evals = t.evals.saturating_add(1);
            let held = match lc.hold {
                Hold::Evaluations(n) => t.evals >= n,
                Hold::Millis(ms) => now - t.alert.started_ms >= ms,
            };
            if held {
                t.alert.state = AlertState::Firing;
                t.alert.since_ms = now;
                t.transitions.push(now);
                events.push(EventKind::Firing);
                dirty = true;
            }
        } else if t.alert.state == AlertState::Firing
            && (t.alert.affected_count != cond.affected_count
                || !t.alert.validators.iter().copied().eq(cond
                    .validators
                    .iter()
                    .copied()
                    .take(100)))
        {
            t.alert.validators = cond.validators.iter().copied().take(100).collect();
            t.alert.affected_count = cond.affected_count;
            events.push(EventKind::AffectedChanged);
            dirty = true;
        }
        if dirty {
            update_flapping(t, settings, now, &mut events);
        }
        let alert = t.alert.clone();
        if dirty {
            inner.dirty.insert(id);
        }
        for e in events {
            let detail = if e == EventKind::AffectedChanged {
                format!("{} affected", alert.affected_count)
            } else {
                alert.summary.clone()
            };
            push_event(inner, &alert, e, wall, detail);
        }
    }

    fn absent(&self, inner: &mut Inner, settings: &Settings, id: &str, now: i64) {
        let wall = self.clock.now_ms();
        let Some(t) = inner.alerts.get_mut(id) else {
            return;
        };
        match t.alert.state {
            AlertState::Pending => {
                let alert = t.alert.clone();
                tracing::info!(
                    "cleared: {} {} {}",
                    alert.plugin,
                    alert.name,
                    subject_text(&alert.labels)
                );
                self.forget(inner, id);
                push_event(
                    inner,
                    &alert,
                    EventKind::Cleared,
                    wall,
                    "no longer reported before it fired".into(),
                );
            }
            AlertState::Firing => {
                let since = *t.absent_since_ms.get_or_insert(now);
                let (lc, _) = settings.lifecycle(&t.alert.name);
                let keep = if t.alert.flapping {
                    lc.keep_firing_for_ms.max(settings.flap_hold_ms)
                } else {
                    lc.keep_firing_for_ms
                };
                if now - since >= keep {
                    t.alert.state = AlertState::Resolved;
                    t.alert.since_ms = now;
                    t.alert.acked = None;
                    t.resolved_wall_ms = Some(wall);
                    t.transitions.push(now);
                    let mut events = vec![EventKind::Resolved];
                    update_flapping(t, settings, now, &mut events);
                    let alert = t.alert.clone();
                    tracing::info!(
                        "cleared: {} {} {}",
                        alert.plugin,
                        alert.name,
                        subject_text(&alert.labels)
                    );
                    inner.dirty.insert(id.to_string());
                    for e in events {
                        push_event(inner, &alert, e, wall, "no longer reported".into());
                    }
                }
            }
            AlertState::Resolved => {}
        }
    }

    /// Drop an alert from memory and the store (its history stays).
    fn forget(&self, inner: &mut Inner, id: &str) {
        if let Some(t) = inner.alerts.remove(id) {
            inner.by_fp.remove(&t.alert.fingerprint);
            if let Some(s) = inner
                .scopes
                .get_mut(&(t.alert.plugin_scope(), t.alert.input_kind.clone()))
            {
                s.remove(id);
            }
            inner.dirty.remove(id);
            inner.batch.alert_removes.push(t.alert.fingerprint);
        }
    }

    /// Queue exec notifications for plugin-suggested action ids that an `exec`
    /// receiver accepts (once per action and subject per repeat interval).
    fn suggest_actions(&self, actions: &[Suggestion]) {
        let settings = self.settings();
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let repeat = settings.root.grouping.repeat_interval_ms;
        inner.actions.retain(|_, t| now - *t < repeat);
        for (action, subject, title) in actions {
            for r in settings.receivers.values() {
                let super::settings::ReceiverKind::Exec { action_ids, .. } = &r.kind else {
                    continue;
                };
                if !action_ids.contains(action) {
                    continue;
                }
                let key = format!("{}\u{1f}{action}\u{1f}{}", r.name, subject_text(subject));
                if inner.actions.get(&key).is_some_and(|t| now - t < repeat) {
                    continue;
                }
                inner.actions.insert(key.clone(), now);
                let mut labels = subject.clone();
                labels.push(("action_id".into(), action.clone()));
                labels.push(("title".into(), title.clone()));
                let n = Notification {
                    receiver: r.name.clone(),
                    route: "action".into(),
                    group_key: key.clone(),
                    group_labels: labels,
                    status: Status::Firing,
                    alerts: Vec::new(),
                    idempotency_key: format!("action-{}-{now}", &fingerprint(&key)[..12]),
                    created_ms: now,
                    test: false,
                    action_id: Some(action.clone()),
                    repeat_interval_ms: repeat,
                };
                inner
                    .batch
                    .outbox
                    .push((r.name.clone(), queued(n, now).encode()));
            }
        }
        let settings = self.settings();
        self.step(&mut inner, &settings);
    }

    /// Run the group timers now (the delivery task calls this when one is due).
    /// Returns when the next timer is due (wall ms), if any.
    pub fn tick(&self) -> Option<i64> {
        let settings = self.settings();
        let mut inner = self.lock();
        self.step(&mut inner, &settings);
        let d = self.next_due.load(Ordering::SeqCst);
        (d != i64::MAX).then_some(d)
    }

    /// Mute, group, notify, commit, publish.
    fn step(&self, inner: &mut Inner, settings: &Settings) {
        let now = self.clock.now_ms();
        self.retire(inner, settings, now);
        self.mute(inner, settings, now);
        let next = self.notify(inner, settings, now);
        self.next_due
            .store(next.unwrap_or(i64::MAX), Ordering::SeqCst);
        self.commit(inner);
    }

    /// Forget resolved alerts past `resolved_retention` once no group still has to
    /// tell about them.
    fn retire(&self, inner: &mut Inner, settings: &Settings, now: i64) {
        let old: Vec<String> = inner
            .alerts
            .iter()
            .filter(|(_, t)| {
                t.alert.state == AlertState::Resolved
                    && t.resolved_wall_ms
                        .is_some_and(|w| now - w >= settings.resolved_retention_ms)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in old {
            let fp = inner.alerts[&id].alert.fingerprint.clone();
            if !inner.groups.values().any(|g| g.sent.contains_key(&fp)) {
                self.forget(inner, &id);
            }
        }
    }

    /// Recompute silences and inhibitions of every active alert.
    fn mute(&self, inner: &mut Inner, settings: &Settings, now: i64) {
        // Inhibiting sources: firing alerts, indexed by rule and equal-label values.
        let mut sources: Vec<HashMap<Vec<String>, Vec<String>>> =
            vec![HashMap::new(); settings.inhibit.len()];
        for t in inner.alerts.values() {
            if t.alert.state != AlertState::Firing {
                continue;
            }
            for (i, rule) in settings.inhibit.iter().enumerate() {
                if all_match(&rule.source, &t.alert) {
                    let key: Vec<String> = rule
                        .equal
                        .iter()
                        .map(|l| t.alert.label(l).unwrap_or("").to_string())
                        .collect();
                    sources[i]
                        .entry(key)
                        .or_default()
                        .push(t.alert.fingerprint.clone());
                }
            }
        }
        let active_silences: Vec<&Silence> = inner
            .silences
            .iter()
            .filter(|s| s.state_at(now) == super::silence::SilenceState::Active)
            .collect();
        let mut changes: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        for (id, t) in &inner.alerts {
            if t.alert.state == AlertState::Resolved {
                continue;
            }
            let silenced: Vec<String> = active_silences
                .iter()
                .filter(|s| all_match(&s.matchers, &t.alert))
                .map(|s| s.id.clone())
                .collect();
            let mut inhibited: Vec<String> = Vec::new();
            for (i, rule) in settings.inhibit.iter().enumerate() {
                if sources[i].is_empty() || !all_match(&rule.target, &t.alert) {
                    continue;
                }
                let key: Vec<String> = rule
                    .equal
                    .iter()
                    .map(|l| t.alert.label(l).unwrap_or("").to_string())
                    .collect();
                if let Some(srcs) = sources[i].get(&key) {
                    inhibited.extend(srcs.iter().filter(|f| **f != t.alert.fingerprint).cloned());
                }
            }
            inhibited.sort();
            inhibited.dedup();
            if silenced != t.alert.silenced_by || inhibited != t.alert.inhibited_by {
                changes.push((id.clone(), silenced, inhibited));
            }
        }
        for (id, silenced, inhibited) in changes {
            let Some(t) = inner.alerts.get_mut(&id) else {
                continue;
            };
            let mut evs = Vec::new();
            if t.alert.silenced_by.is_empty() != silenced.is_empty() {
                evs.push(if silenced.is_empty() {
                    (EventKind::Unsilenced, String::new())
                } else {
                    (EventKind::Silenced, silenced.join(","))
                });
            }
            if t.alert.inhibited_by.is_empty() != inhibited.is_empty() {
                evs.push(if inhibited.is_empty() {
                    (EventKind::Uninhibited, String::new())
                } else {
                    (EventKind::Inhibited, inhibited.join(","))
                });
            }
            t.alert.silenced_by = silenced;
            t.alert.inhibited_by = inhibited;
            let alert = t.alert.clone();
            inner.dirty.insert(id);
            for (k, d) in evs {
                push_event(inner, &alert, k, now, d);
            }
        }
    }

    /// Route, group and queue notifications that are due; the next due time.
    fn notify(&self, inner: &mut Inner, settings: &Settings, now: i64) -> Option<i64> {
        // Current members of each group key: firing unmuted alerts.
        struct Cand<'a> {
            route: &'a Route,
            receiver: &'a str,
            labels: Vec<(String, String)>,
            firing: Vec<(String, u64)>,
        }
        let mut cands: HashMap<String, Cand<'_>> = HashMap::new();
        let mut routes = Vec::new();
        for t in inner.alerts.values() {
            if t.alert.state != AlertState::Firing || t.alert.muted() {
                continue;
            }
            routes.clear();
            walk(&settings.root, &t.alert, &mut routes);
            for r in routes.iter().copied() {
                let Some(receiver) = r.receiver.as_deref() else {
                    continue;
                };
                let labels: Vec<(String, String)> = match &r.grouping.group_by {
                    Some(keys) => keys
                        .iter()
                        .map(|k| (k.clone(), t.alert.label(k).unwrap_or("").to_string()))
                        .collect(),
                    None => t.alert.all_labels(),
                };
                let mut key = format!("{}\u{1f}{receiver}", r.id);
                for (k, v) in &labels {
                    key.push('\u{1f}');
                    key.push_str(k);
                    key.push('=');
                    key.push_str(v);
                }
                cands
                    .entry(key)
                    .or_insert_with(|| Cand {
                        route: r,
                        receiver,
                        labels,
                        firing: Vec::new(),
                    })
                    .firing
                    .push((t.alert.fingerprint.clone(), affected_sig(&t.alert)));
            }
        }
        let mut keys: Vec<String> = cands.keys().cloned().collect();
        keys.extend(
            inner
                .groups
                .keys()
                .filter(|k| !cands.contains_key(*k))
                .cloned(),
        );
        keys.sort();
        let mut next: Option<i64> = None;
        for key in keys {
            let cand = cands.get(&key);
            let firing: BTreeMap<String, Sent> = cand
                .map(|c| {
                    c.firing
                        .iter()
                        .map(|(fp, s)| (fp.clone(), Sent { affected: *s }))
                        .collect()
                })
                .unwrap_or_default();
            if !inner.groups.contains_key(&key) {
                let Some(c) = cand else { continue };
                let g = Group {
                    key: key.clone(),
                    id: fingerprint(&format!("{key}\u{1f}{now}"))[..12].to_string(),
                    route: c.route.id.clone(),
                    receiver: c.receiver.to_string(),
                    labels: c.labels.clone(),
                    first_ms: now,
                    last_flush_ms: None,
                    sent: BTreeMap::new(),
                    seq: 0,
                    group_wait_ms: c.route.grouping.group_wait_ms,
                    group_interval_ms: c.route.grouping.group_interval_ms,
                    repeat_interval_ms: c.route.grouping.repeat_interval_ms,
                };
                inner.groups.insert(key.clone(), g);
            }
            let Some(g) = inner.groups.get_mut(&key) else {
                continue;
            };
            if let Some(c) = cand {
                // Timing follows the current config (a reload may change it).
                g.group_wait_ms = c.route.grouping.group_wait_ms;
                g.group_interval_ms = c.route.grouping.group_interval_ms;
                g.repeat_interval_ms = c.route.grouping.repeat_interval_ms;
            }
            // Sent alerts now resolved; sent alerts gone otherwise (muted, forgotten)
            // leave the group silently.
            let resolved: Vec<String> = g
                .sent
                .keys()
                .filter(|fp| !firing.contains_key(*fp))
                .filter(|fp| {
                    inner
                        .by_fp
                        .get(*fp)
                        .and_then(|id| inner.alerts.get(id))
                        .is_some_and(|t| t.alert.state == AlertState::Resolved)
                })
                .cloned()
                .collect();
            let changed =
                firing.iter().any(|(fp, s)| g.sent.get(fp) != Some(s)) || !resolved.is_empty();
            let due = match g.last_flush_ms {
                None if firing.is_empty() => {
                    inner.batch.group_removes.push(key.clone());
                    inner.groups.remove(&key);
                    continue;
                }
                None => Some(g.first_ms + g.group_wait_ms),
                Some(last) if changed => Some(last + g.group_interval_ms),
                Some(last) if !firing.is_empty() => {
                    let all_acked = firing.keys().all(|fp| {
                        inner
                            .by_fp
                            .get(fp)
                            .and_then(|id| inner.alerts.get(id))
                            .is_some_and(|t| t.alert.acked.is_some())
                    });
                    (!all_acked).then_some(last + g.repeat_interval_ms)
                }
                Some(_) => {
                    // Nothing firing, nothing to tell: the group ends.
                    inner.batch.group_removes.push(key.clone());
                    inner.groups.remove(&key);
                    continue;
                }
            };
            let Some(due) = due else { continue };
            if due > now {
                next = Some(next.map_or(due, |n: i64| n.min(due)));
                continue;
            }
            // Flush.
            let send_resolved = settings
                .receivers
                .get(&g.receiver)
                .is_none_or(|r| r.send_resolved);
            let alert_of = |fp: &String| {
                inner
                    .by_fp
                    .get(fp)
                    .and_then(|id| inner.alerts.get(id))
                    .map(|t| t.alert.clone())
            };
            let mut alerts: Vec<Alert> = firing.keys().filter_map(alert_of).collect();
            if send_resolved {
                alerts.extend(resolved.iter().filter_map(alert_of));
            }
            g.sent = firing.clone();
            g.last_flush_ms = Some(now);
            if firing.is_empty() && !send_resolved {
                inner.batch.group_puts.push((key.clone(), json(&*g)));
                continue;
            }
            g.seq += 1;
            let n = Notification {
                receiver: g.receiver.clone(),
                route: g.route.clone(),
                group_key: key.clone(),
                group_labels: g.labels.clone(),
                status: if firing.is_empty() {
                    Status::Resolved
                } else {
                    Status::Firing
                },
                alerts,
                idempotency_key: format!("vigil-{}-{}", g.id, g.seq),
                created_ms: now,
                test: false,
                action_id: None,
                repeat_interval_ms: g.repeat_interval_ms,
            };
            if !firing.is_empty() {
                next = Some(next.map_or(now + g.group_interval_ms, |x| {
                    x.min(now + g.group_interval_ms)
                }));
            }
            inner.batch.group_puts.push((key.clone(), json(&*g)));
            let receiver = g.receiver.clone();
            for a in &n.alerts {
                inner.batch.history.push((
                    a.fingerprint.clone(),
                    now,
                    json(&AlertEvent {
                        at_ms: now,
                        fingerprint: a.fingerprint.clone(),
                        name: a.name.clone(),
                        kind: EventKind::Notified,
                        state: Some(a.state),
                        severity: Some(a.severity),
                        detail: format!("{receiver} {}", n.idempotency_key),
                    }),
                ));
            }
            tracing::info!(receiver = %receiver, alerts = n.alerts.len(), key = %n.idempotency_key, "notification queued: {}", n.title());
            inner.batch.outbox.push((receiver, queued(n, now).encode()));
        }
        next
    }

    /// Commit the step's changes in one transaction, then publish its events.
    fn commit(&self, inner: &mut Inner) {
        let dirty: Vec<String> = inner.dirty.drain().collect();
        for id in dirty {
            if let Some(t) = inner.alerts.get(&id) {
                inner
                    .batch
                    .alert_puts
                    .push((t.alert.fingerprint.clone(), json(t)));
            }
        }
        for e in &inner.events {
            if !e.fingerprint.is_empty() {
                inner
                    .batch
                    .history
                    .push((e.fingerprint.clone(), e.at_ms, json(e)));
            }
        }
        let batch = std::mem::take(&mut inner.batch);
        let queued = !batch.outbox.is_empty();
        if !batch.is_empty()
            && let Err(e) = self.store.alerts_commit(&batch)
        {
            // Kept in memory; the next step writes the alerts again (they stay dirty)
            // and the notifications are re-queued.
            tracing::error!("alert state not stored, retrying at the next step: {e}");
            for (fp, _) in &batch.alert_puts {
                if let Some(id) = inner.by_fp.get(fp) {
                    inner.dirty.insert(id.clone());
                }
            }
            inner.batch.outbox = batch.outbox;
            inner.batch.group_puts = batch.group_puts;
            inner.batch.group_removes = batch.group_removes;
            inner.batch.alert_removes = batch.alert_removes;
        }
        for e in inner.events.drain(..) {
            let _ = self.feed.send(e);
        }
        if queued {
            self.wake_delivery();
        }
    }

    fn wake_delivery(&self) {
        self.delivery.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Every alert the engine tracks (pending, firing, recently resolved), most severe
    /// and newest first.
    pub fn active(&self) -> Vec<Alert> {
        let inner = self.lock();
        let mut out: Vec<Alert> = inner.alerts.values().map(|t| t.alert.clone()).collect();
        out.sort_by(|a, b| {
            (
                a.state == AlertState::Resolved,
                a.severity,
                -a.since_ms,
                &a.fingerprint,
            )
                .cmp(&(
                    b.state == AlertState::Resolved,
                    b.severity,
                    -b.since_ms,
                    &b.fingerprint,
                ))
        });
        out
    }

    /// One alert by fingerprint (or a unique prefix of it).
    pub fn get(&self, fingerprint: &str) -> Option<Alert> {
        let inner = self.lock();
        let id = resolve_fp(&inner, fingerprint)?;
        inner.alerts.get(&id).map(|t| t.alert.clone())
    }

    /// History events, oldest first: of one alert (`Some(fingerprint)`) or of all,
    /// the newest `limit`.
    pub fn history(
        &self,
        fingerprint: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AlertEvent>, AlertError> {
        let rows = match fingerprint {
            Some(fp) => {
                let fp = {
                    let inner = self.lock();
                    resolve_fp(&inner, fp)
                        .and_then(|id| inner.alerts.get(&id).map(|t| t.alert.fingerprint.clone()))
                        .unwrap_or_else(|| fp.to_string())
                };
                let mut rows = self.store.alert_history(&fp, i64::MIN, i64::MAX)?;
                let skip = rows.len().saturating_sub(limit);
                rows.split_off(skip)
            }
            None => self.store.alert_history_all(limit)?,
        };
        Ok(rows
            .into_iter()
            .filter_map(|(_, b)| serde_json::from_slice(&b).ok())
            .collect())
    }

    /// Acknowledge an alert: no repeat notifications while it fires (changes still
    /// notify). Cleared when it resolves.
    pub fn ack(&self, fingerprint: &str, who: &str) -> Result<Alert, AlertError> {
        if who.trim().is_empty() {
            return Err(AlertError::Invalid(
                "an acknowledgement needs a name (--by)".into(),
            ));
        }
        let settings = self.settings();
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let id = resolve_fp(&inner, fingerprint)
            .ok_or_else(|| AlertError::UnknownAlert(fingerprint.to_string()))?;
        let t = inner
            .alerts
            .get_mut(&id)
            .ok_or_else(|| AlertError::UnknownAlert(fingerprint.to_string()))?;
        if t.alert.state == AlertState::Resolved {
            return Err(AlertError::Invalid(format!(
                "alert {} is resolved: nothing to acknowledge",
                t.alert.fingerprint
            )));
        }
        t.alert.acked = Some(Ack {
            by: who.to_string(),
            at_ms: now,
        });
        let alert = t.alert.clone();
        inner.dirty.insert(id);
        push_event(&mut inner, &alert, EventKind::Acked, now, who.to_string());
        self.step(&mut inner, &settings);
        self.timers.notify_one();
        Ok(alert)
    }

    /// Every silence (active, pending and expired), newest first, with its state.
    pub fn silences(&self) -> Vec<Silence> {
        let now = self.clock.now_ms();
        let inner = self.lock();
        let mut out: Vec<Silence> = inner
            .silences
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.state = s.state_at(now);
                s
            })
            .collect();
        out.reverse();
        out
    }

    /// Add a silence; its id.
    pub fn add_silence(&self, mut s: Silence) -> Result<String, AlertError> {
        s.check().map_err(AlertError::Invalid)?;
        let now = self.clock.now_ms();
        if s.id.is_empty() {
            s.id = format!("{:016x}", fastrand::u64(..));
        }
        s.created_ms = now;
        s.expired_ms = None;
        s.state = s.state_at(now);
        self.store.silence_put(&s.id, &json(&s))?;
        let settings = self.settings();
        let mut inner = self.lock();
        inner.silences.retain(|x| x.id != s.id);
        inner.silences.push(s.clone());
        let detail = format!(
            "{} by {}: {}",
            s.matchers
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(","),
            s.author,
            s.comment
        );
        inner.events.push(AlertEvent {
            at_ms: now,
            fingerprint: String::new(),
            name: s.id.clone(),
            kind: EventKind::SilenceAdded,
            state: None,
            severity: None,
            detail,
        });
        self.step(&mut inner, &settings);
        self.timers.notify_one();
        Ok(s.id)
    }

    /// End a silence now (it stays listed as expired).
    pub fn expire_silence(&self, id: &str) -> Result<Silence, AlertError> {
        let now = self.clock.now_ms();
        let settings = self.settings();
        let mut inner = self.lock();
        let s = inner
            .silences
            .iter_mut()
            .find(|s| s.id == id || (id.len() >= 4 && s.id.starts_with(id)))
            .ok_or_else(|| AlertError::UnknownSilence(id.to_string()))?;
        if s.expired_ms.is_none() {
            s.expired_ms = Some(now);
        }
        s.state = s.state_at(now);
        let s = s.clone();
        self.store.silence_put(&s.id, &json(&s))?;
        inner.events.push(AlertEvent {
            at_ms: now,
            fingerprint: String::new(),
            name: s.id.clone(),
            kind: EventKind::SilenceExpired,
            state: None,
            severity: None,
            detail: String::new(),
        });
        self.step(&mut inner, &settings);
        self.timers.notify_one();
        Ok(s)
    }

    /// The dashboard feed: every alert event as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<AlertEvent> {
        self.feed.subscribe()
    }

    /// Queued notifications (all receivers), oldest first per receiver.
    pub fn outbox_list(&self) -> Result<Vec<OutboxItem>, AlertError> {
        Ok(self
            .store
            .outbox_all()?
            .into_iter()
            .filter_map(|e| OutboxItem::decode(&e.receiver, e.seq, &e.notification))
            .collect())
    }

    /// Notifications given up on, retryable with [`Engine::retry`].
    pub fn dead_letters(&self) -> Result<Vec<OutboxItem>, AlertError> {
        Ok(self
            .store
            .dead_letters_all()?
            .into_iter()
            .filter_map(|e| OutboxItem::decode(&e.receiver, e.seq, &e.notification))
            .collect())
    }

    /// Delivered notifications with their attempts (the delivery log).
    pub fn delivery_log(&self) -> Result<Vec<OutboxItem>, AlertError> {
        Ok(self
            .store
            .delivery_log()?
            .into_iter()
            .filter_map(|e| OutboxItem::decode(&e.receiver, e.seq, &e.notification))
            .collect())
    }

    /// Put a dead letter back into the outbox (same idempotency key; attempts kept).
    pub fn retry(&self, receiver: &str, seq: u64) -> Result<OutboxItem, AlertError> {
        let entry = self
            .store
            .dead_letters(receiver, usize::MAX)?
            .into_iter()
            .find(|e| e.seq == seq)
            .and_then(|e| OutboxItem::decode(&e.receiver, e.seq, &e.notification))
            .ok_or_else(|| AlertError::UnknownDeadLetter {
                receiver: receiver.to_string(),
                seq,
            })?;
        let mut item = entry;
        item.state = DeliveryState::Queued;
        item.next_attempt_ms = self.clock.now_ms();
        item.notification.created_ms = self.clock.now_ms();
        if !self
            .store
            .dead_letter_retry(receiver, seq, &item.encode())?
        {
            return Err(AlertError::UnknownDeadLetter {
                receiver: receiver.to_string(),
                seq,
            });
        }
        self.wake_delivery();
        Ok(item)
    }

    /// Delete history events and delivery-log entries older than
    /// `history_retention`; how many rows went.
    pub fn prune_history(&self) -> Result<usize, AlertError> {
        let before = self.clock.now_ms() - self.settings().history_retention_ms;
        Ok(self.store.alert_history_prune(before, |bytes| {
            serde_json::from_slice::<OutboxItem>(bytes)
                .map(|i| i.notification.created_ms < before)
                .unwrap_or(false)
        })?)
    }

    /// Queue a test notification for `receiver` (`vigil alerts test`); its sequence.
    pub fn test_receiver(&self, receiver: &str) -> Result<u64, AlertError> {
        let settings = self.settings();
        if !settings.receivers.contains_key(receiver) {
            return Err(AlertError::UnknownReceiver(receiver.to_string()));
        }
        let now = self.clock.now_ms();
        let n = test_notification(receiver, now);
        let seq = self.store.outbox_push(receiver, &queued(n, now).encode())?;
        self.wake_delivery();
        Ok(seq)
    }
}

/// The notification `vigil alerts test` sends.
pub fn test_notification(receiver: &str, now: i64) -> Notification {
    let alert = Alert {
        fingerprint: "0000000000000000".into(),
        name: "vigil_test".into(),
        labels: vec![("receiver".into(), receiver.to_string())],
        severity: Severity::Info,
        state: AlertState::Firing,
        since_ms: now,
        started_ms: now,
        last_seen_ms: now,
        summary: format!("Test notification from vigil to receiver {receiver}: delivery works."),
        value: None,
        threshold: None,
        validators: Vec::new(),
        affected_count: 0,
        plugin: "vigil".into(),
        input_kind: "test".into(),
        silenced_by: Vec::new(),
        inhibited_by: Vec::new(),
        acked: None,
        flapping: false,
    };
    Notification {
        receiver: receiver.to_string(),
        route: "test".into(),
        group_key: format!("test\u{1f}{receiver}"),
        group_labels: vec![("name".into(), "vigil_test".into())],
        status: Status::Firing,
        alerts: vec![alert],
        idempotency_key: format!("vigil-test-{now}-{:08x}", fastrand::u32(..)),
        created_ms: now,
        test: true,
        action_id: None,
        repeat_interval_ms: 0,
    }
}

fn queued(n: Notification, now: i64) -> OutboxItem {
    OutboxItem {
        receiver: n.receiver.clone(),
        seq: 0,
        state: DeliveryState::Queued,
        notification: n,
        attempts: Vec::new(),
        next_attempt_ms: now,
        last_error: None,
    }
}

/// The deepest matching routes (Alertmanager's rules: children in order, the first
/// match wins unless it says `continue`; no matching child → this route).
fn walk<'a>(r: &'a Route, a: &Alert, out: &mut Vec<&'a Route>) -> bool {
    if !all_match(&r.matchers, a) {
        return false;
    }
    let mut any = false;
    for c in &r.routes {
        if walk(c, a, out) {
            any = true;
            if !c.continue_ {
                break;
            }
        }
    }
    if !any {
        out.push(r);
    }
    true
}

fn update_flapping(t: &mut Tracked, s: &Settings, now: i64, events: &mut Vec<EventKind>) {
    t.transitions.retain(|x| now - x < s.flap_window_ms);
    let flapping = t.transitions.len() as u32 >= s.flap_threshold;
    if flapping && !t.alert.flapping {
        events.push(EventKind::Flapping);
    }
    t.alert.flapping = flapping;
}

fn resolve_fp(inner: &Inner, fp: &str) -> Option<String> {
    if let Some(id) = inner.by_fp.get(fp) {
        return Some(id.clone());
    }
    if fp.len() < 4 {
        return None;
    }
    let mut it = inner.by_fp.iter().filter(|(k, _)| k.starts_with(fp));
    let first = it.next()?;
    it.next().is_none().then(|| first.1.clone())
}

fn push_event(inner: &mut Inner, a: &Alert, kind: EventKind, at_ms: i64, detail: String) {
    inner.events.push(AlertEvent {
        at_ms,
        fingerprint: a.fingerprint.clone(),
        name: a.name.clone(),
        kind,
        state: Some(a.state),
        severity: Some(a.severity),
        detail,
    });
}

fn subject_text(s: &[(String, String)]) -> String {
    s.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn json<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

impl Alert {
    /// The scope that can resolve it: the plugin, or `vigil:<plugin>` for the host's
    /// conditions about a plugin.
    fn plugin_scope(&self) -> String {
        if self.plugin == "vigil" {
            format!("vigil:{}", self.label("plugin").unwrap_or(""))
        } else {
            self.plugin.clone()
        }
    }
}
