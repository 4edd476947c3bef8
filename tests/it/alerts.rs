//! The alert engine and its outbox against a real HTTP receiver on 127.0.0.1:
//! signed deliveries, a receiver down for ten minutes of (compressed) time, a hanging
//! receiver, a refusing one, and a config reload changing routes mid-flight.

use crate::support::receiver::{HttpReceiver, Mode};
use crate::support::wait_until;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vigil::alerts::{Engine, Settings};
use vigil::clock::{Clock, ManualClock, SystemClock};
use vigil::contract::{AlertCondition, InputKind, Severity};
use vigil::store::Store;

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

pub(crate) fn settings(dir: &Path, toml: &str) -> Settings {
    let c = vigil::config::load_str(&dir.join("vigil.toml"), toml).unwrap();
    Settings::from_loaded(&c).unwrap()
}

/// An engine on a temp store with its delivery tasks running.
struct Rig {
    dir: tempfile::TempDir,
    engine: Arc<Engine>,
    rt: tokio::runtime::Runtime,
    delivery: Option<vigil::channels::outbox::Delivery>,
}

impl Rig {
    fn new(toml: &str, clock: Arc<dyn Clock>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("vigil.redb")).unwrap());
        let engine = Engine::new(settings(dir.path(), toml), store, clock).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let delivery = rt.block_on(async {
            vigil::channels::outbox::spawn(engine.clone(), vigil::net::http_client().unwrap())
        });
        Rig {
            dir,
            engine,
            rt,
            delivery: Some(delivery),
        }
    }

    fn eval(&self, plugin: &str, kind: InputKind, conds: &[AlertCondition]) {
        self.engine.observe_conditions(
            kind,
            self.engine.now_ms(),
            &[plugin.to_string()],
            conds.iter().map(|c| (plugin, c)),
        );
    }

    fn drained(&self) -> bool {
        self.engine.outbox_list().unwrap().is_empty()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(d) = self.delivery.take() {
            let _guard = self.rt.enter();
            d.stop();
        }
    }
}

fn hook(url: &str, extra: &str) -> String {
    format!("[[receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\n{extra}")
}

#[test]
fn webhook_gets_signed_alertmanager_json_and_the_resolution() {
    let recv = HttpReceiver::start(Mode::Ok);
    let secret_dir = tempfile::tempdir().unwrap();
    std::fs::write(secret_dir.path().join("hook.key"), "s3cret-key\n").unwrap();
    let cfg = format!(
        "[alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\ngroup_interval = \"100ms\"\n{}",
        hook(
            &recv.url,
            &format!(
                "secret_file = \"{}\"\n",
                secret_dir.path().join("hook.key").display()
            )
        )
    );
    let rig = Rig::new(&cfg, Arc::new(SystemClock));
    rig.eval(
        "node-health",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[])],
    );
    assert!(wait_until(Duration::from_secs(20), || recv
        .accepted()
        .len()
        == 1));
    let got = &recv.accepted()[0];
    assert_eq!(got.path, "/hook");
    let expect = vigil::channels::webhook::signature(
        &vigil::config::secret::Secret::new("s3cret-key"),
        &got.body,
    );
    assert_eq!(got.headers["x-vigil-signature"], expect);
    let body = got.json();
    assert_eq!(
        got.headers["idempotency-key"],
        body["idempotencyKey"].as_str().unwrap()
    );
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["name"], "node_unreachable");
    assert_eq!(body["alerts"][0]["labels"]["node"], "bn-1");
    // The secret never shows in what the engine exposes.
    let settings_text = format!("{:?}", rig.engine.settings());
    assert!(!settings_text.contains("s3cret-key"));
    // Resolution.
    rig.eval("node-health", InputKind::Node, &[]);
    assert!(wait_until(Duration::from_secs(20), || recv
        .accepted()
        .len()
        == 2));
    let body = recv.accepted()[1].json();
    assert_eq!(body["status"], "resolved");
    assert_ne!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert!(wait_until(Duration::from_secs(5), || rig.drained()));
    let log = rig.engine.delivery_log().unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|i| i.attempts.len() == 1 && i.attempts[0].ok)
    );
    let listed = serde_json::to_string(&log).unwrap();
    assert!(!listed.contains("s3cret-key"));
}

/// Ten minutes of replay time with the receiver answering 500, alerts firing,
/// changing and resolving meanwhile; then the receiver comes back. Every notification
/// arrives, each idempotency key accepted once, in order per group.
#[test]
fn webhook_down_ten_minutes_then_back_loses_nothing() {
    let recv = HttpReceiver::start(Mode::Fail);
    let clock = Arc::new(ManualClock::new(1_795_381_736_000));
    let cfg = format!(
        "[alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\ngroup_interval = \"30s\"\nrepeat_interval = \"1h\"\ngroup_by = [\"name\", \"node\"]\n{}",
        hook(
            &recv.url,
            "backoff_initial = \"1s\"\nbackoff_max = \"20s\"\ngive_up_after = \"1h\"\ntimeout = \"2s\"\nrate_limit_per_minute = 600\n"
        )
    );
    let rig = Rig::new(&cfg, clock.clone());
    for step in 0..60u64 {
        let mut node = Vec::new();
        if step < 20 {
            node.push(cond("cl_syncing", "bn-0", &[]));
        }
        if step >= 5 {
            node.push(cond("el_peers_low", "el-1", &[]));
        }
        rig.eval("node-health", InputKind::Node, &node);
        let missed: Vec<u64> = (0..=(step / 6)).collect();
        let duty = if step % 20 < 15 {
            vec![cond("attestations_missed", "bn-2", &missed)]
        } else {
            Vec::new()
        };
        rig.eval("attestations", InputKind::Epoch, &duty);
        clock.advance(10_000);
        rig.engine.tick();
        std::thread::sleep(Duration::from_millis(15));
    }
    let queued = rig.engine.outbox_list().unwrap().len();
    assert!(queued >= 8, "{queued} notifications queued while down");
    assert!(recv.accepted().is_empty());
    assert!(recv.got().len() > 1, "retried while down");
    recv.set(Mode::Ok);
    assert!(
        wait_until(Duration::from_secs(60), || {
            clock.advance(1_000);
            rig.drained()
        }),
        "outbox not drained: {:?}",
        rig.engine.outbox_list().unwrap().len()
    );
    assert!(rig.engine.dead_letters().unwrap().is_empty());
    let accepted = recv.accepted();
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_group: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for g in &accepted {
        let b = g.json();
        let key = b["idempotencyKey"].as_str().unwrap().to_string();
        *per_key.entry(key.clone()).or_default() += 1;
        // vigil-<group id>-<n>: a group's lifetime and its n-th notification.
        let (group, n) = key.rsplit_once('-').unwrap();
        per_group
            .entry(group.to_string())
            .or_default()
            .push(n.parse().unwrap());
    }
    assert!(per_key.values().all(|c| *c == 1), "{per_key:?}");
    let log = rig.engine.delivery_log().unwrap();
    let logged: BTreeSet<String> = log
        .iter()
        .map(|i| i.notification.idempotency_key.clone())
        .collect();
    assert_eq!(logged, per_key.keys().cloned().collect());
    // Received in the order they were queued.
    let seq_of: BTreeMap<&str, u64> = log
        .iter()
        .map(|i| (i.notification.idempotency_key.as_str(), i.seq))
        .collect();
    let order: Vec<u64> = accepted
        .iter()
        .map(|g| seq_of[g.headers["idempotency-key"].as_str()])
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    for (g, seqs) in &per_group {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{g}: {seqs:?}");
    }
    // cl_syncing fired and resolved: both were delivered.
    let statuses: Vec<String> = accepted
        .iter()
        .map(|g| g.json())
        .filter(|b| b["groupLabels"]["name"] == "cl_syncing")
        .map(|b| b["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["firing", "resolved"]);
}

#[test]
fn hanging_webhook_times_out_and_is_retried() {
    let recv = HttpReceiver::start(Mode::Hang);
    let cfg = hook(
        &recv.url,
        "timeout = \"300ms\"\nbackoff_initial = \"100ms\"\nbackoff_max = \"200ms\"\n",
    );
    let rig = Rig::new(&cfg, Arc::new(SystemClock));
    let seq = rig.engine.test_receiver("hook").unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        rig.engine
            .outbox_list()
            .unwrap()
            .first()
            .is_some_and(|i| i.attempts.len() >= 2)
    }));
    let item = rig.engine.outbox_list().unwrap().remove(0);
    assert!(
        item.attempts[0].outcome.contains("timeout"),
        "{:?}",
        item.attempts
    );
    recv.set(Mode::Ok);
    assert!(wait_until(Duration::from_secs(20), || rig.drained()));
    let log = rig.engine.delivery_log().unwrap();
    assert_eq!(log[0].seq, seq);
    assert!(log[0].attempts.last().unwrap().ok);
    assert_eq!(recv.accepted().len(), 1);
}

#[test]
fn refused_notification_is_dead_lettered_and_retryable() {
    let recv = HttpReceiver::start(Mode::BadRequest);
    let rig = Rig::new(&hook(&recv.url, ""), Arc::new(SystemClock));
    let seq = rig.engine.test_receiver("hook").unwrap();
    assert!(wait_until(Duration::from_secs(20), || !rig
        .engine
        .dead_letters()
        .unwrap()
        .is_empty()));
    let dead = rig.engine.dead_letters().unwrap().remove(0);
    assert_eq!(dead.seq, seq);
    assert!(
        dead.last_error.as_deref().unwrap().contains("400"),
        "{dead:?}"
    );
    assert_eq!(dead.attempts.len(), 1, "a 4xx is not retried");
    recv.set(Mode::Ok);
    rig.engine.retry("hook", seq).unwrap();
    assert!(wait_until(Duration::from_secs(20), || rig.drained()
        && !rig.engine.delivery_log().unwrap().is_empty()));
    let key = &rig.engine.delivery_log().unwrap()[0]
        .notification
        .idempotency_key;
    assert_eq!(recv.accepted()[0].headers["idempotency-key"], *key);
    assert!(rig.engine.dead_letters().unwrap().is_empty());
    assert!(rig.engine.retry("hook", seq).is_err());
}

/// Notifications queued for a receiver stay its own when a reload routes elsewhere,
/// even when the receiver is removed from the config; new alerts follow the new routes.
#[test]
fn config_reload_changing_routes_mid_flight_drops_nothing() {
    let a = HttpReceiver::start(Mode::Fail);
    let b = HttpReceiver::start(Mode::Ok);
    let recv = |name: &str, url: &str| {
        format!(
            "[[receiver]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nbackoff_initial = \"100ms\"\nbackoff_max = \"200ms\"\n"
        )
    };
    let before = format!(
        "[alerting]\nreceiver = \"a\"\ngroup_wait = \"0s\"\n{}{}",
        recv("a", &a.url),
        recv("b", &b.url)
    );
    let rig = Rig::new(&before, Arc::new(SystemClock));
    rig.eval(
        "node-health",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[])],
    );
    assert!(wait_until(Duration::from_secs(10), || !a.got().is_empty()));
    // Reload: a is gone, everything routes to b.
    let after = format!(
        "[alerting]\nreceiver = \"b\"\ngroup_wait = \"0s\"\n{}",
        recv("b", &b.url)
    );
    rig.engine.reconfigure(settings(rig.dir.path(), &after));
    rig.eval(
        "node-health",
        InputKind::Node,
        &[
            cond("node_unreachable", "bn-1", &[]),
            cond("el_syncing", "el-1", &[]),
        ],
    );
    // b now hears of both (the firing one re-routed to it, and the new one).
    assert!(wait_until(Duration::from_secs(10), || b.accepted().len() == 2));
    let names: BTreeSet<String> = b
        .accepted()
        .iter()
        .map(|g| {
            g.json()["alerts"][0]["labels"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["el_syncing".into(), "node_unreachable".into()])
    );
    a.set(Mode::Ok);
    assert!(wait_until(Duration::from_secs(20), || rig.drained()));
    assert_eq!(a.accepted().len(), 1);
    assert_eq!(
        a.accepted()[0].json()["alerts"][0]["labels"]["name"],
        "node_unreachable"
    );
}

/// An `exec` receiver runs its allowlisted command for a routed alert and for a
/// plugin-suggested action id; alert text stays one argument, never shell syntax.
#[test]
fn exec_receiver_runs_for_alerts_and_action_ids() {
    use vigil::contract::{Output, Recommendation};
    use vigil::evaluate::{Evaluation, PluginResult};
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("fix.sh");
    let out = work.path().join("runs");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" >> {0}\necho >> {0}\n",
            out.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cfg = format!(
        "[alerting]\ngroup_wait = \"0s\"\nexec_allowlist = [\"{0}\"]\n\
         [[receiver]]\nname = \"fix\"\nkind = \"exec\"\ncommand = \"{0}\"\nargs = [\"{{name}}\", \"{{label:node}}\", \"{{action_id}}\", \"--\"]\naction_ids = [\"raise_target_peers\"]\ntimeout = \"5s\"\n\
         [[route]]\nmatchers = [\"name=cl_peers_low\"]\nreceiver = \"fix\"\n",
        script.display()
    );
    let rig = Rig::new(&cfg, Arc::new(SystemClock));
    let mut c = cond("cl_peers_low", "bn-1; rm -rf /", &[]);
    c.summary = "$(touch /tmp/pwned) `id`".into();
    let ev = Evaluation {
        generation: 1,
        kind: InputKind::Node,
        now_ms: rig.engine.now_ms(),
        results: vec![PluginResult {
            plugin: "node-health".into(),
            version: "0.1.0".into(),
            outcome: Ok(Output {
                alerts: vec![c],
                scores: Vec::new(),
                subject_scores: Vec::new(),
                recommendations: vec![Recommendation {
                    subject: vec![("node".into(), "bn-1".into())],
                    title: "Raise the peer target".into(),
                    text: "--target-peers=100".into(),
                    priority: Severity::Medium,
                    action_id: Some("raise_target_peers".into()),
                }],
                series: Vec::new(),
                checks: Vec::new(),
                validator_series: Vec::new(),
            }),
            duration: Duration::ZERO,
        }],
        host_alerts: Vec::new(),
        commit_error: None,
    };
    rig.engine.observe(&ev);
    assert!(wait_until(Duration::from_secs(20), || rig.drained()
        && rig.engine.delivery_log().unwrap().len() == 2));
    let mut runs: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    runs.sort();
    assert_eq!(
        runs,
        [
            "cl_peers_low|bn-1; rm -rf /||--|",
            "|bn-1|raise_target_peers|--|"
        ]
    );
    // The same action is not run again at the next evaluation.
    rig.engine.observe(&ev);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.engine.delivery_log().unwrap().len(), 2);
}

/// 10k validators failing at once behind two nodes, one of them down: the webhook gets
/// one notification for the node and one grouped notification for the duty alerts of
/// the live node; the dead node's duty alert stays inhibited while it is down.
#[test]
fn node_down_inhibits_and_ten_thousand_failures_are_one_notification() {
    let recv = HttpReceiver::start(Mode::Ok);
    let cfg = format!(
        "[alerting]\nreceiver = \"hook\"\ngroup_wait = \"300ms\"\ngroup_interval = \"300ms\"\n{}",
        hook(&recv.url, "")
    );
    let rig = Rig::new(&cfg, Arc::new(SystemClock));
    rig.eval(
        "node-health",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[])],
    );
    // missed-streak reports one condition per beacon node (as it does), 5k each; the
    // live node's 5k are split over its 50 validator clients' labels here to give the
    // group 50 alerts.
    let mut duty = vec![cond(
        "attestations_missed",
        "bn-1",
        &(0..5_000).collect::<Vec<_>>(),
    )];
    for vc in 0..50u64 {
        let mut c = cond(
            "attestations_missed",
            "bn-2",
            &(5_000 + vc * 100..5_100 + vc * 100).collect::<Vec<_>>(),
        );
        c.subject.push(("vc".into(), format!("vc-{vc}")));
        duty.push(c);
    }
    rig.eval("attestations", InputKind::Epoch, &duty);
    assert!(wait_until(Duration::from_secs(20), || recv
        .accepted()
        .len()
        == 2));
    std::thread::sleep(Duration::from_millis(800));
    let got: Vec<serde_json::Value> = recv.accepted().iter().map(|g| g.json()).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    let duty_note = got
        .iter()
        .find(|b| b["groupLabels"]["name"] == "attestations_missed")
        .unwrap();
    let alerts = duty_note["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 50);
    assert!(alerts.iter().all(|a| a["labels"]["node"] == "bn-2"));
    let affected: u64 = alerts
        .iter()
        .map(|a| a["affectedCount"].as_u64().unwrap())
        .sum();
    assert_eq!(affected, 5_000);
    let inhibited = rig
        .engine
        .active()
        .into_iter()
        .find(|a| a.label("node") == Some("bn-1") && a.name == "attestations_missed")
        .unwrap();
    assert!(!inhibited.inhibited_by.is_empty());
    // Next epoch, node still down: still nothing for bn-1's validators.
    rig.eval(
        "node-health",
        InputKind::Node,
        &[cond("node_unreachable", "bn-1", &[])],
    );
    rig.eval("attestations", InputKind::Epoch, &duty);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(recv.accepted().len(), 2);
    // The node comes back but its validators still miss: now they are notified.
    rig.eval("node-health", InputKind::Node, &[]);
    rig.eval("attestations", InputKind::Epoch, &duty);
    assert!(wait_until(Duration::from_secs(20), || recv
        .accepted()
        .iter()
        .any(|g| {
            let b = g.json();
            b["groupLabels"]["name"] == "attestations_missed"
                && b["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["labels"]["node"] == "bn-1")
        })));
}

/// Every webhook shape reaches a real receiver with the headers and body it expects.
#[test]
fn slack_discord_pagerduty_telegram_ntfy_shapes_are_delivered() {
    let recv = HttpReceiver::start(Mode::Ok);
    // SAFETY: variables no other test reads or writes.
    unsafe {
        std::env::set_var("VIGIL_TEST_PD_KEY", "pd-routing-key-1");
        std::env::set_var("VIGIL_TEST_TG_TOKEN", "123:tg-bot-token");
    }
    let u = &recv.url;
    let cfg = format!(
        "[[receiver]]\nname = \"slack\"\nkind = \"webhook\"\nformat = \"slack\"\nurl = \"{u}/slack\"\n\
         [[receiver]]\nname = \"discord\"\nkind = \"webhook\"\nformat = \"discord\"\nurl = \"{u}/discord\"\n\
         [[receiver]]\nname = \"pd\"\nkind = \"webhook\"\nformat = \"pagerduty\"\nurl = \"{u}/v2/enqueue\"\ntoken_env = \"VIGIL_TEST_PD_KEY\"\n\
         [[receiver]]\nname = \"tg\"\nkind = \"webhook\"\nformat = \"telegram\"\nurl = \"{u}/bot{{token}}/sendMessage\"\ntoken_env = \"VIGIL_TEST_TG_TOKEN\"\nchat_id = \"-100\"\n\
         [[receiver]]\nname = \"ntfy\"\nkind = \"webhook\"\nformat = \"ntfy\"\nurl = \"{u}/vigil-topic\"\n"
    );
    let rig = Rig::new(&cfg, Arc::new(SystemClock));
    for r in ["slack", "discord", "pd", "tg", "ntfy"] {
        rig.engine.test_receiver(r).unwrap();
    }
    assert!(wait_until(Duration::from_secs(20), || recv
        .accepted()
        .len()
        == 5));
    let by = |path: &str| {
        recv.accepted()
            .into_iter()
            .find(|g| g.path == path)
            .unwrap_or_else(|| panic!("nothing on {path}"))
    };
    assert!(
        by("/slack").json()["text"]
            .as_str()
            .unwrap()
            .contains("[TEST]")
    );
    assert!(
        by("/discord").json()["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .contains("vigil_test")
    );
    let pd = by("/v2/enqueue").json();
    assert_eq!(pd["routing_key"], "pd-routing-key-1");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["severity"], "info");
    let tg = by("/bot123:tg-bot-token/sendMessage").json();
    assert_eq!(tg["chat_id"], "-100");
    let ntfy = by("/vigil-topic");
    assert!(ntfy.headers["content-type"].starts_with("text/plain"));
    assert!(ntfy.headers["title"].contains("[TEST]"));
    assert!(String::from_utf8_lossy(&ntfy.body).contains("vigil_test"));
    // Tokens never appear in what the engine shows.
    let shown = format!(
        "{:?}{}",
        rig.engine.settings(),
        serde_json::to_string(&rig.engine.delivery_log().unwrap()).unwrap()
    );
    assert!(!shown.contains("tg-bot-token") && !shown.contains("pd-routing-key-1"));
}
