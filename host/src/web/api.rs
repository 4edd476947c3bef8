//! `/api/v1`: the dashboard's data as JSON, described in `host/openapi.yaml`.
//!
//! Reads need any role; changes (ack, silence, expire, plugin reload, config) need
//! admin. With a bearer token no CSRF token is needed (no cookie is involved); with a
//! session the `X-CSRF-Token` header must carry the session's token.

use super::Shared;
use super::auth::Principal;
use super::pages::{alerts, plugins, validator};
use axum::Json;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

/// API routes; the OpenAPI file lists exactly these (checked by a test).
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1", get(index))
        .route("/api/v1/summary", get(summary))
        .route("/api/v1/validators", get(validators))
        .route("/api/v1/validators/{index}", get(one_validator))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{fingerprint}/ack", post(ack))
        .route("/api/v1/silences", get(list_silences).post(add_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .route("/api/v1/scores", get(scores))
        .route("/api/v1/earnings", get(earnings))
        .route("/api/v1/plugins", get(list_plugins))
        .route("/api/v1/plugins/reload", post(reload_plugins))
        .route("/api/v1/config", get(config).put(put_config))
        .route("/api/v1/reports", get(report))
}

/// Every API path with its methods, in the order of [`routes`].
pub const PATHS: &[(&str, &[&str])] = &[
    ("/api/v1", &["get"]),
    ("/api/v1/summary", &["get"]),
    ("/api/v1/validators", &["get"]),
    ("/api/v1/validators/{index}", &["get"]),
    ("/api/v1/alerts", &["get"]),
    ("/api/v1/alerts/{fingerprint}/ack", &["post"]),
    ("/api/v1/silences", &["get", "post"]),
    ("/api/v1/silences/{id}", &["delete"]),
    ("/api/v1/scores", &["get"]),
    ("/api/v1/earnings", &["get"]),
    ("/api/v1/plugins", &["get"]),
    ("/api/v1/plugins/reload", &["post"]),
    ("/api/v1/config", &["get", "put"]),
    ("/api/v1/reports", &["get"]),
];

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn index() -> Json<Value> {
    Json(json!({
        "openapi": "host/openapi.yaml in the Vigil repository",
        "paths": PATHS.iter().map(|(p, m)| json!({"path": p, "methods": m})).collect::<Vec<_>>(),
    }))
}

/// The overview's figures and one row per validator.
pub fn summary_json(st: &Shared) -> Value {
    let alerts = alerts::rows(&st.parts);
    let s = st.parts.findings().read();
    summary_value(&s, &alerts)
}

/// `GET /api/v1/summary`'s body (also built by `vigil summary` without a parts).
pub fn summary_value(s: &crate::findings::Snapshot, alerts: &[alerts::AlertRow]) -> Value {
    let f = super::pages::overview::figures(s);
    json!({
        "network": s.network,
        "slot": s.slot,
        "epoch": s.epoch,
        "updated_ms": s.updated_ms,
        "figures": f,
        "nodes": s.nodes,
        "alerts": alerts,
        "validators": validator_rows(s),
    })
}

fn validator_rows(s: &crate::findings::Snapshot) -> Vec<Value> {
    s.validators
        .values()
        .map(|v| {
            json!({
                "index": v.index,
                "epoch": v.epoch,
                "state": v.health().0,
                "state_text": v.health().1,
                "status": v.status,
                "balance_gwei": v.balance_gwei,
                "effective_balance_gwei": v.effective_balance_gwei,
                "attested": v.attested,
                "effectiveness_percent": s.effectiveness(v.index),
                "composite_score_1d_percent": s.score("composite", "1d", v.index),
                "income_1d_gwei": v.income_1d_gwei(),
                "labels": v.labels,
            })
        })
        .collect()
}

async fn summary(State(st): State<Shared>) -> Json<Value> {
    Json(summary_json(&st))
}

async fn validators(State(st): State<Shared>) -> Json<Value> {
    let s = st.parts.findings().read();
    Json(json!({ "epoch": s.epoch, "validators": validator_rows(&s) }))
}

async fn one_validator(State(st): State<Shared>, Path(index): Path<String>) -> Response {
    let Ok(index) = index.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "index must be a number");
    };
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || {
        let alerts = alerts::rows(&st2.parts);
        let s = st2.parts.findings().read();
        let v = s.validators.get(&index)?;
        let d = validator::load(st2.parts.store(), &s, index);
        let mut scores = serde_json::Map::new();
        for f in s.plugins.values() {
            for (k, m) in &f.scores {
                if let Some(x) = m.get(&index) {
                    scores.insert(k.clone(), json!(x));
                }
            }
        }
        Some(json!({
            "validator": v,
            "income_1d_gwei": v.income_1d_gwei(),
            "effectiveness_percent": s.effectiveness(index),
            "scores": scores,
            "history": d.history,
            "alerts": alerts.iter().filter(|a| a.concerns_validator(index, v.labels.get("node").map(String::as_str))).collect::<Vec<_>>(),
        }))
    })
    .await
    .ok()
    .flatten();
    match r {
        Some(v) => Json(v).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("validator {index} is not watched or has no evaluated epoch yet"),
        ),
    }
}

async fn list_alerts(State(st): State<Shared>) -> Json<Value> {
    Json(json!({ "alerts": alerts::rows(&st.parts) }))
}

fn action(r: Result<Value, alerts::ActionError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(e.status, e.message),
    }
}

async fn ack(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(fp): Path<String>,
) -> Response {
    action(alerts::ack(&st.parts, &fp, &who.name).map(|_| json!({"acked": fp})))
}

async fn list_silences(State(st): State<Shared>) -> Json<Value> {
    Json(json!({ "silences": alerts::silences(&st.parts) }))
}

#[derive(Debug, Deserialize)]
struct NewSilence {
    matchers: Vec<String>,
    #[serde(default = "two")]
    hours: f64,
    #[serde(default)]
    comment: String,
}

fn two() -> f64 {
    2.0
}

async fn add_silence(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    body: axum::body::Bytes,
) -> Response {
    let s: NewSilence = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "body must be {{\"matchers\": [\"name=value\"], \"hours\": 2, \"comment\": \"why\"}}: {e}"
                ),
            );
        }
    };
    action(
        alerts::silence(&st.parts, &s.matchers, s.hours, &who.name, &s.comment)
            .map(|id| json!({ "id": id })),
    )
}

async fn expire_silence(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    action(alerts::expire(&st.parts, &id, &who.name).map(|_| json!({ "expired": id })))
}

async fn scores(State(st): State<Shared>) -> Json<Value> {
    let s = st.parts.findings().read();
    let mut validator_scores = serde_json::Map::new();
    for (plugin, f) in &s.plugins {
        for (k, m) in &f.scores {
            validator_scores.insert(k.clone(), json!({ "plugin": plugin, "values": m }));
        }
    }
    Json(json!({
        "validator_scores": validator_scores,
        "subject_scores": s.subject_scores(),
    }))
}

async fn earnings(State(st): State<Shared>) -> Json<Value> {
    let s = st.parts.findings().read();
    let series: Vec<&crate::findings::SeriesValue> =
        s.plugins.values().flat_map(|f| f.series.values()).collect();
    let income: serde_json::Map<String, Value> = s
        .validators
        .values()
        .map(|v| (v.index.to_string(), json!(v.income_1d_gwei())))
        .collect();
    Json(json!({
        "series": series,
        "income_1d_gwei": income,
        "income_1d_total_gwei": s.validators.values().filter_map(|v| v.income_1d_gwei()).sum::<i64>(),
    }))
}

async fn list_plugins(State(st): State<Shared>) -> Json<Value> {
    let (rows, errors) = plugins::rows(&st.parts);
    let findings = st.parts.findings().read();
    Json(json!({
        "plugins": rows,
        "refused_files": errors.iter().map(|(f, e)| json!({"file": f, "reason": e})).collect::<Vec<_>>(),
        "findings": findings.plugins.iter().map(|(n, f)| json!({
            "plugin": n,
            "last_run_ms": f.last_run_ms,
            "last_error": f.last_error,
            "recommendations": f.recommendations.values().flatten().collect::<Vec<_>>(),
            "checks": f.checks.values().flatten().collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

async fn reload_plugins(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
) -> Json<Value> {
    let st2 = st.clone();
    let text = tokio::task::spawn_blocking(move || plugins::reload(&st2.parts, &who.name))
        .await
        .unwrap_or_default();
    Json(json!({ "result": text }))
}

async fn config(State(st): State<Shared>) -> Json<Value> {
    let cfg = st.parts.config();
    Json(json!({
        "file": cfg.file.display().to_string(),
        "effective": super::config_edit::effective_json(&cfg),
        "text": super::config_edit::redacted_text(&cfg.source),
    }))
}

#[derive(Debug, Deserialize)]
struct ConfigBody {
    text: String,
    #[serde(default)]
    dry_run: bool,
}

async fn put_config(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    body: axum::body::Bytes,
) -> Response {
    let b: ConfigBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body must be {{\"text\": \"<the TOML>\", \"dry_run\": false}}: {e}"),
            );
        }
    };
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || {
        if b.dry_run {
            super::config_edit::prepare(&st2.parts, &b.text).map(|_| false)
        } else {
            super::config_edit::apply(&st2.parts, &b.text, &who.name)
        }
    })
    .await;
    match r {
        Ok(Ok(applied)) => Json(json!({ "valid": true, "applied": applied })).into_response(),
        Ok(Err(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "valid": false,
                "key": e.key(),
                "line": e.line(),
                "reason": e.reason(),
            })),
        )
            .into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "config check failed"),
    }
}

#[derive(Debug, Deserialize)]
struct ReportQuery {
    period: Option<String>,
    format: Option<String>,
}

async fn report(State(st): State<Shared>, Query(q): Query<ReportQuery>) -> Response {
    let period = match crate::report::Period::parse(q.period.as_deref().unwrap_or("daily")) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let format = match crate::report::Format::parse(q.format.as_deref().unwrap_or("json")) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || {
        let alerts = alerts::rows(&st2.parts);
        let snap = st2.parts.findings().read();
        crate::report::build(
            st2.parts.store(),
            &snap,
            &alerts,
            period,
            crate::clock::now_ms(),
        )
    })
    .await;
    match r {
        Ok(rep) => (
            [(header::CONTENT_TYPE, format.content_type())],
            crate::report::render(&rep, format),
        )
            .into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "report failed"),
    }
}
