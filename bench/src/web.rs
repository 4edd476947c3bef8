//! `vigil bench web`: the dashboard with 10,000 validators, over real HTTP.
//!
//! Set-up: a daemon in a temp folder with a 10k-validator snapshot (a mainnet-like
//! epoch judged with scores, group scores, series and recommendations) and 64 stored
//! epochs of every validator's outcomes; its web server on 127.0.0.1; a logged-in
//! session. Figures:
//! - `overview_render_p95_ms`: `GET /` (first page of the overview, 1,000 rows, plus
//!   the figures over all 10k), p95 of 50, target ≤ 100 ms;
//! - `validator_render_p95_ms`: `GET /validators/{i}` for random validators (64 epochs
//!   read from the store, two charts, duty table), p95 of 50, target ≤ 100 ms;
//! - `sse_update_p95_ms`: from a new slot handed to the daemon to an open page having
//!   received the `update` event and fetched its fresh overview, p95 of 20, target
//!   ≤ 1,000 ms;
//! - `metrics_render_ms`: `GET /metrics` median (aggregates + 1,000 per-validator series).

use anyhow::Context;
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use vigil::contract::{
    CheckStatus, Input, NodeInput, Output, Recommendation, SeriesPoint, Severity, SubjectScore,
    SystemInfo, ValidatorScores, ValidatorSeries,
};
use vigil::evaluate::{Evaluation, PluginResult};

/// Watched validators.
pub(crate) const VALIDATORS: usize = 10_000;
/// Stored epochs per validator.
const EPOCHS: u64 = 64;

fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * 0.95).ceil() as usize)
        .saturating_sub(1)
        .min(v.len() - 1)]
}

/// What the plugins would say about an epoch: scores, group scores, series, advice.
fn findings_for(input: &Input) -> Output {
    let Input::Epoch(e) = input else {
        return Output {
            alerts: vec![],
            scores: vec![],
            subject_scores: vec![],
            recommendations: vec![],
            series: vec![],
            checks: vec![],
            validator_series: vec![],
        };
    };
    let c = &e.validators;
    let score: Vec<f64> = c
        .attested
        .iter()
        .enumerate()
        .map(|(i, a)| if *a == 1 { 95.0 + (i % 5) as f64 } else { 20.0 })
        .collect();
    let validator_series = vec![ValidatorSeries {
        name: "attestation_effectiveness_percent".into(),
        labels: vec![],
        validators: c.index.clone(),
        values: score.clone(),
        timestamp_ms: None,
    }];
    let mut series: Vec<SeriesPoint> = Vec::new();
    for w in ["1d", "7d", "30d", "90d", "all"] {
        series.push(SeriesPoint {
            name: "earnings_gwei".into(),
            labels: vec![("window".into(), w.into())],
            value: 1e9,
            timestamp_ms: None,
        });
    }
    Output {
        alerts: vec![],
        scores: vec![
            ValidatorScores {
                component: "composite".into(),
                window: "1d".into(),
                validators: c.index.clone(),
                values: score.clone(),
            },
            ValidatorScores {
                component: "attestation".into(),
                window: "epoch".into(),
                validators: c.index.clone(),
                values: score,
            },
        ],
        subject_scores: ["lighthouse", "prysm", "teku", "nimbus"]
            .iter()
            .map(|cl| SubjectScore {
                subject: vec![("client".into(), cl.to_string())],
                component: "composite".into(),
                window: "1d".into(),
                value: 97.0,
            })
            .chain(std::iter::once(SubjectScore {
                subject: vec![("network".into(), "average".into())],
                component: "composite".into(),
                window: "1d".into(),
                value: 96.0,
            }))
            .collect(),
        recommendations: vec![Recommendation {
            subject: vec![("node".into(), "bn-1".into())],
            title: "Raise target peers".into(),
            text: "--target-peers 100".into(),
            priority: Severity::Medium,
            action_id: Some("raise_target_peers".into()),
        }],
        series,
        checks: vec![vigil::contract::Check {
            name: "peers".into(),
            subject: vec![],
            status: CheckStatus::Ok,
            text: "ok".into(),
        }],
        validator_series,
    }
}

fn evaluation(input: &Input, now_ms: i64) -> Evaluation {
    Evaluation {
        generation: 1,
        kind: vigil::evaluate::kind_of(input),
        now_ms,
        results: vec![PluginResult {
            plugin: "bench".into(),
            version: "0.1.0".into(),
            outcome: Ok(findings_for(input)),
            duration: Duration::from_millis(1),
        }],
        host_alerts: vec![],
        commit_error: None,
    }
}

fn outcome(v: u64, epoch: u64) -> vigil::model::ValidatorEpoch {
    let missed = (v + epoch) % 97 == 3;
    vigil::model::ValidatorEpoch {
        validator: v,
        epoch,
        status: 2,
        slashed: Some(false),
        balance: Some(32_000_000_000 + epoch as i64 * 13_000 - if missed { 9_000 } else { 0 }),
        effective_balance: Some(32_000_000_000),
        attested: Some(!missed),
        inclusion_delay: (!missed).then_some(1),
        earliest_inclusion_delay: Some(1),
        head_ok: Some(!missed),
        target_ok: Some(!missed),
        source_ok: Some(!missed),
        reward_head: Some(3_400),
        reward_target: Some(6_300),
        reward_source: Some(3_400),
        ..Default::default()
    }
}

/// Run the suite; `add(name, value, unit)` prints each figure.
pub(crate) fn run(add: &mut dyn FnMut(&str, f64, &'static str)) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("vigil-bench-web-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("plugins"))?;
    let result = run_in(&dir, add);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(
    dir: &std::path::Path,
    add: &mut dyn FnMut(&str, f64, &'static str),
) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let hash = vigil::web::auth::hash_password("bench-password")?;
    let cfg_text = format!(
        "[store]\npath = \"vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[web]\nlisten = \"127.0.0.1:{port}\"\n\
         [[web.users]]\nname = \"bench\"\npassword_hash = \"{hash}\"\nrole = \"admin\"\n\
         [web.metrics]\npublic = true\nper_validator = true\nper_validator_cap = 1000\n"
    );
    let file = dir.join("vigil.toml");
    std::fs::write(&file, cfg_text)?;
    let cfg = vigil::config::load(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let daemon = vigil::daemon::Daemon::start(cfg)?;

    // The chain: identity, outcomes, and the latest epoch judged.
    let net = vigil::model::NetworkIdentity {
        genesis_time: 1_700_000_000,
        genesis_validators_root: format!("0x{}", "ab".repeat(32)),
        chain_id: Some(1),
    };
    daemon
        .store()
        .record_identity(&net, &vigil::model::ChainSpec::MAINNET, 1_700_000_000_000)?;
    let last = 100_000u64;
    for epoch in last - EPOCHS + 1..=last {
        let rows: Vec<_> = (0..VALIDATORS as u64).map(|v| outcome(v, epoch)).collect();
        daemon.store().put_outcomes(1, &rows)?;
    }
    let input = crate::workload::epoch_input(VALIDATORS, last);
    let now = vigil::clock::now_ms();
    daemon.findings().observe(&input, &evaluation(&input, now));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let state = vigil::web::WebState::new(std::sync::Arc::new(daemon.web_parts()))?;
        let session = state
            .auth
            .login("127.0.0.1".parse()?, "bench", "bench-password")
            .map_err(|e| anyhow::anyhow!("bench login: {e:?}"))?;
        let app = vigil::web::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let http = vigil::net::http_client()?;
        let base = format!("http://127.0.0.1:{port}");
        let cookie = format!("{}={session}", vigil::web::auth::COOKIE);
        let get = |path: String| {
            let (http, cookie, base) = (http.clone(), cookie.clone(), base.clone());
            async move {
                let t = Instant::now();
                let r = http
                    .get(format!("{base}{path}"))
                    .header("Cookie", cookie)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "GET {path}: {}", r.status());
                let body = r.bytes().await?;
                anyhow::ensure!(!body.is_empty(), "GET {path}: empty");
                anyhow::Ok(t.elapsed().as_secs_f64() * 1000.0)
            }
        };
        get("/".into()).await?;
        let mut t = Vec::new();
        for _ in 0..50 {
            t.push(get("/".into()).await?);
        }
        add("overview_render_p95_ms", p95(t), "ms");
        let mut t = Vec::new();
        let mut x = 12_345u64;
        for _ in 0..50 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            t.push(get(format!("/validators/{}", (x >> 33) % VALIDATORS as u64)).await?);
        }
        add("validator_render_p95_ms", p95(t), "ms");
        let mut t = Vec::new();
        for _ in 0..11 {
            t.push(get("/metrics".into()).await?);
        }
        t.sort_by(f64::total_cmp);
        add("metrics_render_ms", t[t.len() / 2], "ms");

        // New slot → the page has its update.
        let res = http
            .get(format!("{base}/events"))
            .header("Cookie", cookie.clone())
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "GET /events: {}", res.status());
        let mut stream = res.bytes_stream();
        let mut t = Vec::new();
        for slot in 0..20u64 {
            let d = daemon.clone();
            let started = Instant::now();
            tokio::task::spawn_blocking(move || {
                let tick = Input::Node(NodeInput {
                    network: None,
                    timestamp_ms: vigil::clock::now_ms(),
                    wall_slot: Some(3_200_000 + slot),
                    consensus: Vec::new(),
                    execution: Vec::new(),
                    metrics: Vec::new(),
                    system: SystemInfo::unknown(),
                });
                d.evaluate(&tick, vigil::clock::now_ms());
            })
            .await?;
            let mut seen = String::new();
            while !seen.contains("event: update") {
                let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
                    .await
                    .context("no SSE update within 5 s")?
                    .context("the SSE stream ended")??;
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
            let r = http
                .get(format!("{base}/"))
                .header("Cookie", cookie.clone())
                .header("X-Fragment", "1")
                .send()
                .await?;
            r.bytes().await?;
            t.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        add("sse_update_p95_ms", p95(t), "ms");
        anyhow::Ok(())
    })?;
    Ok(())
}
