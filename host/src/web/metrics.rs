//! Vigil's own series for Prometheus: `/metrics` (text format 0.0.4) and the same
//! samples for remote write.
//!
//! Aggregates only by default — validators per status, client and node; nodes' health;
//! plugins' runs, failures and quarantine; alerts per severity; the plugins' aggregate
//! series (earnings, APR, projections, network figures) and group scores. Per-validator
//! series (`vigil_validator_*`) are opt-in (`[web.metrics] per_validator`) and capped
//! (`per_validator_cap`, lowest indices first; `vigil_validator_series_dropped` says
//! how many were left out), so a large farm cannot explode a Prometheus.

use super::Shared;
use crate::findings::Snapshot;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Metric families: name → (help, type).
pub const HELP: &[(&str, &str, &str)] = &[
    ("vigil_up", "Vigil is running (always 1).", "gauge"),
    ("vigil_slot", "Latest slot seen.", "gauge"),
    ("vigil_epoch", "Latest epoch evaluated.", "gauge"),
    ("vigil_validators", "Watched validators by status.", "gauge"),
    (
        "vigil_validators_by_client",
        "Watched validators by client label.",
        "gauge",
    ),
    (
        "vigil_validators_by_node",
        "Watched validators by beacon node.",
        "gauge",
    ),
    (
        "vigil_validators_attested_ratio",
        "Share of active watched validators whose latest attestation was included, 0-1.",
        "gauge",
    ),
    (
        "vigil_validators_balance_gwei",
        "Sum of watched validators' balances, gwei.",
        "gauge",
    ),
    (
        "vigil_node_up",
        "Node answered at the latest tick (1) or not (0).",
        "gauge",
    ),
    (
        "vigil_node_syncing",
        "Node reports syncing (1) or not (0).",
        "gauge",
    ),
    (
        "vigil_node_head_lag_slots",
        "Wall-clock slot minus the node's head slot.",
        "gauge",
    ),
    ("vigil_node_peers", "Node's peer count.", "gauge"),
    (
        "vigil_plugin_loaded",
        "Plugin loaded (1), with its version.",
        "gauge",
    ),
    (
        "vigil_plugin_runs_total",
        "Plugin evaluations since start.",
        "counter",
    ),
    (
        "vigil_plugin_failures_total",
        "Failed plugin evaluations since start.",
        "counter",
    ),
    (
        "vigil_plugin_quarantined",
        "Plugin quarantined (1) or running (0).",
        "gauge",
    ),
    (
        "vigil_plugin_last_duration_seconds",
        "Duration of the plugin's last evaluation, seconds.",
        "gauge",
    ),
    ("vigil_alerts", "Alerts by state and severity.", "gauge"),
    (
        "vigil_score_percent",
        "Group scores by the plugins (client, node, operator, network average), 0-100.",
        "gauge",
    ),
    (
        "vigil_validator_score_mean_percent",
        "Mean validator score over watched validators, 0-100.",
        "gauge",
    ),
    (
        "vigil_validator_balance_gwei",
        "Per-validator balance, gwei (opt-in).",
        "gauge",
    ),
    (
        "vigil_validator_up",
        "Per-validator: latest attestation included (1), missed (0) (opt-in).",
        "gauge",
    ),
    (
        "vigil_validator_score_percent",
        "Per-validator composite 1d score, 0-100 (opt-in).",
        "gauge",
    ),
    (
        "vigil_validator_effectiveness_percent",
        "Per-validator attestation effectiveness, % (opt-in).",
        "gauge",
    ),
    (
        "vigil_validator_series_dropped",
        "Validators left out of per-validator series by the cap.",
        "gauge",
    ),
];

fn s(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
    }
}

fn b(x: bool) -> f64 {
    if x { 1.0 } else { 0.0 }
}

/// Per-validator series settings.
#[derive(Debug, Clone, Copy)]
pub struct PerValidator {
    pub enabled: bool,
    pub cap: usize,
}

/// Samples from the snapshot (and plugin health, alert counts given by the caller).
pub fn samples(
    snap: &Snapshot,
    plugins: &[(String, String, crate::plugins::registry::Health)],
    alerts: &[(String, String, usize)],
    per: PerValidator,
) -> Vec<Sample> {
    let mut out = vec![s("vigil_up", &[], 1.0)];
    if let Some(x) = snap.slot {
        out.push(s("vigil_slot", &[], x as f64));
    }
    if let Some(x) = snap.epoch {
        out.push(s("vigil_epoch", &[], x as f64));
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_client: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_node: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut active, mut attested, mut balance) = (0usize, 0usize, 0i64);
    for v in snap.validators.values() {
        *by_status.entry(v.status.as_str()).or_default() += 1;
        *by_client
            .entry(v.labels.get("client").map_or("unknown", String::as_str))
            .or_default() += 1;
        *by_node
            .entry(v.labels.get("node").map_or("unknown", String::as_str))
            .or_default() += 1;
        if v.status == "active_ongoing" || v.status == "active_exiting" {
            active += 1;
            attested += usize::from(v.attested == Some(true));
        }
        balance += v.balance_gwei.unwrap_or(0);
    }
    for (k, n) in by_status {
        out.push(s("vigil_validators", &[("status", k)], n as f64));
    }
    for (k, n) in by_client {
        out.push(s("vigil_validators_by_client", &[("client", k)], n as f64));
    }
    for (k, n) in by_node {
        out.push(s("vigil_validators_by_node", &[("node", k)], n as f64));
    }
    if active > 0 {
        out.push(s(
            "vigil_validators_attested_ratio",
            &[],
            attested as f64 / active as f64,
        ));
    }
    out.push(s("vigil_validators_balance_gwei", &[], balance as f64));
    for n in &snap.nodes {
        let l = [("node", n.name.as_str()), ("layer", n.layer.as_str())];
        out.push(s("vigil_node_up", &l, b(n.reachable)));
        if let Some(x) = n.syncing {
            out.push(s("vigil_node_syncing", &l, b(x)));
        }
        if let Some(x) = n.head_lag_slots {
            out.push(s("vigil_node_head_lag_slots", &l, x as f64));
        }
        if let Some(x) = n.peers {
            out.push(s("vigil_node_peers", &l, x as f64));
        }
    }
    for (name, version, h) in plugins {
        let l = [("plugin", name.as_str())];
        out.push(s(
            "vigil_plugin_loaded",
            &[("plugin", name.as_str()), ("version", version.as_str())],
            1.0,
        ));
        out.push(s("vigil_plugin_runs_total", &l, h.calls as f64));
        out.push(s(
            "vigil_plugin_failures_total",
            &l,
            h.failures_total as f64,
        ));
        out.push(s("vigil_plugin_quarantined", &l, b(h.quarantined)));
        out.push(s(
            "vigil_plugin_last_duration_seconds",
            &l,
            h.last_duration_us as f64 / 1e6,
        ));
    }
    for (state, severity, n) in alerts {
        out.push(s(
            "vigil_alerts",
            &[("state", state.as_str()), ("severity", severity.as_str())],
            *n as f64,
        ));
    }
    for sc in snap.subject_scores() {
        let mut l: Vec<(&str, &str)> = sc
            .subject
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        l.push(("component", sc.component.as_str()));
        l.push(("window", sc.window.as_str()));
        out.push(s("vigil_score_percent", &l, sc.value));
    }
    for f in snap.plugins.values() {
        for (key, m) in &f.scores {
            let (component, window) = key.split_once('/').unwrap_or((key, ""));
            if !m.is_empty() {
                let mean = m.values().sum::<f64>() / m.len() as f64;
                out.push(s(
                    "vigil_validator_score_mean_percent",
                    &[("component", component), ("window", window)],
                    mean,
                ));
            }
        }
        for sv in f.series.values() {
            let l: Vec<(&str, &str)> = sv
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            out.push(s(&format!("vigil_{}", sv.name), &l, sv.value));
        }
    }
    if per.enabled {
        let dropped = snap.validators.len().saturating_sub(per.cap);
        for v in snap.validators.values().take(per.cap) {
            let idx = v.index.to_string();
            let l = [("validator", idx.as_str())];
            if let Some(bal) = v.balance_gwei {
                out.push(s("vigil_validator_balance_gwei", &l, bal as f64));
            }
            if let Some(a) = v.attested {
                out.push(s("vigil_validator_up", &l, b(a)));
            }
            if let Some(x) = snap.score("composite", "1d", v.index) {
                out.push(s("vigil_validator_score_percent", &l, x));
            }
            if let Some(x) = snap.effectiveness(v.index) {
                out.push(s("vigil_validator_effectiveness_percent", &l, x));
            }
        }
        out.push(s("vigil_validator_series_dropped", &[], dropped as f64));
    }
    out
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition format.
pub fn render(samples: &[Sample]) -> String {
    let mut by_name: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for x in samples {
        by_name.entry(x.name.as_str()).or_default().push(x);
    }
    let mut o = String::with_capacity(samples.len() * 64);
    for (name, list) in by_name {
        let (help, kind) = HELP
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, h, k)| (*h, *k))
            .unwrap_or(("A plugin's derived series.", "gauge"));
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for x in list {
            o.push_str(name);
            if !x.labels.is_empty() {
                o.push('{');
                for (i, (k, v)) in x.labels.iter().enumerate() {
                    if i > 0 {
                        o.push(',');
                    }
                    let _ = write!(o, "{k}=\"{}\"", escape_label(v));
                }
                o.push('}');
            }
            let _ = writeln!(o, " {}", x.value);
        }
    }
    o
}

/// The samples for this daemon now.
pub fn collect_from(parts: &crate::web::Parts) -> Vec<Sample> {
    let cfg = parts.config();
    let m = &cfg.config.web.metrics;
    let plugins: Vec<_> = parts
        .registry()
        .current()
        .plugins
        .iter()
        .map(|p| {
            (
                p.name().to_string(),
                p.module.manifest.version.clone(),
                p.health(),
            )
        })
        .collect();
    let alerts = super::pages::alerts::counts(parts);
    let snap = parts.findings().read();
    samples(
        &snap,
        &plugins,
        &alerts,
        PerValidator {
            enabled: m.per_validator,
            cap: m.per_validator_cap as usize,
        },
    )
}

/// `GET /metrics`: public when configured, else a bearer token or a session.
pub async fn handler(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let public = state.parts.config().config.web.metrics.public;
    if !public && super::principal(&state, &headers).is_none() {
        return super::refuse(
            StatusCode::UNAUTHORIZED,
            true,
            "credentials required: configure Prometheus with `authorization: {credentials: <token>}` or set [web.metrics] public = true",
        );
    }
    let body = render(&collect_from(&state.parts));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{SeriesValue, ValidatorView};

    #[test]
    fn aggregates_and_capped_per_validator_series() {
        let mut snap = Snapshot::default();
        for i in 0..5u64 {
            snap.validators.insert(
                i,
                ValidatorView {
                    index: i,
                    status: "active_ongoing".into(),
                    attested: Some(i != 3),
                    balance_gwei: Some(32_000_000_000),
                    labels: [("client".to_string(), "lodestar".to_string())].into(),
                    ..ValidatorView::default()
                },
            );
        }
        let mut f = crate::findings::PluginFindings::default();
        f.series.insert(
            "apr".into(),
            SeriesValue {
                name: "apr_percent".into(),
                labels: vec![("window".into(), "7d".into())],
                value: 3.2,
                timestamp_ms: 0,
            },
        );
        snap.plugins.insert("earnings".into(), f);
        let text = render(&samples(
            &snap,
            &[],
            &[("firing".into(), "critical".into(), 2)],
            PerValidator {
                enabled: true,
                cap: 2,
            },
        ));
        assert!(
            text.contains("vigil_validators{status=\"active_ongoing\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("vigil_validators_by_client{client=\"lodestar\"} 5\n"));
        assert!(text.contains("vigil_validators_attested_ratio 0.8\n"));
        assert!(text.contains("vigil_apr_percent{window=\"7d\"} 3.2\n"));
        assert!(text.contains("vigil_alerts{state=\"firing\",severity=\"critical\"} 2\n"));
        assert_eq!(text.matches("vigil_validator_balance_gwei{").count(), 2);
        assert!(text.contains("vigil_validator_series_dropped 3\n"));
        assert!(text.contains("# TYPE vigil_validators gauge"));
        let off = render(&samples(
            &snap,
            &[],
            &[],
            PerValidator {
                enabled: false,
                cap: 2,
            },
        ));
        assert!(!off.contains("vigil_validator_balance_gwei"));
    }
}
