//! The dashboard end to end: the real `vigil` binary watching the replayed Lodestar
//! chain (validators 6 and 7 go offline at slot 80), with the shipped plugins and the
//! findings fixture plugin, driven by headless Chromium: login, the populated overview
//! (updated live over SSE), validator 6's falling balance, a silence created from the
//! UI, an invalid config edit refused, a viewer refused an admin action. Then: a secret
//! planted in the config appears in no page, API answer, report or log line; `vigil
//! summary` and `vigil report` read through the daemon's API; and after a restart
//! with the chain gone, the dashboard shows the findings at once.
//! Screenshots go to target/test-artifacts/.

use crate::support::browser::Browser;
use crate::support::plugins;
use crate::support::web::{ADMIN_PASSWORD, Client, VIEWER_PASSWORD, free_port, web_section};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_replay::{Replay, ReplayOptions, scenario_a};

const TOKEN: &str = "e2e-admin-token-5d1c0ffee5d1c0ffee";
const VIEW_TOKEN: &str = "e2e-viewer-token-77aa77aa77aa77aa";
/// Planted in a receiver's webhook URL (its path is the credential).
const SECRET: &str = "PLANTED-SECRET-9f8e7d6c";

fn artifacts() -> PathBuf {
    crate::support::root().join("target/test-artifacts")
}

/// A `vigil run` child; killed if the test fails before stopping it.
struct Vigil {
    child: Child,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Vigil {
    fn start(config: &Path) -> Vigil {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["run", "--config"])
            .arg(config)
            .env("VIGIL_E2E_TOKEN", TOKEN)
            .env("VIGIL_E2E_VIEW", VIEW_TOKEN)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let l = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Vigil {
            child,
            log,
            reader: Some(reader),
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.log()
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn wait_json(
    c: &Client,
    path: &str,
    timeout: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Ok(r) = c.req("get", path).send().await
            && r.status().is_success()
            && let Ok(v) = r.json::<Value>().await
        {
            if ok(&v) {
                return v;
            }
            last = v;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{path} never became ready; last answer: {last}");
}

/// Balance of validator `v` in a summary.
fn validator(summary: &Value, v: u64) -> Option<&Value> {
    summary["validators"]
        .as_array()?
        .iter()
        .find(|x| x["index"].as_u64() == Some(v))
}

fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("VIGIL_API_TOKEN", VIEW_TOKEN)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_on_the_replayed_chain_in_chromium() {
    // Plugins first (built on first use, which takes a while), then the chain.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("plugins")).unwrap();
    for name in ["attestations", "node-health", "findings"] {
        std::fs::copy(plugins::path(name), p.join(format!("plugins/{name}.wasm"))).unwrap();
    }
    let replay = Replay::start(ReplayOptions::new(scenario_a()).start_at_slot(70).speed(2))
        .await
        .unwrap();
    let port = free_port();
    let config = format!(
        "# e2e dashboard test\nexecution = []\n[network]\nname = \"devnet\"\n[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n\
         [collect]\ninterval = \"1s\"\n[[beacon]]\nname = \"replay\"\nurl = \"{}\"\n\
         [validators]\nids = [0, 1, 2, 3, 4, 5, 6, 7]\n\
         [[receiver]]\nname = \"chat\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hooks/{SECRET}\"\n{}",
        replay.beacon_url(),
        web_section(port, "VIGIL_E2E_TOKEN", "VIGIL_E2E_VIEW")
    );
    let cfg_file = p.join("vigil.toml");
    std::fs::write(&cfg_file, &config).unwrap();
    let vigil = Vigil::start(&cfg_file);
    let base = format!("http://127.0.0.1:{port}");
    let api = Client::with_token(&base, TOKEN);

    // The overview fills from the replayed chain: epochs through the outage, scores
    // from the findings plugin.
    let summary = wait_json(&api, "/api/v1/summary", Duration::from_secs(240), |v| {
        v["epoch"].as_u64().is_some_and(|e| e >= 13)
            && validator(v, 6).is_some_and(|x| x["composite_score_1d_percent"].is_number())
    })
    .await;
    // Validator 6's stored history covers the outage's start.
    wait_json(
        &api,
        "/api/v1/validators/6",
        Duration::from_secs(120),
        |v| {
            v["history"].as_array().is_some_and(|h| {
                h.iter().filter(|r| r["balance"].is_number()).count() >= 4
                    && h.iter()
                        .any(|r| r["epoch"].as_u64() == Some(9) && r["balance"].is_number())
            })
        },
    )
    .await;
    assert!(
        vigil
            .log()
            .contains(&format!("dashboard: http://127.0.0.1:{port}/")),
        "{}",
        vigil.log()
    );
    let v6 = validator(&summary, 6).unwrap();
    assert_eq!(v6["attested"], false, "validator 6 is offline: {v6}");
    assert_eq!(validator(&summary, 0).unwrap()["attested"], true);

    let b = Browser::start().await;
    // Login.
    b.goto(&format!("{base}/")).await;
    assert!(
        b.url().await.contains("/login?next="),
        "unauthenticated → login"
    );
    b.type_into("input[name=user]", "ann").await;
    b.type_into("input[name=password]", ADMIN_PASSWORD).await;
    b.click("button[type=submit]").await;
    assert!(
        b.wait_for(
            "return document.querySelectorAll('#validators tr[data-validator]').length === 8",
            Duration::from_secs(10)
        )
        .await,
        "{}",
        b.text().await
    );
    let text = b.text().await;
    assert!(
        text.contains("missed attestation"),
        "validator 6/7 shown as problems: {text}"
    );
    assert!(text.contains("replay"), "the node is listed");
    // Live: the page updates itself over SSE when the next slot is evaluated.
    assert!(
        b.wait_for(
            "return !!document.body.dataset.updated",
            Duration::from_secs(20)
        )
        .await,
        "no live update within 20 s"
    );
    b.screenshot(&artifacts().join("dashboard-overview.png"))
        .await;

    // Validator 6: the balance chart falls.
    b.goto(&format!("{base}/validators/6")).await;
    let ys = b
        .script(
            "var p=document.querySelector('#balance-chart path.line'); if(!p) return null; \
             return p.getAttribute('d').split(/[ML]/).filter(Boolean).map(function(s){return parseFloat(s.split(',')[1])});",
        )
        .await;
    let page = b.text().await;
    let ys: Vec<f64> = ys
        .as_array()
        .unwrap_or_else(|| panic!("no balance line: {page}"))
        .iter()
        .map(|y| y.as_f64().unwrap())
        .collect();
    assert!(ys.len() >= 3, "{ys:?}");
    // It rose until the outage (epoch 10), then fell: after its highest point (the
    // smallest SVG y, y grows downwards) the line ends well lower.
    let (peak, top) = ys.iter().enumerate().fold(
        (0, f64::MAX),
        |a, (i, y)| if *y < a.1 { (i, *y) } else { a },
    );
    assert!(
        peak + 2 < ys.len() && ys.last().unwrap() - top > 40.0,
        "validator 6's balance falls after going offline: {ys:?}"
    );
    let text = b.text().await;
    assert!(
        text.contains("Validator 6 is not attesting"),
        "recommendation shown: {text}"
    );
    b.screenshot(&artifacts().join("dashboard-validator-6.png"))
        .await;

    // A silence from the UI.
    b.goto(&format!("{base}/alerts")).await;
    b.type_into(
        "#silence-form input[name=matchers]",
        "alertname=attestations_missed, validator=6",
    )
    .await;
    b.type_into(
        "#silence-form input[name=comment]",
        "maintenance of client B",
    )
    .await;
    b.click("#create-silence").await;
    assert!(
        b.wait_for("return !!document.querySelector('#silences') && document.querySelector('#silences').innerText.indexOf('maintenance of client B') >= 0", Duration::from_secs(10)).await,
        "{}",
        b.text().await
    );
    b.screenshot(&artifacts().join("dashboard-silence.png"))
        .await;
    let silences = api.get("/api/v1/silences").await.1;
    assert!(
        silences.contains("validator=6") && silences.contains("\"author\":\"ann\""),
        "{silences}"
    );

    // An invalid config edit is refused with key and reason; nothing changes.
    let before = std::fs::read_to_string(&cfg_file).unwrap();
    b.goto(&format!("{base}/config")).await;
    b.script("var t=document.querySelector('textarea[name=text]'); t.value=t.value.replace('[collect]\\n','[collect]\\ninterval = \"0s\"\\n'); return true;").await;
    b.script("var t=document.querySelector('textarea[name=text]'); t.value=t.value.replace(/interval = \"1s\"\\n/,''); return true;").await;
    b.click("#apply").await;
    assert!(
        b.wait_for(
            "return document.body.innerText.indexOf('key collect.interval') >= 0",
            Duration::from_secs(10)
        )
        .await,
        "{}",
        b.text().await
    );
    assert!(b.text().await.contains("refused, nothing changed"));
    b.screenshot(&artifacts().join("dashboard-config-refused.png"))
        .await;
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), before);

    // A viewer is refused an admin action.
    b.delete_cookies().await;
    b.goto(&format!("{base}/login")).await;
    b.type_into("input[name=user]", "vic").await;
    b.type_into("input[name=password]", VIEWER_PASSWORD).await;
    b.click("button[type=submit]").await;
    b.goto(&format!("{base}/plugins")).await;
    assert_eq!(
        b.script("return !!document.querySelector('#reload')").await,
        false,
        "no reload button for viewers"
    );
    // Post the admin form anyway (with the viewer's own CSRF token).
    b.script(
        "var f=document.createElement('form'); f.method='post'; f.action='/plugins/reload'; \
         var c=document.querySelector('input[name=csrf]').cloneNode(); f.appendChild(c); document.body.appendChild(f); f.submit(); return true;",
    )
    .await;
    assert!(
        b.wait_for(
            "return document.body.innerText.indexOf('viewer role and cannot change anything') >= 0",
            Duration::from_secs(10)
        )
        .await,
        "{}",
        b.text().await
    );
    b.screenshot(&artifacts().join("dashboard-viewer-refused.png"))
        .await;
    b.quit().await;

    // Analytics: the distribution and the comparison by client against the network.
    let (code, analytics) = api.get("/analytics").await;
    assert_eq!(code, 200);
    assert!(
        analytics.contains("Distribution of composite scores (1d)"),
        "{analytics}"
    );
    assert!(
        analytics.contains("composite score (1d) by client")
            && analytics.contains("network average")
    );
    // Acknowledge the duty alert through the API; the alert list says who.
    let alerts: Value = serde_json::from_str(&api.get("/api/v1/alerts").await.1).unwrap();
    let fp = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "attestations_missed" && a["state"] == "firing")
        .unwrap_or_else(|| panic!("no firing attestations_missed: {alerts}"))["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .req("post", &format!("/api/v1/alerts/{fp}/ack"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let alerts = api.get("/api/v1/alerts").await.1;
    assert!(alerts.contains("\"acked_by\":\"token:ops\""), "{alerts}");

    // The CLI reads through the daemon's API while it runs.
    let (code, out, err) = cli(&cfg_file, &["summary"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("VALIDATOR") && out.contains("missed attestation"),
        "{out}"
    );
    let (code, out, err) = cli(
        &cfg_file,
        &["report", "--period", "daily", "--format", "csv"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 9, "header + 8 validators: {out}");
    let (code, html_report, err) = cli(
        &cfg_file,
        &["report", "--period", "weekly", "--format", "html"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(html_report.contains("<svg"), "the report has the charts");

    // The planted secret: in no page, API answer, report or log line.
    let ann = {
        let mut c = Client::new(&base);
        c.login("ann", ADMIN_PASSWORD).await;
        c
    };
    let mut seen = String::new();
    for path in [
        "/",
        "/validators/6",
        "/analytics",
        "/alerts",
        "/plugins",
        "/config",
        "/metrics",
    ] {
        seen.push_str(&ann.get(path).await.1);
    }
    for (path, methods) in vigil::web::api::PATHS {
        if methods.contains(&"get") && !path.contains('{') {
            seen.push_str(&api.get(path).await.1);
        }
    }
    seen.push_str(&api.get("/api/v1/validators/6").await.1);
    for f in ["json", "csv", "md", "html"] {
        seen.push_str(
            &api.get(&format!("/api/v1/reports?period=monthly&format={f}"))
                .await
                .1,
        );
    }
    seen.push_str(&html_report);
    assert!(
        seen.contains("hooks/&lt;redacted&gt;") || seen.contains("<redacted>"),
        "the receiver URL is shown redacted"
    );
    assert!(
        !seen.contains(SECRET),
        "the planted secret leaked into a page or API answer"
    );
    assert!(
        !seen.contains(TOKEN) && !seen.contains(VIEW_TOKEN),
        "a token leaked"
    );

    // Restart with the chain gone: the findings are there at once.
    replay.stop().await;
    let log = vigil.stop();
    assert!(
        !log.contains(SECRET) && !log.contains(TOKEN),
        "secret in the log:\n{log}"
    );
    // With the chain stopped, only the persisted snapshot can supply the scores.
    let vigil = Vigil::start(&cfg_file);
    let after = wait_json(&api, "/api/v1/summary", Duration::from_secs(30), |v| {
        v["validators"].as_array().is_some_and(|a| a.len() == 8)
    })
    .await;
    assert!(
        validator(&after, 6).unwrap()["composite_score_1d_percent"].is_number(),
        "{after}"
    );
    let metrics = api.get("/metrics").await.1;
    assert!(
        metrics.contains("vigil_validators{status=\"active_ongoing\"} 8"),
        "{metrics}"
    );
    let log = vigil.stop();
    assert!(!log.contains(SECRET), "secret in the log:\n{log}");
    // No daemon: the CLI opens the store and the snapshot itself.
    let (code, out, err) = cli(
        &cfg_file,
        &["report", "--period", "daily", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["validators"].as_array().map(Vec::len),
        Some(8),
        "{report}"
    );
    assert!(report["validators"][6]["attestations_missed"].as_u64() > Some(0));
    assert!(!out.contains(SECRET));
}
