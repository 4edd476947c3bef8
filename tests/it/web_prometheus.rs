//! Prometheus (Debian's `prometheus`, installed by tests/run.sh) scrapes Vigil's
//! `/metrics` with a bearer token and receives Vigil's remote write; the test finds both
//! through Prometheus's query API. Prometheus listens on 127.0.0.1 only, keeps its data
//! in a temp folder and is killed when the test ends.

use crate::support::web::{Server, free_port, web_section};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil::findings::{Snapshot, ValidatorView};

const TOKEN: &str = "prom-scrape-token-0123456789";

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn query(http: &reqwest::Client, base: &str, q: &str) -> Vec<Value> {
    let r = http
        .get(format!(
            "{base}/api/v1/query?query={}",
            vigil::web::urlencode(q)
        ))
        .send()
        .await;
    match r {
        Ok(r) => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_metrics_and_receives_remote_write() {
    unsafe {
        std::env::set_var("VIGIL_PROM_IT_TOKEN", TOKEN);
        std::env::set_var("VIGIL_PROM_IT_VIEW", "prom-viewer-token-0123456789");
    }
    let prom_port = free_port();
    let config = format!(
        "[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9\"\n{}\
         [web.metrics]\nper_validator = true\nper_validator_cap = 2\n\
         [web.remote_write]\nurl = \"http://127.0.0.1:{prom_port}/api/v1/write\"\ninterval = \"1s\"\n",
        web_section(0, "VIGIL_PROM_IT_TOKEN", "VIGIL_PROM_IT_VIEW")
    )
    .replace("127.0.0.1:0\"", "127.0.0.1:{port}\"");
    let s = Server::start(&config).await;
    let mut snap = Snapshot::default();
    for i in 0..3u64 {
        snap.validators.insert(
            i,
            ValidatorView {
                index: i,
                status: "active_ongoing".into(),
                attested: Some(true),
                balance_gwei: Some(32_000_000_000 + i as i64),
                ..ValidatorView::default()
            },
        );
    }
    s.daemon.findings().replace(snap);
    let rw_url = s
        .daemon
        .config()
        .config
        .web
        .remote_write
        .clone()
        .unwrap()
        .url;
    tokio::spawn(vigil::web::remote_write::run(
        std::sync::Arc::new(s.daemon.web_parts()),
        rw_url,
    ));

    let vigil_addr = s.url.trim_start_matches("http://").to_string();
    let dir = s.path().join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: vigil-scrape\n    authorization:\n      credentials: {TOKEN}\n    static_configs:\n      - targets: ['{vigil_addr}']\n",
            crate::support::root()
                .join("config/prometheus/vigil-rules.yml")
                .display()
        ),
    )
    .unwrap();
    let _prom = Prometheus(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus not found: tests/run.sh installs it"),
    );
    vigil::net::install_tls_provider();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{prom_port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut scraped, mut pushed) = (Vec::new(), Vec::new());
    while Instant::now() < deadline && (scraped.is_empty() || pushed.is_empty()) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        scraped = query(
            &http,
            &base,
            "vigil_validators{job=\"vigil-scrape\",status=\"active_ongoing\"}",
        )
        .await;
        pushed = query(
            &http,
            &base,
            "vigil_validators{job=\"vigil\",status=\"active_ongoing\"}",
        )
        .await;
    }
    assert_eq!(scraped.len(), 1, "scraped series: {scraped:?}");
    assert_eq!(scraped[0]["value"][1], "3");
    assert_eq!(pushed.len(), 1, "remote-written series: {pushed:?}");
    assert_eq!(pushed[0]["value"][1], "3");
    assert_eq!(pushed[0]["metric"]["instance"], vigil_addr.as_str());
    // Per-validator series, capped at 2 of 3.
    let per = query(
        &http,
        &base,
        "vigil_validator_balance_gwei{job=\"vigil-scrape\"}",
    )
    .await;
    assert_eq!(per.len(), 2, "{per:?}");
    let dropped = query(
        &http,
        &base,
        "vigil_validator_series_dropped{job=\"vigil\"}",
    )
    .await;
    assert_eq!(
        dropped.first().map(|d| d["value"][1].clone()),
        Some(Value::from("1"))
    );
}

/// The shipped alert rules and Grafana dashboard use only series Vigil exports, and
/// Prometheus accepts every rule and every dashboard query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_rules_and_dashboard_use_vigils_series() {
    let root = crate::support::root();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(root.join("config/prometheus/vigil-rules.yml"))
        .output()
        .expect("promtool (Debian prometheus package)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Vigil's own families, and the plugins' aggregate series of the contract.
    let mut known: Vec<String> = vigil::web::metrics::HELP
        .iter()
        .map(|(n, _, _)| n.to_string())
        .collect();
    for n in [
        "earnings_gwei",
        "apr_percent",
        "projected_earnings_gwei",
        "network_apr_percent",
        "network_participation_ratio",
    ] {
        known.push(format!("vigil_{n}"));
    }
    let rules = std::fs::read_to_string(root.join("config/prometheus/vigil-rules.yml")).unwrap();
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("config/grafana/vigil-dashboard.json")).unwrap(),
    )
    .unwrap();
    let exprs: Vec<String> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 10);
    for text in exprs
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(rules.as_str()))
    {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("vigil_") {
                assert!(
                    known.iter().any(|k| k == word),
                    "{word} is not a series Vigil exports"
                );
            }
        }
    }
    // Prometheus parses every dashboard query (with the variables filled in).
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
    let _prom = Prometheus(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("p.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    vigil::net::install_tls_provider();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        crate::support::wait_until(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "prometheus did not start"
    );
    for e in exprs {
        let q = e.replace("$instance", ".*");
        let mut status = Value::Null;
        for _ in 0..50 {
            if let Ok(r) = http
                .get(format!(
                    "{base}/api/v1/query?query={}",
                    vigil::web::urlencode(&q)
                ))
                .send()
                .await
                && let Ok(v) = r.json::<Value>().await
            {
                status = v;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(status["status"], "success", "{q}: {status}");
    }
}
