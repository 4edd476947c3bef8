//! Engine unit tests: lifecycle, persistence, muting, grouping, routing, on a real
//! store with a manual clock.

use super::engine::Engine;
use super::model::{AlertState, EventKind};
use super::notification::{OutboxItem, Status};
use super::settings::Settings;
use super::silence::Silence;
use crate::clock::ManualClock;
use crate::config::load_str;
use crate::contract::{AlertCondition, InputKind, Severity};
use crate::store::Store;
use std::path::Path;
use std::sync::Arc;

pub(crate) fn cond(name: &str, node: &str, validators: &[u64]) -> AlertCondition {
    AlertCondition {
        name: name.into(),
        severity: Severity::Critical,
        subject: vec![("node".into(), node.into())],
        summary: format!("{name} on {node}"),
        value: None,
        threshold: None,
        validators: validators.to_vec(),
        affected_count: validators.len() as u64,
    }
}

pub(crate) struct T {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) engine: Arc<Engine>,
}

pub(crate) fn settings(toml: &str, dir: &Path) -> Settings {
    let c = load_str(&dir.join("vigil.toml"), toml).unwrap();
    Settings::from_loaded(&c).unwrap()
}

pub(crate) const HOOK: &str =
    "[[receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n";

impl T {
    pub(crate) fn new(toml: &str) -> T {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let store = Arc::new(Store::open(&dir.path().join("vigil.redb")).unwrap());
        let engine = Engine::new(settings(toml, dir.path()), store, clock.clone()).unwrap();
        T { dir, clock, engine }
    }

    pub(crate) fn reopen(self, toml: &str) -> T {
        let T { dir, clock, engine } = self;
        drop(engine);
        let store = Arc::new(Store::open(&dir.path().join("vigil.redb")).unwrap());
        let engine = Engine::new(settings(toml, dir.path()), store, clock.clone()).unwrap();
        T { dir, clock, engine }
    }

    /// One evaluation of `plugin` on `kind` reporting `conds`, at the clock's time.
    pub(crate) fn eval(&self, plugin: &str, kind: InputKind, conds: &[AlertCondition]) {
        let now = crate::clock::Clock::now_ms(&*self.clock);
        self.engine.observe_conditions(
            kind,
            now,
            &[plugin.to_string()],
            conds.iter().map(|c| (plugin, c)),
        );
    }

    pub(crate) fn state(&self, name: &str) -> Option<AlertState> {
        self.engine
            .active()
            .into_iter()
            .find(|a| a.name == name)
            .map(|a| a.state)
    }

    pub(crate) fn outbox(&self) -> Vec<OutboxItem> {
        self.engine.outbox_list().unwrap()
    }
}

#[test]
fn pending_for_evaluations_then_firing_then_resolved() {
    let t = T::new("[alerting]\nfor = 3\n");
    let c = cond("cl_syncing", "bn-1", &[]);
    t.eval("node-health", InputKind::Node, std::slice::from_ref(&c));
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Pending));
    t.eval("node-health", InputKind::Node, std::slice::from_ref(&c));
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Pending));
    t.eval("node-health", InputKind::Node, std::slice::from_ref(&c));
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Firing));
    // Another plugin's evaluation, or another kind, does not resolve it.
    t.eval("other", InputKind::Node, &[]);
    t.eval("node-health", InputKind::Epoch, &[]);
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Firing));
    t.eval("node-health", InputKind::Node, &[]);
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Resolved));
    let kinds: Vec<EventKind> = t
        .engine
        .history(None, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [EventKind::Pending, EventKind::Firing, EventKind::Resolved]
    );
}

#[test]
fn pending_that_stops_is_cleared_not_resolved() {
    let t = T::new("[alerting]\nfor = \"1m\"\n");
    t.eval("p", InputKind::Node, &[cond("cl_peers_low", "bn-1", &[])]);
    t.clock.advance(30_000);
    t.eval("p", InputKind::Node, &[cond("cl_peers_low", "bn-1", &[])]);
    assert_eq!(t.state("cl_peers_low"), Some(AlertState::Pending));
    t.clock.advance(31_000);
    t.eval("p", InputKind::Node, &[cond("cl_peers_low", "bn-1", &[])]);
    assert_eq!(t.state("cl_peers_low"), Some(AlertState::Firing));
    let t2 = T::new("[alerting]\nfor = 2\n");
    t2.eval("p", InputKind::Node, &[cond("x", "a", &[])]);
    t2.eval("p", InputKind::Node, &[]);
    assert_eq!(t2.state("x"), None);
    assert_eq!(
        t2.engine.history(None, 10).unwrap().last().unwrap().kind,
        EventKind::Cleared
    );
}

#[test]
fn keep_firing_for_and_flapping_hold_resolution() {
    let t =
        T::new("[alerting]\nkeep_firing_for = \"30s\"\nflap_threshold = 4\nflap_hold = \"10m\"\n");
    let c = cond("el_peers_low", "el-1", &[]);
    t.eval("p", InputKind::Node, std::slice::from_ref(&c));
    t.clock.advance(10_000);
    t.eval("p", InputKind::Node, &[]);
    assert_eq!(t.state("el_peers_low"), Some(AlertState::Firing));
    t.clock.advance(30_000);
    t.eval("p", InputKind::Node, &[]);
    assert_eq!(t.state("el_peers_low"), Some(AlertState::Resolved));
    // Fire/resolve again: the 4th change makes it flapping, and a flapping alert holds.
    t.eval("p", InputKind::Node, std::slice::from_ref(&c));
    t.clock.advance(1_000);
    t.eval("p", InputKind::Node, &[]);
    t.clock.advance(31_000);
    t.eval("p", InputKind::Node, &[]);
    assert_eq!(t.state("el_peers_low"), Some(AlertState::Resolved));
    t.eval("p", InputKind::Node, std::slice::from_ref(&c));
    let a = t.engine.active().into_iter().next().unwrap();
    assert!(a.flapping, "{a:?}");
    t.clock.advance(1_000);
    t.eval("p", InputKind::Node, &[]);
    t.clock.advance(60_000);
    t.eval("p", InputKind::Node, &[]);
    assert_eq!(t.state("el_peers_low"), Some(AlertState::Firing));
    t.clock.advance(600_000);
    t.eval("p", InputKind::Node, &[]);
    assert_eq!(t.state("el_peers_low"), Some(AlertState::Resolved));
}

#[test]
fn restart_neither_resends_nor_forgets() {
    let cfg = format!("[alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\n{HOOK}");
    let t = T::new(&cfg);
    t.eval(
        "p",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[])],
    );
    assert_eq!(t.outbox().len(), 1);
    let fp = t.engine.active()[0].fingerprint.clone();
    t.engine.ack(&fp, "alice").unwrap();
    let t = t.reopen(&cfg);
    let a = t.engine.get(&fp).unwrap();
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.acked.as_ref().unwrap().by, "alice");
    t.clock.advance(10_000);
    t.eval(
        "p",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[])],
    );
    t.engine.tick();
    assert_eq!(t.outbox().len(), 1, "no re-send after restart");
    // It still resolves, and the resolution is notified.
    t.eval("p", InputKind::Node, &[]);
    t.clock.advance(60_000);
    t.engine.tick();
    let out = t.outbox();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].notification.status, Status::Resolved);
    assert_ne!(
        out[0].notification.idempotency_key,
        out[1].notification.idempotency_key
    );
}

#[test]
fn grouping_waits_then_notifies_changes_at_interval() {
    let cfg = format!(
        "[alerting]\nreceiver = \"hook\"\ngroup_by = [\"name\"]\ngroup_wait = \"5s\"\ngroup_interval = \"1m\"\nrepeat_interval = \"1h\"\n{HOOK}"
    );
    let t = T::new(&cfg);
    t.eval(
        "p",
        InputKind::Epoch,
        &[cond("attestations_missed", "bn-1", &[1, 2])],
    );
    t.clock.advance(2_000);
    t.eval(
        "p",
        InputKind::Epoch,
        &[
            cond("attestations_missed", "bn-1", &[1, 2]),
            cond("attestations_missed", "bn-2", &[3]),
        ],
    );
    assert!(
        t.outbox().is_empty(),
        "group_wait holds the first notification"
    );
    t.clock.advance(3_000);
    assert_eq!(t.engine.tick(), Some(1_065_000));
    let out = t.outbox();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].notification.alerts.len(), 2);
    // A changed affected set is a change of the group: notified after group_interval.
    t.eval(
        "p",
        InputKind::Epoch,
        &[
            cond("attestations_missed", "bn-1", &[1, 2, 9]),
            cond("attestations_missed", "bn-2", &[3]),
        ],
    );
    assert_eq!(t.outbox().len(), 1);
    t.clock.advance(60_000);
    t.engine.tick();
    assert_eq!(t.outbox().len(), 2);
    // Unchanged: repeated after repeat_interval only.
    t.clock.advance(60_000);
    t.engine.tick();
    assert_eq!(t.outbox().len(), 2);
    t.clock.advance(3_600_000);
    t.engine.tick();
    assert_eq!(t.outbox().len(), 3);
}

#[test]
fn ten_thousand_validators_give_one_notification() {
    let cfg = format!("[alerting]\nreceiver = \"hook\"\ngroup_wait = \"5s\"\n{HOOK}");
    let t = T::new(&cfg);
    let vals: Vec<u64> = (0..10_000).collect();
    let conds: Vec<AlertCondition> = vals
        .chunks(100)
        .enumerate()
        .map(|(i, c)| {
            let mut a = cond("attestations_missed", &format!("bn-{i}"), c);
            a.affected_count = 100;
            a
        })
        .collect();
    t.eval("attestations", InputKind::Epoch, &conds);
    t.clock.advance(5_000);
    t.engine.tick();
    let out = t.outbox();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].notification.alerts.len(), 100);
    let affected: u64 = out[0]
        .notification
        .alerts
        .iter()
        .map(|a| a.affected_count)
        .sum();
    assert_eq!(affected, 10_000);
}

#[test]
fn node_down_inhibits_its_duty_alerts_only() {
    let cfg = format!(
        "[alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\ngroup_by = [\"name\", \"node\"]\n{HOOK}"
    );
    let t = T::new(&cfg);
    t.eval(
        "node-health",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[])],
    );
    t.eval(
        "attestations",
        InputKind::Epoch,
        &[
            cond(
                "attestations_missed",
                "bn-1",
                &(0..10_000).collect::<Vec<_>>(),
            ),
            cond("attestations_missed", "bn-2", &[7]),
        ],
    );
    let names: Vec<(String, String)> = t
        .outbox()
        .iter()
        .map(|i| {
            let a = &i.notification.alerts[0];
            (a.name.clone(), a.label("node").unwrap().to_string())
        })
        .collect();
    assert_eq!(
        names,
        [
            ("node_unreachable".into(), "bn-1".into()),
            ("attestations_missed".into(), "bn-2".into())
        ]
    );
    let inhibited = t
        .engine
        .active()
        .into_iter()
        .find(|a| a.label("node") == Some("bn-1") && a.name == "attestations_missed")
        .unwrap();
    assert_eq!(inhibited.inhibited_by.len(), 1);
    // Still inhibited at the next epoch while the node stays down.
    t.clock.advance(384_000);
    t.eval(
        "node-health",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[])],
    );
    t.eval(
        "attestations",
        InputKind::Epoch,
        &[
            cond("attestations_missed", "bn-1", &[1]),
            cond("attestations_missed", "bn-2", &[7]),
        ],
    );
    t.engine.tick();
    assert_eq!(t.outbox().len(), 2);
}

#[test]
fn silences_mute_match_validators_and_keep_history() {
    let cfg = format!("[alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\n{HOOK}");
    let t = T::new(&cfg);
    let now = crate::clock::Clock::now_ms(&*t.clock);
    let id = t
        .engine
        .add_silence(Silence {
            id: String::new(),
            matchers: vec![super::Matcher::parse("validator=42").unwrap()],
            starts_ms: now,
            ends_ms: now + 3_600_000,
            author: "bob".into(),
            comment: "maintenance of validator 42".into(),
            created_ms: 0,
            expired_ms: None,
            state: Default::default(),
        })
        .unwrap();
    t.eval(
        "p",
        InputKind::Epoch,
        &[cond("attestations_missed", "bn-1", &[41, 42])],
    );
    assert!(t.outbox().is_empty());
    let a = t.engine.active().remove(0);
    assert_eq!(a.silenced_by, std::slice::from_ref(&id));
    t.engine.expire_silence(&id).unwrap();
    assert_eq!(t.outbox().len(), 1);
    let s = t.engine.silences();
    assert_eq!(s[0].state, super::SilenceState::Expired);
    let kinds: Vec<EventKind> = t
        .engine
        .history(Some(&a.fingerprint), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&EventKind::Silenced) && kinds.contains(&EventKind::Unsilenced));
    // Refused silences say why.
    let e = t
        .engine
        .add_silence(Silence {
            matchers: Vec::new(),
            ..t.engine.silences().remove(0)
        })
        .unwrap_err();
    assert!(e.to_string().contains("at least one matcher"));
}

#[test]
fn routing_tree_with_continue_and_default() {
    let cfg = "[alerting]\nreceiver = \"default\"\ngroup_wait = \"0s\"\n\
        [[receiver]]\nname = \"default\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/d\"\n\
        [[receiver]]\nname = \"pager\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/p\"\n\
        [[receiver]]\nname = \"audit\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/a\"\n\
        [[route]]\nmatchers = [\"name=~node_.*|cl_.*\"]\nreceiver = \"audit\"\ncontinue = true\n\
        [[route]]\nmatchers = [\"severity=critical\"]\nreceiver = \"pager\"\n";
    let t = T::new(cfg);
    let mut low = cond("cl_peers_low", "bn-1", &[]);
    low.severity = Severity::Low;
    t.eval(
        "p",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[]), low],
    );
    t.eval(
        "q",
        InputKind::Epoch,
        &[{
            let mut c = cond("balance_decreasing", "bn-2", &[5]);
            c.severity = Severity::Medium;
            c
        }],
    );
    let mut got: Vec<(String, String)> = t
        .outbox()
        .iter()
        .flat_map(|i| {
            i.notification
                .alerts
                .iter()
                .map(|a| (i.receiver.clone(), a.name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("audit".into(), "cl_peers_low".into()),
            ("audit".into(), "node_unreachable".into()),
            ("default".into(), "balance_decreasing".into()),
            ("pager".into(), "node_unreachable".into()),
        ]
    );
}

#[test]
fn feed_streams_events() {
    let t = T::new("");
    let mut rx = t.engine.subscribe();
    t.eval("p", InputKind::Node, &[cond("cl_syncing", "bn-1", &[])]);
    let e = rx.try_recv().unwrap();
    assert_eq!(
        (e.kind, e.name.as_str()),
        (EventKind::Pending, "cl_syncing")
    );
    assert_eq!(rx.try_recv().unwrap().kind, EventKind::Firing);
}

#[test]
fn history_is_pruned_after_retention() {
    let t = T::new("[alerting]\nhistory_retention = \"1h\"\n");
    t.eval("p", InputKind::Node, &[cond("cl_syncing", "bn-1", &[])]);
    t.clock.advance(1_800_000);
    t.eval("p", InputKind::Node, &[]);
    assert_eq!(t.engine.history(None, 100).unwrap().len(), 3);
    t.clock.advance(3_000_000);
    assert_eq!(t.engine.prune_history().unwrap(), 2);
    let left = t.engine.history(None, 100).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].kind, EventKind::Resolved);
}

#[test]
fn a_failing_plugin_resolves_nothing_and_plugin_failed_resolves_when_it_recovers() {
    use crate::contract::Output;
    use crate::evaluate::{Evaluation, PluginResult};
    use crate::plugins::PluginError;
    let t = T::new("");
    let out = |alerts: Vec<AlertCondition>| Output {
        alerts,
        scores: Vec::new(),
        subject_scores: Vec::new(),
        recommendations: Vec::new(),
        series: Vec::new(),
        checks: Vec::new(),
        validator_series: Vec::new(),
    };
    let ev = |outcome: Result<Output, PluginError>, host: Vec<AlertCondition>| Evaluation {
        generation: 1,
        kind: InputKind::Node,
        now_ms: crate::clock::Clock::now_ms(&*t.clock),
        results: vec![PluginResult {
            plugin: "node-health".into(),
            version: "0.1.0".into(),
            outcome,
            duration: std::time::Duration::ZERO,
        }],
        host_alerts: host,
        commit_error: None,
    };
    t.engine.observe(&ev(
        Ok(out(vec![cond("cl_syncing", "bn-1", &[])])),
        Vec::new(),
    ));
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Firing));
    let failed = AlertCondition {
        name: "plugin_failed".into(),
        severity: Severity::Medium,
        subject: vec![
            ("plugin".into(), "node-health".into()),
            ("cause".into(), "deadline".into()),
        ],
        summary: "plugin node-sync: exceeded its CPU deadline".into(),
        value: None,
        threshold: None,
        validators: Vec::new(),
        affected_count: 0,
    };
    let err = PluginError::Deadline {
        plugin: "node-health".into(),
        limit_ms: 1000,
    };
    t.engine.observe(&ev(Err(err), vec![failed]));
    // The plugin did not judge: its alert stands; the host's condition fires.
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Firing));
    assert_eq!(t.state("plugin_failed"), Some(AlertState::Firing));
    let pf = t
        .engine
        .active()
        .into_iter()
        .find(|a| a.name == "plugin_failed")
        .unwrap();
    assert_eq!(pf.label("plugin"), Some("node-health"));
    assert_eq!(pf.plugin, "vigil");
    // It runs clean again: both resolve (the node is synced now).
    t.engine.observe(&ev(Ok(out(Vec::new())), Vec::new()));
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Resolved));
    assert_eq!(t.state("plugin_failed"), Some(AlertState::Resolved));
}

#[test]
fn alerts_of_a_removed_plugin_resolve() {
    use crate::contract::Output;
    use crate::evaluate::{Evaluation, PluginResult};
    let t = T::new("");
    t.eval(
        "old-plugin",
        InputKind::Node,
        &[cond("cl_syncing", "bn-1", &[])],
    );
    t.eval(
        "old-plugin",
        InputKind::Epoch,
        &[cond("attestations_missed", "bn-1", &[1])],
    );
    let ev = Evaluation {
        generation: 2,
        kind: InputKind::Node,
        now_ms: crate::clock::Clock::now_ms(&*t.clock),
        results: vec![PluginResult {
            plugin: "other".into(),
            version: "0.1.0".into(),
            outcome: Ok(Output {
                alerts: Vec::new(),
                scores: Vec::new(),
                subject_scores: Vec::new(),
                recommendations: Vec::new(),
                series: Vec::new(),
                checks: Vec::new(),
                validator_series: Vec::new(),
            }),
            duration: std::time::Duration::ZERO,
        }],
        host_alerts: Vec::new(),
        commit_error: None,
    };
    t.engine.observe(&ev);
    assert_eq!(t.state("cl_syncing"), Some(AlertState::Resolved));
    // Only node-kind alerts: the epoch one waits for an epoch evaluation.
    assert_eq!(t.state("attestations_missed"), Some(AlertState::Firing));
}

#[test]
fn an_escalation_is_a_change_of_the_group() {
    let cfg = format!(
        "[alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\ngroup_interval = \"1m\"\n{HOOK}"
    );
    let t = T::new(&cfg);
    let mut c = cond("cl_peers_low", "bn-1", &[]);
    c.severity = Severity::Medium;
    t.eval("p", InputKind::Node, std::slice::from_ref(&c));
    assert_eq!(t.outbox().len(), 1);
    c.severity = Severity::Critical;
    t.eval("p", InputKind::Node, std::slice::from_ref(&c));
    t.clock.advance(60_000);
    t.engine.tick();
    let out = t.outbox();
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1].notification.alerts[0].severity,
        super::Severity::Critical
    );
}
