//! Analytics: score distribution, comparison by client / node / operator against the
//! network average, earnings history with the projection band, trends over a window.

use crate::chart::{Band, Bar, Line, LineChart, XAxis, bar_chart, histogram, line_chart};
use crate::findings::Snapshot;
use crate::store::{SeriesKey, Store};
use crate::view::html::{esc, pct};
use crate::web::Shared;
use crate::web::auth::Principal;
use axum::extract::{Extension, Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use serde::Deserialize;
use std::fmt::Write;

/// Trend windows offered, with their length in ms (`all` = since the store began).
pub const RANGES: [(&str, i64); 5] = [
    ("1d", 86_400_000),
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
    ("90d", 90 * 86_400_000),
    ("all", i64::MAX / 4),
];

#[derive(Debug, Deserialize, Default, Clone)]
pub struct AnalyticsQuery {
    pub component: Option<String>,
    pub window: Option<String>,
    pub range: Option<String>,
}

/// History read from the store for the charts.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// `earnings_gwei{window=all}` over the range: cumulative earnings.
    pub earnings: Vec<(i64, f64)>,
    /// `apr_percent{window=7d}` over the range.
    pub apr: Vec<(i64, f64)>,
    /// `network_apr_percent` over the range.
    pub network_apr: Vec<(i64, f64)>,
    /// `network_participation_ratio` over the range.
    pub participation: Vec<(i64, f64)>,
}

fn range_ms(r: &str) -> i64 {
    RANGES
        .iter()
        .find(|(n, _)| *n == r)
        .map_or(RANGES[1].1, |(_, ms)| *ms)
}

/// Read the range's history.
pub fn load(store: &Store, range: &str) -> History {
    let now = crate::clock::now_ms();
    let from = now.saturating_sub(range_ms(range));
    let get = |name: &str, labels: &[(&str, &str)]| {
        let l: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        store
            .series_range(&SeriesKey::new(name, &l), from, now + 60_000, 2000)
            .unwrap_or_else(|e| {
                tracing::warn!(series = name, "analytics: not read: {e}");
                Vec::new()
            })
    };
    History {
        earnings: get("earnings_gwei", &[("window", "all")]),
        apr: get("apr_percent", &[("window", "7d")]),
        network_apr: get("network_apr_percent", &[]),
        participation: get("network_participation_ratio", &[]),
    }
}

fn pts(p: &[(i64, f64)], scale: f64) -> Vec<(f64, f64)> {
    p.iter().map(|(t, v)| (*t as f64, v * scale)).collect()
}

/// The page's content.
pub fn render(s: &Snapshot, h: &History, q: &AnalyticsQuery) -> String {
    let component = q.component.as_deref().unwrap_or("composite");
    let window = q.window.as_deref().unwrap_or("1d");
    let range = q.range.as_deref().unwrap_or("7d");
    let mut o = String::with_capacity(32 * 1024);
    o.push_str("<h1>Analytics</h1><form method=\"get\" action=\"/analytics\">");
    for (name, current, options) in [
        (
            "component",
            component,
            &["composite", "attestation", "inclusion", "proposal", "sync"][..],
        ),
        ("window", window, &["epoch", "1d", "7d", "30d"][..]),
        ("range", range, &["1d", "7d", "30d", "90d", "all"][..]),
    ] {
        let _ = write!(o, "<label>{name} <select name=\"{name}\">");
        for opt in options {
            let sel = if *opt == current { " selected" } else { "" };
            let _ = write!(o, "<option{sel}>{opt}</option>");
        }
        o.push_str("</select></label> ");
    }
    o.push_str("<button>Show</button></form>");

    // Distribution.
    let values: Vec<f64> = s
        .scores(component, window)
        .map(|m| m.values().copied().collect())
        .unwrap_or_default();
    o.push_str(&histogram(
        &format!("Distribution of {component} scores ({window})"),
        "score",
        &values,
        0.0,
        100.0,
        20,
    ));

    // Comparison by group against the network average: the plugins' group scores, or
    // (when no plugin gives them) the mean of the validator scores per label value.
    let mut groups: Vec<&str> = vec!["client", "node", "operator"];
    for v in s.validators.values() {
        for k in v.labels.keys() {
            if !groups.contains(&k.as_str()) {
                groups.push(k.as_str());
            }
        }
    }
    let own = s.scores(component, window);
    for group in groups {
        let mut bars: Vec<Bar> = s
            .subject_scores()
            .into_iter()
            .filter(|x| x.component == component && x.window == window)
            .filter_map(|x| {
                let (k, v) = x.subject.first()?;
                (k == group).then(|| Bar {
                    label: v.clone(),
                    value: x.value,
                    reference: false,
                })
            })
            .collect();
        let mut title = format!("{component} score ({window}) by {group}");
        if bars.is_empty()
            && let Some(own) = own
        {
            let mut sums: std::collections::BTreeMap<&str, (f64, usize)> = Default::default();
            for (v, x) in own {
                if let Some(l) = s.validators.get(v).and_then(|v| v.labels.get(group)) {
                    let e = sums.entry(l.as_str()).or_default();
                    e.0 += x;
                    e.1 += 1;
                }
            }
            bars = sums
                .into_iter()
                .map(|(l, (sum, n))| Bar {
                    label: format!("{l} ({n})"),
                    value: sum / n as f64,
                    reference: false,
                })
                .collect();
            title = format!("{component} score ({window}) by {group}: mean of our validators");
        }
        if bars.is_empty() {
            continue;
        }
        bars.sort_by(|a, b| a.label.cmp(&b.label));
        if let Some(avg) = s.subject_scores().into_iter().find(|x| {
            x.component == component
                && x.window == window
                && x.subject
                    .iter()
                    .any(|(k, v)| k == "network" && v == "average")
        }) {
            bars.push(Bar {
                label: "network average".into(),
                value: avg.value,
                reference: true,
            });
        }
        o.push_str(&bar_chart(&title, "", &bars, Some(100.0)));
    }
    if own.is_none()
        && !s
            .subject_scores()
            .iter()
            .any(|x| x.component == component && x.window == window)
    {
        o.push_str("<p class=\"idle\">No group comparison for this component and window yet (the subject-score plugin reports them once a day of data is in).</p>");
    }

    // Earnings figures.
    o.push_str("<h2>Earnings</h2><table><tr><th>window</th><th class=\"n\">earned (ETH)</th></tr>");
    for w in ["1d", "7d", "30d", "90d", "all"] {
        let v = s.series("earnings_gwei", &[("window", w)]);
        let _ = write!(
            o,
            "<tr><td>{w}</td><td class=\"n\">{}</td></tr>",
            v.map_or("–".into(), |g| format!("{:.6}", g / 1e9))
        );
    }
    let _ = write!(
        o,
        "</table><p>APR 7d {} · APR 31d {} · network APR {} · network participation {}</p>",
        pct(s.series("apr_percent", &[("window", "7d")])),
        pct(s.series("apr_percent", &[("window", "31d")])),
        pct(s.series("network_apr_percent", &[])),
        s.series("network_participation_ratio", &[])
            .map_or("–".into(), |r| format!("{:.1} %", r * 100.0))
    );

    // Earnings history and projection.
    let mut bands = Vec::new();
    let mut lines = vec![Line::new("earned", pts(&h.earnings, 1e-9))];
    if let Some(&(t, last)) = h.earnings.last() {
        let horizon = "30d";
        let get = |band: &str| {
            s.series(
                "projected_earnings_gwei",
                &[("horizon", horizon), ("band", band)],
            )
        };
        if let (Some(lo), Some(mid), Some(hi)) = (get("low"), get("mid"), get("high")) {
            let end = t as f64 + 30.0 * 86_400_000.0;
            let base = last / 1e9;
            bands.push(Band {
                name: format!("projection {horizon} (low–high)"),
                points: vec![
                    (t as f64, base, base),
                    (end, base + lo / 1e9, base + hi / 1e9),
                ],
            });
            lines.push(
                Line::new(
                    format!("projection {horizon}"),
                    vec![(t as f64, base), (end, base + mid / 1e9)],
                )
                .dashed(),
            );
        }
    }
    o.push_str(&line_chart(&LineChart {
        title: format!("Earnings ({range}) and projection"),
        unit: "ETH".into(),
        x: XAxis::Time,
        lines,
        bands,
        y_range: None,
    }));
    o.push_str(&line_chart(&LineChart {
        title: format!("APR trend ({range})"),
        unit: "%".into(),
        x: XAxis::Time,
        lines: vec![
            Line::new("ours (7d)", pts(&h.apr, 1.0)),
            Line::new("network", pts(&h.network_apr, 1.0)).dashed(),
        ],
        bands: vec![],
        y_range: None,
    }));
    o.push_str(&line_chart(&LineChart {
        title: format!("Network participation ({range})"),
        unit: "%".into(),
        x: XAxis::Time,
        lines: vec![Line::new("participation", pts(&h.participation, 100.0))],
        bands: vec![],
        y_range: Some((0.0, 100.0)),
    }));

    let checks = s.checks();
    if !checks.is_empty() {
        o.push_str("<h2>Checks</h2><table><tr><th>check</th><th>subject</th><th>status</th><th>detail</th><th>plugin</th></tr>");
        for (p, c) in checks {
            let class = match c.status.as_str() {
                "ok" => "ok",
                "warn" => "warn",
                _ => "bad",
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                crate::view::html::labels(&c.subject),
                crate::view::html::pill(class, &c.status),
                esc(&c.text),
                esc(p)
            );
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>Recommendations</h2>");
    o.push_str(&super::validator::recommendations(&s.recommendations()));
    o
}

/// `GET /analytics`.
pub async fn handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(q): Query<AnalyticsQuery>,
    headers: HeaderMap,
) -> Html<String> {
    let st2 = st.clone();
    let q2 = q.clone();
    let body = tokio::task::spawn_blocking(move || {
        let h = load(st2.parts.store(), q2.range.as_deref().unwrap_or("7d"));
        render(&st2.parts.findings().read(), &h, &q2)
    })
    .await
    .unwrap_or_default();
    super::respond(&headers, "Analytics", "/analytics", &who, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{PluginFindings, ValidatorView};

    #[test]
    fn groups_fall_back_to_our_validators_scores_by_label() {
        let mut s = Snapshot::default();
        let mut f = PluginFindings::default();
        let mut m = std::collections::BTreeMap::new();
        for (i, node, score) in [(1u64, "bn-a", 90.0), (2, "bn-a", 100.0), (3, "bn-b", 50.0)] {
            s.validators.insert(
                i,
                ValidatorView {
                    index: i,
                    labels: [("node".to_string(), node.to_string())].into(),
                    ..ValidatorView::default()
                },
            );
            m.insert(i, score);
        }
        f.scores.insert("composite/1d".into(), m);
        s.plugins.insert("p".into(), f);
        let page = render(&s, &History::default(), &AnalyticsQuery::default());
        assert!(page.contains("by node: mean of our validators"), "{page}");
        assert!(page.contains("bn-a (2)") && page.contains("95 "), "{page}");
        assert!(page.contains("bn-b (1)"));
        // The histogram holds the three scores.
        assert!(page.contains("most: 1"));
    }
}
