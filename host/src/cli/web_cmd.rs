//! `vigil web hash-password`, `vigil summary` and `vigil report`.
//!
//! ## Reading while the daemon runs
//! redb lets one process open the store. So `summary` and `report` first ask the
//! running daemon's API (`[web] listen`, on 127.0.0.1 when it listens on all
//! addresses) with a bearer token: `$VIGIL_API_TOKEN`, else the first `[[web.tokens]]`
//! entry of the same config (its env var or file, as the daemon reads it). When no
//! daemon answers (connection refused), they open the store and the dashboard snapshot
//! themselves. A daemon that holds the store but whose API cannot be reached is an
//! error naming both ways out.

use crate::config::{self, LoadedConfig};
use crate::report::{Format, Period};
use crate::term;
use anyhow::Context;
use serde_json::Value;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

/// Read a password (from `$VIGIL_PASSWORD`, else one line of stdin) and print its
/// argon2id hash for `[[web.users]] password_hash`.
pub(super) fn hash_password() -> anyhow::Result<ExitCode> {
    let password = match std::env::var("VIGIL_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprint!("password (input is visible; or set VIGIL_PASSWORD): ");
                let _ = std::io::stderr().flush();
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from stdin")?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    if password.chars().count() < 8 {
        anyhow::bail!("the password is shorter than 8 characters: choose a longer one");
    }
    let hash = crate::web::auth::hash_password(&password)?;
    println!("{hash}");
    eprintln!(
        "add to the config:\n[[web.users]]\nname = \"admin\"\npassword_hash = \"{hash}\"\nrole = \"admin\"   # or \"viewer\""
    );
    Ok(ExitCode::SUCCESS)
}

/// The daemon's API base URL for this config.
pub(super) fn api_base(cfg: &LoadedConfig) -> String {
    let mut addr = cfg.web.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if cfg.web.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}")
}

/// The token the CLI uses: `$VIGIL_API_TOKEN`, else the config's first token.
fn token(cfg: &LoadedConfig) -> Option<String> {
    if let Ok(t) = std::env::var("VIGIL_API_TOKEN") {
        return Some(t);
    }
    let t = cfg.config.web.tokens.first()?;
    match (&t.env, cfg.web.token_files.first().cloned().flatten()) {
        (Some(var), _) => std::env::var(var).ok(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .ok()
            .and_then(|s| s.lines().next().map(|l| l.trim().to_string())),
        _ => None,
    }
}

/// Where the data came from.
enum Got {
    /// The daemon's answer (body text).
    Daemon(String),
    /// No daemon: the caller reads the store itself.
    NoDaemon,
}

fn ask_daemon(cfg: &LoadedConfig, path: &str) -> anyhow::Result<Got> {
    if !cfg.config.web.enabled {
        return Ok(Got::NoDaemon);
    }
    let base = api_base(cfg);
    let url = format!("{base}{path}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let token = token(cfg);
    rt.block_on(async {
        let http = crate::net::http_client()?;
        let mut req = http.get(&url).timeout(std::time::Duration::from_secs(30));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        } else if let Some(cookie) = first_start_login(&base, cfg).await {
            req = req.header("Cookie", cookie);
        }
        match req.send().await {
            Ok(res) if res.status().is_success() => Ok(Got::Daemon(res.text().await?)),
            Ok(res) if res.status() == reqwest::StatusCode::UNAUTHORIZED => anyhow::bail!(
                "the daemon at {base} wants a token: set VIGIL_API_TOKEN, or add a [[web.tokens]] entry (env or file) to {}",
                cfg.file.display()
            ),
            Ok(res) => {
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                anyhow::bail!("the daemon at {base} answered {status}: {body}")
            }
            Err(e) if e.is_connect() => Ok(Got::NoDaemon),
            Err(e) => anyhow::bail!("cannot ask the daemon at {base}: {e}"),
        }
    })
}

/// Without a token, on a first start (no `[[web.users]]`): log in as the first-start
/// admin with the password file beside the store (readable only by its owner).
async fn first_start_login(base: &str, cfg: &LoadedConfig) -> Option<String> {
    if !cfg.config.web.users.is_empty() {
        return None;
    }
    let password = std::fs::read_to_string(crate::web::initial_password_file(cfg)).ok()?;
    let body = format!(
        "user=admin&password={}",
        crate::web::urlencode(password.trim())
    );
    // The cookie comes with the login's redirect: do not follow it.
    crate::net::install_tls_provider();
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?;
    let res = no_redirect
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .ok()?;
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(crate::web::auth::COOKIE))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

/// Open the store and the snapshot when no daemon runs.
fn offline(
    cfg: &LoadedConfig,
) -> anyhow::Result<(
    std::sync::Arc<crate::store::Store>,
    crate::findings::Findings,
)> {
    let store = crate::store::Store::open(&cfg.store_path).map_err(|e| {
        anyhow::anyhow!(
            "no daemon answers at {} and the store cannot be opened ({e}): if vigil run is running, check [web] listen and enabled",
            api_base(cfg)
        )
    })?;
    let findings =
        crate::findings::Findings::open(cfg.store_path.parent().unwrap_or(Path::new(".")));
    Ok((std::sync::Arc::new(store), findings))
}

fn load(config_path: &Path) -> anyhow::Result<LoadedConfig> {
    config::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `vigil summary`.
pub(super) fn summary(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = load(config_path)?;
    let v: Value = match ask_daemon(&cfg, "/api/v1/summary")? {
        Got::Daemon(body) => {
            serde_json::from_str(&body).context("the daemon's summary is not JSON")?
        }
        Got::NoDaemon => {
            let (store, findings) = offline(&cfg)?;
            let alerts = crate::web::pages::alerts::rows_from_store(&cfg, store.clone());
            crate::web::api::summary_value(&findings.read(), &alerts)
        }
    };
    if json {
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", summary_text(&v));
    Ok(ExitCode::SUCCESS)
}

fn num(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.1} %"))
}

/// The colour table of `vigil summary`.
pub(super) fn summary_text(v: &Value) -> String {
    let mut o = String::new();
    let f = &v["figures"];
    o.push_str(&format!(
        "{} {} · slot {} · epoch {}\n",
        term::bold("Vigil"),
        v["network"]["name"].as_str().unwrap_or("–"),
        v["slot"].as_u64().map_or("–".into(), |x| x.to_string()),
        v["epoch"].as_u64().map_or("–".into(), |x| x.to_string()),
    ));
    o.push_str(&format!(
        "validators {} · attesting {}/{} · effectiveness {} · score {} · income today {:.5} ETH · APR 7d {} · alerts {}\n\n",
        f["validators"], f["attesting"], f["active"],
        pct(num(f, "effectiveness_mean_percent")),
        pct(num(f, "composite_mean_percent")),
        num(f, "income_1d_gwei").unwrap_or(0.0) / 1e9,
        pct(num(f, "apr_7d_percent")),
        v["alerts"].as_array().map_or(0, Vec::len),
    ));
    if let Some(nodes) = v["nodes"].as_array().filter(|n| !n.is_empty()) {
        let rows: Vec<Vec<String>> = nodes
            .iter()
            .map(|n| {
                let up = n["reachable"].as_bool().unwrap_or(false);
                vec![
                    n["name"].as_str().unwrap_or("").to_string(),
                    n["layer"].as_str().unwrap_or("").to_string(),
                    if up {
                        term::green("up")
                    } else {
                        term::red("down")
                    },
                    n["client"].as_str().unwrap_or("?").to_string(),
                    n["peers"].as_u64().map_or("–".into(), |p| p.to_string()),
                ]
            })
            .collect();
        o.push_str(&term::table(
            &["NODE", "LAYER", "STATE", "CLIENT", "PEERS"],
            &rows,
        ));
        o.push('\n');
    }
    let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = v["validators"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|x| {
                    let idx = x["index"].as_u64().unwrap_or(0);
                    let state = x["state_text"].as_str().unwrap_or("").to_string();
                    let state = match x["state"].as_str() {
                        Some("ok") => term::green(&state),
                        Some("bad") => term::red(&state),
                        Some("warn") => term::yellow(&state),
                        _ => term::dim(&state),
                    };
                    let n_alerts = alerts
                        .iter()
                        .filter(|a| {
                            a["validators"]
                                .as_array()
                                .is_some_and(|l| l.iter().any(|i| i.as_u64() == Some(idx)))
                        })
                        .count();
                    vec![
                        idx.to_string(),
                        state,
                        x["status"].as_str().unwrap_or("").to_string(),
                        x["balance_gwei"]
                            .as_f64()
                            .map_or("–".into(), |b| format!("{:.5}", b / 1e9)),
                        pct(num(x, "effectiveness_percent")),
                        pct(num(x, "composite_score_1d_percent")),
                        x["income_1d_gwei"]
                            .as_i64()
                            .map_or("–".into(), |g| format!("{g:+}")),
                        if n_alerts > 0 {
                            term::red(&n_alerts.to_string())
                        } else {
                            "0".into()
                        },
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    o.push_str(&term::table(
        &[
            "VALIDATOR",
            "STATE",
            "STATUS",
            "BALANCE ETH",
            "EFFECTIVENESS",
            "SCORE 1D",
            "INCOME TODAY GWEI",
            "ALERTS",
        ],
        &rows,
    ));
    if rows.is_empty() {
        o.push_str(&term::dim(
            "no validator evaluated yet (the first epoch has not completed)\n",
        ));
    }
    o
}

/// `vigil report`.
pub(super) fn report(
    config_path: &Path,
    period: &str,
    format: &str,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let cfg = load(config_path)?;
    let p = Period::parse(period).map_err(|e| anyhow::anyhow!(e))?;
    let f = Format::parse(format).map_err(|e| anyhow::anyhow!(e))?;
    let text = match ask_daemon(
        &cfg,
        &format!("/api/v1/reports?period={period}&format={format}"),
    )? {
        Got::Daemon(body) => body,
        Got::NoDaemon => {
            let (store, findings) = offline(&cfg)?;
            let alerts = crate::web::pages::alerts::rows_from_store(&cfg, store.clone());
            let r =
                crate::report::build(&store, &findings.read(), &alerts, p, crate::clock::now_ms());
            crate::report::render(&r, f)
        }
    };
    match out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("report written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
