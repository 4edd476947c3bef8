//! `vigil bench alerts`: the alert engine's figures.
//!
//! - `finding_to_webhook_p50_ms` / `_p99_ms`: host-side latency from a finding handed
//!   to the engine (as the evaluation thread does) to its receipt by a real HTTP
//!   receiver on 127.0.0.1, with `group_wait = 0`: lifecycle, grouping, the durable
//!   outbox commit (fsync) and the HTTP delivery, 300 findings one after another;
//! - `alerts_engine_findings_per_s`: findings of already-known alerts taken in per
//!   second (10k conditions per evaluation, the steady state of a big operator);
//! - `alerts_engine_new_alerts_per_s`: new alerts per second when 10k appear at once
//!   (grouped into one notification, state committed in one transaction).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil::alerts::{Engine, Settings};
use vigil::clock::SystemClock;
use vigil::contract::{AlertCondition, InputKind, Severity};
use vigil::store::Store;

fn condition(name: &str, node: &str, validators: Vec<u64>) -> AlertCondition {
    let affected_count = validators.len() as u64;
    AlertCondition {
        name: name.to_string(),
        severity: Severity::Critical,
        subject: vec![("node".into(), node.into())],
        summary: format!("{name} on {node}"),
        value: None,
        threshold: None,
        validators,
        affected_count,
    }
}

fn engine(dir: &std::path::Path, toml: &str) -> anyhow::Result<Arc<Engine>> {
    let cfg = vigil::config::load_str(&dir.join("vigil.toml"), toml)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = Settings::from_loaded(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = Arc::new(Store::open(&dir.join("bench.redb"))?);
    Ok(Engine::new(settings, store, Arc::new(SystemClock))?)
}

/// A minimal HTTP/1.1 receiver: records when each alert name arrived, answers 200.
async fn receiver(seen: Arc<Mutex<HashMap<String, Instant>>>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let at = Instant::now();
                    let body: serde_json::Value =
                        serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or_default();
                    if let Some(alerts) = body["alerts"].as_array() {
                        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                        for a in alerts {
                            if let Some(n) = a["labels"]["name"].as_str() {
                                seen.entry(n.to_string()).or_insert(at);
                            }
                        }
                    }
                    buf.drain(..end + 4 + len);
                    if sock
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
}

/// A scratch folder, removed when done.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the suite; `add(name, value, unit)` reports a figure.
pub(crate) fn run(add: &mut dyn FnMut(&str, f64, &'static str)) -> anyhow::Result<()> {
    vigil::net::install_tls_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir =
        TempDir(std::env::temp_dir().join(format!("vigil-bench-alerts-{}", std::process::id())));
    std::fs::create_dir_all(dir.path())?;

    // Latency: finding → webhook receipt.
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let url = rt.block_on(receiver(seen.clone()))?;
    let e = engine(
        &dir.path().join("latency"),
        &format!(
            "[alerting]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\n\
             [[receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\nrate_limit_per_minute = 100000\n"
        ),
    )?;
    let delivery = rt.block_on(async {
        anyhow::Ok(vigil::channels::outbox::spawn(
            e.clone(),
            vigil::net::http_client()?,
        ))
    })?;
    let mut lat = Vec::new();
    for i in 0..300 {
        let name = format!("bench_{i}");
        let c = condition(&name, "bn-1", Vec::new());
        let t0 = Instant::now();
        e.observe_conditions(
            InputKind::Node,
            e.now_ms(),
            &["bench".into()],
            [("bench", &c)].into_iter(),
        );
        let deadline = t0 + Duration::from_secs(30);
        loop {
            if let Some(at) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(&name) {
                lat.push(at.duration_since(t0).as_secs_f64() * 1000.0);
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "finding {i} never reached the webhook"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    {
        let _g = rt.enter();
        delivery.stop();
    }
    lat.sort_by(f64::total_cmp);
    let pct =
        |p: f64| lat[(((p / 100.0) * (lat.len() - 1) as f64).round() as usize).min(lat.len() - 1)];
    add("finding_to_webhook_p50_ms", pct(50.0), "ms");
    add("finding_to_webhook_p99_ms", pct(99.0), "ms");

    // Throughput: 10k conditions per evaluation.
    let e = engine(
        &dir.path().join("throughput"),
        "[alerting]\ngroup_wait = \"5s\"\n",
    )?;
    let conds: Vec<AlertCondition> = (0..10_000u64)
        .map(|i| condition("attestations_missed", &format!("bn-{i}"), vec![i]))
        .collect();
    let covered = ["missed-streak".to_string()];
    let t = Instant::now();
    e.observe_conditions(
        InputKind::Epoch,
        e.now_ms(),
        &covered,
        conds.iter().map(|c| ("missed-streak", c)),
    );
    add(
        "alerts_engine_new_alerts_per_s",
        conds.len() as f64 / t.elapsed().as_secs_f64(),
        "alerts/s",
    );
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        e.observe_conditions(
            InputKind::Epoch,
            e.now_ms(),
            &covered,
            conds.iter().map(|c| ("missed-streak", c)),
        );
    }
    add(
        "alerts_engine_findings_per_s",
        (rounds * conds.len()) as f64 / t.elapsed().as_secs_f64(),
        "findings/s",
    );
    Ok(())
}
