//! The real `vigil run` with alerting: notifications queued while the webhook is down
//! survive `kill -9` and are delivered after the restart, once per idempotency key,
//! without re-sending firing alerts; the `vigil alerts` / `vigil outbox` commands work
//! through the control socket while it runs and on the store when it does not.

use crate::support::receiver::{HttpReceiver, Mode};
use crate::support::{plugins, wait_until};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// node-health's machine checks off: these tests count notifications of the two
/// unreachable nodes, and a busy or nearly full test machine must not add its own
/// (`cpu_saturated`, `disk_free_low` are real conditions there, not test failures).
const QUIET_MACHINE: &str = "[plugin.node-health]\nmin_disk_free_percent = 0\nmin_days_until_full = 0\nmax_cpu_percent = 100\nmax_memory_percent = 100\n";

fn vigil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.env("NO_COLOR", "1")
        .env_remove("VIGIL_CONFIG")
        .env_remove("RUST_LOG");
    c
}

/// Run a CLI command on `cfg`; (exit code, stdout, stderr).
fn cli(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = vigil()
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(cfg: &Path, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = cli(cfg, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn start(cfg: &Path) -> Daemon {
    Daemon(
        vigil()
            .args(["run", "--config"])
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn keys(items: &serde_json::Value) -> BTreeSet<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["notification"]["idempotency_key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn kill_9_with_queued_notifications_then_all_delivered_once() {
    let recv = HttpReceiver::start(Mode::Fail);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("plugins")).unwrap();
    std::fs::copy(
        plugins::path("node-health"),
        p.join("plugins/node-health.wasm"),
    )
    .unwrap();
    let cfg = p.join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[collect]\ninterval = \"1s\"\n\
             [[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9\"\n[[execution]]\nname = \"el\"\nurl = \"http://127.0.0.1:9\"\n\
             [alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\ngroup_by = [\"name\", \"node\"]\n\
             [[receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}/hook\"\nbackoff_initial = \"100ms\"\nbackoff_max = \"300ms\"\n{QUIET_MACHINE}",
            recv.url
        ),
    )
    .unwrap();
    let mut d = start(&cfg);
    // Both nodes are unreachable: two groups, two notifications, failing.
    assert!(
        wait_until(Duration::from_secs(90), || {
            recv.got().len() >= 3
                && cli(&cfg, &["outbox", "list", "--json"]).0 == 0
                && keys(&json(&cfg, &["outbox", "list", "--json"])).len() == 2
        }),
        "{:?}",
        cli(&cfg, &["outbox", "list"])
    );
    let queued = keys(&json(&cfg, &["outbox", "list", "--json"]));
    let alerts = json(&cfg, &["alerts", "list", "--json"]);
    let firing: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "node_unreachable" && a["state"] == "firing")
        .collect();
    assert_eq!(firing.len(), 2, "{alerts}");
    let (code, table, _) = cli(&cfg, &["alerts", "list"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("FINGERPRINT") && table.contains("node_unreachable{node=bn}"),
        "{table}"
    );

    // kill -9 with both queued.
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    recv.set(Mode::Ok);
    let d = start(&cfg);
    assert!(
        wait_until(Duration::from_secs(90), || {
            let got: BTreeSet<String> = recv
                .accepted()
                .iter()
                .map(|g| g.headers["idempotency-key"].clone())
                .collect();
            got == queued
        }),
        "accepted {:?}, queued {queued:?}",
        recv.accepted().len()
    );
    // No re-send of the still-firing alerts after the restart.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(recv.accepted().len(), 2, "each key once, nothing re-sent");

    // The CLI through the control socket.
    let fp = firing[0]["fingerprint"].as_str().unwrap().to_string();
    let acked = json(&cfg, &["alerts", "ack", &fp, "--by", "alice", "--json"]);
    assert_eq!(acked["acked"]["by"], "alice");
    let (code, out, err) = cli(
        &cfg,
        &[
            "alerts",
            "silence",
            "node=el",
            "--author",
            "bob",
            "--comment",
            "el maintenance",
            "--duration",
            "1h",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let silences = json(&cfg, &["alerts", "silence", "--list", "--json"]);
    assert_eq!(silences[0]["id"], id.as_str());
    assert_eq!(silences[0]["state"], "active");
    let muted = json(&cfg, &["alerts", "list", "--json"]);
    assert!(
        muted
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["silenced_by"][0] == id.as_str())
    );
    let (code, _, err) = cli(&cfg, &["alerts", "unsilence", &id]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&cfg, &["alerts", "test", "hook", "--wait", "90s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("delivered to hook: 200"), "{out}");
    let (code, _, err) = cli(&cfg, &["alerts", "test", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no receiver is named \"nope\""), "{err}");

    // Stopped: the same commands open the store.
    let _ = Command::new("kill")
        .args(["-INT", &d.0.id().to_string()])
        .status();
    let mut d = d;
    assert!(d.0.wait().unwrap().success());
    let alerts = json(&cfg, &["alerts", "list", "--json"]);
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["acked"]["by"] == "alice")
    );
    let delivered = json(&cfg, &["outbox", "list", "--delivered", "--json"]);
    assert!(keys(&delivered).is_superset(&queued));
    let history = json(&cfg, &["alerts", "history", &fp, "--json"]);
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"firing") && kinds.contains(&"notified") && kinds.contains(&"acked"),
        "{kinds:?}"
    );
    // A test send without a daemon: this process delivers it.
    let sent = json(&cfg, &["alerts", "test", "hook", "--json"]);
    assert_eq!(sent["state"], "delivered", "{sent}");
    let key = sent["notification"]["idempotency_key"].as_str().unwrap();
    assert!(
        recv.accepted()
            .iter()
            .any(|g| g.headers["idempotency-key"] == key)
    );
}

/// `vigil run` reloads a config that moves every route to another receiver and removes
/// the old one while its notifications are still queued: those are still delivered to
/// it when it comes back, and new ones go to the new receiver.
#[test]
fn daemon_config_reload_moving_routes_mid_flight_drops_nothing() {
    let a = HttpReceiver::start(Mode::Fail);
    let b = HttpReceiver::start(Mode::Ok);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("plugins")).unwrap();
    std::fs::copy(
        plugins::path("node-health"),
        p.join("plugins/node-health.wasm"),
    )
    .unwrap();
    let cfg = p.join("vigil.toml");
    let base = format!(
        "[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[collect]\ninterval = \"1s\"\n\
                [[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9\"\n[[execution]]\nname = \"el\"\nurl = \"http://127.0.0.1:9\"\n{QUIET_MACHINE}"
    );
    let receiver = |name: &str, url: &str| {
        format!(
            "[[receiver]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}/{name}\"\nbackoff_initial = \"100ms\"\nbackoff_max = \"300ms\"\n"
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "{base}[alerting]\nreceiver = \"a\"\ngroup_wait = \"0s\"\ngroup_by = [\"name\", \"node\"]\n{}",
            receiver("a", &a.url)
        ),
    )
    .unwrap();
    let _d = start(&cfg);
    assert!(wait_until(Duration::from_secs(90), || a.got().len() >= 3));
    let queued = keys(&json(&cfg, &["outbox", "list", "--json"]));
    assert_eq!(queued.len(), 2);
    // Move everything to b, a removed; group by node only now (new groups).
    std::fs::write(
        &cfg,
        format!(
            "{base}[alerting]\nreceiver = \"b\"\ngroup_wait = \"0s\"\ngroup_by = [\"node\"]\n{}",
            receiver("b", &b.url)
        ),
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(90), || b.accepted().len() == 2),
        "{:?}",
        b.got().len()
    );
    a.set(Mode::Ok);
    assert!(wait_until(Duration::from_secs(90), || {
        let got: BTreeSet<String> = a
            .accepted()
            .iter()
            .map(|g| g.headers["idempotency-key"].clone())
            .collect();
        got == queued
    }));
    assert!(
        json(&cfg, &["outbox", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        json(&cfg, &["outbox", "list", "--dead", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The whole path on the replayed Lodestar chain (validators 6 and 7 offline from
/// epoch 10): collector → attestations → alert engine → webhook, one notification
/// naming both validators; then the beacon node goes down: `node_unreachable` is
/// notified and the duty alert of that node is inhibited while it stays down.
#[test]
fn replayed_chain_misses_reach_the_webhook_and_node_down_inhibits_them() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let replay = rt
        .block_on(vigil_replay::Replay::start(
            vigil_replay::ReplayOptions::new(vigil_replay::scenario_a())
                .start_at_slot(88)
                .speed(2),
        ))
        .unwrap();
    let recv = HttpReceiver::start(Mode::Ok);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("plugins")).unwrap();
    for plugin in ["node-health", "attestations"] {
        std::fs::copy(
            plugins::path(plugin),
            p.join(format!("plugins/{plugin}.wasm")),
        )
        .unwrap();
    }
    let cfg = p.join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "execution = []\n[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[collect]\ninterval = \"1s\"\n\
             [validators]\nids = [0, 1, 2, 3, 4, 5, 6, 7]\n\
             [[beacon]]\nname = \"replay\"\nurl = \"{}\"\n\
             [alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\ngroup_by = [\"name\", \"node\"]\n\
             [[receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}/hook\"\n",
            replay.beacon_url(),
            recv.url
        ),
    )
    .unwrap();
    let _d = start(&cfg);
    let notified = |name: &str| {
        recv.accepted()
            .into_iter()
            .map(|g| g.json())
            .find(|b| b["status"] == "firing" && b["groupLabels"]["name"] == name)
    };
    assert!(
        wait_until(Duration::from_secs(240), || notified("attestations_missed")
            .is_some()),
        "{:?}",
        recv.accepted().iter().map(|g| g.json()).collect::<Vec<_>>()
    );
    let b = notified("attestations_missed").unwrap();
    let a = &b["alerts"][0];
    assert_eq!(a["labels"]["node"], "replay");
    let vals: Vec<u64> = a["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(vals, [6, 7], "{a}");
    assert_eq!(a["affectedCount"], 2);
    // The beacon node goes down.
    replay.faults().set_down(true);
    assert!(wait_until(Duration::from_secs(90), || notified(
        "node_unreachable"
    )
    .is_some()));
    assert!(wait_until(Duration::from_secs(30), || {
        json(&cfg, &["alerts", "list", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .any(|a| {
                a["name"] == "attestations_missed"
                    && a["state"] == "firing"
                    && !a["inhibited_by"].as_array().unwrap().is_empty()
            })
    }));
    let before = recv.accepted().len();
    std::thread::sleep(Duration::from_secs(3));
    let duty_after: Vec<serde_json::Value> = recv.accepted()[before..]
        .iter()
        .map(|g| g.json())
        .filter(|b| b["groupLabels"]["name"] == "attestations_missed")
        .collect();
    assert!(duty_after.is_empty(), "{duty_after:?}");
    rt.block_on(replay.stop());
}
