//! A real Alertmanager (Debian's `prometheus-alertmanager`, installed by tests/run.sh)
//! between Vigil and a webhook: the alert arrives through it, and resolves.

use crate::support::receiver::{HttpReceiver, Mode};
use crate::support::wait_until;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use vigil::alerts::Engine;
use vigil::clock::SystemClock;
use vigil::contract::InputKind;
use vigil::store::Store;

struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Alertmanager {
    /// Start one routing every alert to `webhook` within a second.
    fn start(webhook: &str) -> Alertmanager {
        let bin = "/usr/bin/prometheus-alertmanager";
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: run tests/run.sh (apt-get install prometheus-alertmanager)"
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "route:\n  receiver: hook\n  group_by: ['alertname']\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n- name: hook\n  webhook_configs:\n  - url: {webhook}/am\n    send_resolved: true\n"
        );
        std::fs::write(dir.path().join("am.yml"), cfg).unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("am.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let am = Alertmanager {
            child,
            url,
            _dir: dir,
        };
        let ready = format!("{}/-/ready", am.url);
        assert!(
            wait_until(Duration::from_secs(30), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && http_get_ok(&ready)
            }),
            "alertmanager did not become ready"
        );
        am
    }
}

/// A tiny blocking GET (status 200?) without another client.
fn http_get_ok(url: &str) -> bool {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

#[test]
fn alert_arrives_through_alertmanager_and_resolves() {
    let hook = HttpReceiver::start(Mode::Ok);
    let am = Alertmanager::start(&hook.url);
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[alerting]\nreceiver = \"am\"\ngroup_wait = \"0s\"\ngroup_interval = \"200ms\"\n\
         [[receiver]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"{}\"\n",
        am.url
    );
    let store = Arc::new(Store::open(&dir.path().join("vigil.redb")).unwrap());
    let engine = Engine::new(
        crate::alerts::settings(dir.path(), &cfg),
        store,
        Arc::new(SystemClock),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _delivery = rt.block_on(async {
        vigil::channels::outbox::spawn(engine.clone(), vigil::net::http_client().unwrap())
    });
    let c = crate::alerts::cond("node_unreachable", "bn-1", &[]);
    engine.observe_conditions(
        InputKind::Node,
        engine.now_ms(),
        &["node-sync".into()],
        [("node-sync", &c)].into_iter(),
    );
    let through = |status: &str| {
        hook.accepted().into_iter().any(|g| {
            let b = g.json();
            g.path == "/am"
                && b["status"] == status
                && b["alerts"][0]["labels"]["alertname"] == "node_unreachable"
                && b["alerts"][0]["labels"]["node"] == "bn-1"
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), || through("firing")),
        "{:?}",
        hook.got()
    );
    assert!(
        engine.delivery_log().unwrap()[0].attempts[0]
            .outcome
            .starts_with("200")
    );
    engine.observe_conditions(
        InputKind::Node,
        engine.now_ms(),
        &["node-sync".into()],
        std::iter::empty(),
    );
    assert!(
        wait_until(Duration::from_secs(30), || through("resolved")),
        "{:?}",
        hook.got()
    );
    let b = hook.accepted().last().unwrap().json();
    assert_ne!(b["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
}
