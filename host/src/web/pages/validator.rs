//! One validator: balance and effectiveness charts, duty history, scores, alerts and
//! recommendations.

use super::alerts::AlertRow;
use crate::chart::{Line, LineChart, XAxis, line_chart};
use crate::findings::{RecommendationView, Snapshot};
use crate::model::ValidatorEpoch;
use crate::store::{SeriesKey, Store};
use crate::view::html::{self, esc, pct, pill};
use crate::web::Shared;
use crate::web::auth::Principal;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// Epochs of history read for the charts.
pub const CHART_EPOCHS: u64 = 1575;
/// Epochs listed in the duty table.
pub const TABLE_EPOCHS: usize = 32;

/// What the page shows, read from the snapshot and the store.
#[derive(Debug, Clone, Default)]
pub struct ValidatorData {
    pub index: u64,
    /// Outcome rows, oldest first.
    pub history: Vec<ValidatorEpoch>,
    /// `(name, points (ms, value))` of stored per-validator series.
    pub series: Vec<(String, Vec<(i64, f64)>)>,
}

/// Per-validator series charted when the plugins store them.
pub const SERIES: [&str; 3] = [
    "attestation_effectiveness_percent",
    "inclusion_effectiveness_percent",
    "composite_score_percent",
];

/// Read a validator's history from the store.
pub fn load(store: &Store, snap: &Snapshot, index: u64) -> ValidatorData {
    let mut d = ValidatorData {
        index,
        ..ValidatorData::default()
    };
    let Some(it) = store.current_iteration() else {
        return d;
    };
    let last = snap.epoch.unwrap_or(0);
    match store.outcomes_for_validator(it.number, index, last.saturating_sub(CHART_EPOCHS)..=last) {
        Ok(rows) => d.history = rows,
        Err(e) => tracing::warn!(validator = index, "validator page: history not read: {e}"),
    }
    let now = crate::clock::now_ms();
    let from = now - 7 * 86_400_000;
    for name in SERIES {
        let key = SeriesKey::new(name, &[("validator".to_string(), index.to_string())]);
        match store.series_range(&key, from, now + 60_000, 2000) {
            Ok(p) if !p.is_empty() => d.series.push((name.to_string(), p)),
            Ok(_) => {}
            Err(e) => tracing::warn!(validator = index, series = name, "not read: {e}"),
        }
    }
    d
}

fn yes_no(v: Option<bool>) -> String {
    match v {
        Some(true) => pill("ok", "yes"),
        Some(false) => pill("bad", "no"),
        None => pill("idle", "?"),
    }
}

/// The page's content.
pub fn render(s: &Snapshot, d: &ValidatorData, alerts: &[AlertRow], who: &Principal) -> String {
    let mut o = String::with_capacity(32 * 1024);
    let v = s.validators.get(&d.index);
    let _ = write!(o, "<h1>Validator {}</h1>", d.index);
    let Some(v) = v else {
        o.push_str(&html::msg(
            "info",
            "This validator is not watched, or no epoch has been evaluated for it yet.",
        ));
        return o;
    };
    let (class, text) = v.health();
    o.push_str("<div class=\"figs\">");
    for (label, value) in [
        ("state", pill(class, text)),
        ("status", esc(&v.status)),
        ("balance (ETH)", html::eth(v.balance_gwei)),
        (
            "effective balance (ETH)",
            html::eth(v.effective_balance_gwei),
        ),
        ("effectiveness", pct(s.effectiveness(d.index))),
        (
            "composite score (1d)",
            pct(s.score("composite", "1d", d.index)),
        ),
        ("income today (gwei)", html::gwei(v.income_1d_gwei())),
        ("latest epoch", v.epoch.to_string()),
    ] {
        let _ = write!(o, "<div class=\"fig\"><b>{value}</b>{}</div>", esc(label));
    }
    o.push_str("</div>");
    if !v.labels.is_empty() {
        let l: Vec<(String, String)> = v.labels.clone().into_iter().collect();
        let _ = write!(o, "<p>Labels: {}</p>", html::labels(&l));
    }

    // Balance, from the stored epoch outcomes.
    let balance: Vec<(f64, f64)> = d
        .history
        .iter()
        .filter_map(|r| Some((r.epoch as f64, r.balance? as f64 / 1e9)))
        .collect();
    o.push_str("<div id=\"balance-chart\">");
    o.push_str(&line_chart(&LineChart {
        title: format!("Balance of validator {}", d.index),
        unit: "ETH".into(),
        x: XAxis::Number("epoch"),
        lines: vec![Line::new("balance", balance)],
        bands: vec![],
        y_range: None,
    }));
    o.push_str("</div>");

    // Effectiveness: the plugins' series when stored, else attestation inclusion per
    // epoch from the outcomes (100 % included at the best possible delay).
    let mut lines: Vec<Line> = d
        .series
        .iter()
        .map(|(name, pts)| {
            Line::new(
                name.trim_end_matches("_percent").replace('_', " "),
                pts.iter().map(|(t, v)| (*t as f64, *v)).collect(),
            )
        })
        .collect();
    let x = if lines.is_empty() {
        let pts: Vec<(f64, f64)> = d
            .history
            .iter()
            .filter_map(|r| {
                let included = r.attested?;
                let score = match (included, r.inclusion_delay, r.earliest_inclusion_delay) {
                    (false, _, _) => 0.0,
                    (true, Some(d), Some(e)) if d > 0 => 100.0 * f64::from(e.max(1)) / f64::from(d),
                    (true, _, _) => 100.0,
                };
                Some((r.epoch as f64, score.min(100.0)))
            })
            .collect();
        lines.push(Line::new("inclusion (from outcomes)", pts));
        XAxis::Number("epoch")
    } else {
        XAxis::Time
    };
    o.push_str("<div id=\"effectiveness-chart\">");
    o.push_str(&line_chart(&LineChart {
        title: format!("Effectiveness of validator {}", d.index),
        unit: "%".into(),
        x,
        lines,
        bands: vec![],
        y_range: Some((0.0, 100.0)),
    }));
    o.push_str("</div>");

    // Scores by component and window.
    let mut comps: Vec<(String, String, f64)> = Vec::new();
    for f in s.plugins.values() {
        for (key, m) in &f.scores {
            if let (Some((c, w)), Some(x)) = (key.split_once('/'), m.get(&d.index)) {
                comps.push((c.to_string(), w.to_string(), *x));
            }
        }
    }
    if !comps.is_empty() {
        o.push_str("<h2>Scores</h2><table><tr><th>component</th><th>window</th><th class=\"n\">score</th></tr>");
        for (c, w, x) in comps {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{x:.1}</td></tr>",
                esc(&c),
                esc(&w)
            );
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>Duty history</h2><table><tr><th class=\"n\">epoch</th><th>attested</th><th class=\"n\">delay</th><th>head</th><th>target</th><th>source</th><th class=\"n\">att. reward (gwei)</th><th>proposals</th><th>sync</th><th class=\"n\">balance (ETH)</th></tr>");
    for r in d.history.iter().rev().take(TABLE_EPOCHS) {
        let reward = match (r.reward_head, r.reward_target, r.reward_source) {
            (Some(a), Some(b), Some(c)) => format!("{:+}", a + b + c),
            _ => "–".into(),
        };
        let proposals = if r.proposals_assigned == 0 {
            "–".to_string()
        } else {
            format!(
                "{}/{} made{}",
                r.proposals_made,
                r.proposals_assigned,
                if r.proposals_orphaned > 0 {
                    format!(", {} orphaned", r.proposals_orphaned)
                } else {
                    String::new()
                }
            )
        };
        let sync = if r.sync_expected == 0 {
            "–".to_string()
        } else {
            format!("{}/{}", r.sync_signed, r.sync_expected)
        };
        let _ = write!(
            o,
            "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            r.epoch,
            yes_no(r.attested),
            r.inclusion_delay.map_or("–".into(), |x| x.to_string()),
            yes_no(r.head_ok),
            yes_no(r.target_ok),
            yes_no(r.source_ok),
            reward,
            proposals,
            sync,
            html::eth(r.balance)
        );
    }
    o.push_str("</table>");
    if d.history.is_empty() {
        o.push_str("<p class=\"idle\">No stored epochs yet.</p>");
    }

    o.push_str("<h2>Alerts</h2>");
    let mine: Vec<AlertRow> = alerts
        .iter()
        .filter(|a| a.concerns_validator(d.index, v.labels.get("node").map(String::as_str)))
        .cloned()
        .collect();
    o.push_str(&super::alerts::table(&mine, who, 50));

    o.push_str("<h2>Recommendations</h2>");
    let recs: Vec<(&str, &RecommendationView)> = s
        .recommendations()
        .into_iter()
        .filter(|(_, r)| {
            r.subject.is_empty()
                || r.subject.iter().any(|(k, val)| {
                    (k == "validator" && *val == d.index.to_string())
                        || (k == "node" && v.labels.get("node") == Some(val))
                })
        })
        .collect();
    o.push_str(&recommendations(&recs));
    o
}

/// A recommendations table.
pub fn recommendations(recs: &[(&str, &RecommendationView)]) -> String {
    if recs.is_empty() {
        return "<p class=\"idle\">None.</p>".into();
    }
    let mut o = String::from(
        "<table><tr><th>priority</th><th>subject</th><th>advice</th><th>plugin</th></tr>",
    );
    for (p, r) in recs {
        let class = match r.priority.as_str() {
            "critical" | "high" => "bad",
            "medium" => "warn",
            _ => "idle",
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td><b>{}</b><br>{}</td><td>{}</td></tr>",
            pill(class, &r.priority),
            html::labels(&r.subject),
            esc(&r.title),
            esc(&r.text),
            esc(p)
        );
    }
    o.push_str("</table>");
    o
}

/// `GET /validators/{index}`.
pub async fn handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(index): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(index) = index.parse::<u64>() else {
        return crate::web::refuse(
            StatusCode::NOT_FOUND,
            false,
            "a validator is named by its index, e.g. /validators/6",
        );
    };
    let (st2, who2) = (st.clone(), who.clone());
    let body = tokio::task::spawn_blocking(move || {
        let snap = st2.parts.findings().read();
        let data = load(st2.parts.store(), &snap, index);
        let alerts = super::alerts::rows(&st2.parts);
        render(&snap, &data, &alerts, &who2)
    })
    .await
    .unwrap_or_else(|_| html::msg("err", "page failed"));
    super::respond(&headers, &format!("Validator {index}"), "/", &who, body).into_response()
}
