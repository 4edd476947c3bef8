//! Overview: every validator's state at a glance, key figures, nodes, recent alerts.

use super::alerts::AlertRow;
use crate::findings::Snapshot;
use crate::view::html::{self, esc, pct, pill};
use crate::web::Shared;
use crate::web::auth::Principal;
use axum::extract::{Extension, Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use serde::Deserialize;
use std::fmt::Write;

/// Validator rows per page (problems first, so page 1 shows what needs attention).
pub const PAGE_ROWS: usize = 1000;

#[derive(Debug, Deserialize, Default)]
pub struct OverviewQuery {
    pub page: Option<usize>,
}

/// Key figures over all watched validators.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Figures {
    pub validators: usize,
    pub active: usize,
    pub attesting: usize,
    pub problems: usize,
    pub balance_gwei: i64,
    pub income_1d_gwei: i64,
    pub effectiveness_mean_percent: Option<f64>,
    pub composite_mean_percent: Option<f64>,
    pub apr_7d_percent: Option<f64>,
}

/// The figures shown at the top of the overview (and by `vigil summary`).
pub fn figures(s: &Snapshot) -> Figures {
    let mut f = Figures {
        validators: s.validators.len(),
        ..Figures::default()
    };
    let (mut eff, mut eff_n, mut comp, mut comp_n) = (0.0, 0usize, 0.0, 0usize);
    let composite = s.scores("composite", "1d");
    for v in s.validators.values() {
        if v.status.starts_with("active") {
            f.active += 1;
        }
        if v.attested == Some(true) {
            f.attesting += 1;
        }
        if v.health().0 == "bad" {
            f.problems += 1;
        }
        f.balance_gwei += v.balance_gwei.unwrap_or(0);
        f.income_1d_gwei += v.income_1d_gwei().unwrap_or(0);
        if let Some(e) = s.effectiveness(v.index) {
            eff += e;
            eff_n += 1;
        }
        if let Some(c) = composite.and_then(|m| m.get(&v.index)) {
            comp += c;
            comp_n += 1;
        }
    }
    f.effectiveness_mean_percent = (eff_n > 0).then(|| eff / eff_n as f64);
    f.composite_mean_percent = (comp_n > 0).then(|| comp / comp_n as f64);
    f.apr_7d_percent = s.series("apr_percent", &[("window", "7d")]);
    f
}

fn fig(o: &mut String, label: &str, value: &str) {
    let _ = write!(
        o,
        "<div class=\"fig\"><b>{}</b>{}</div>",
        esc(value),
        esc(label)
    );
}

/// The overview's content.
pub fn render(s: &Snapshot, alerts: &[AlertRow], who: &Principal, page: usize) -> String {
    let mut o = String::with_capacity(256 * s.validators.len().min(PAGE_ROWS) + 8192);
    let f = figures(s);
    let net = s
        .network
        .as_ref()
        .map_or("–".to_string(), |n| n.name.clone());
    let _ = write!(
        o,
        "<h1>Overview <small class=\"idle\">{} · slot {} · epoch {}</small></h1><div class=\"figs\">",
        esc(&net),
        s.slot.map_or("–".into(), |x| x.to_string()),
        s.epoch.map_or("–".into(), |x| x.to_string())
    );
    fig(&mut o, "validators", &f.validators.to_string());
    fig(
        &mut o,
        "attesting",
        &format!("{}/{}", f.attesting, f.active),
    );
    fig(&mut o, "need attention", &f.problems.to_string());
    fig(&mut o, "effectiveness", &pct(f.effectiveness_mean_percent));
    fig(
        &mut o,
        "composite score (1d)",
        &pct(f.composite_mean_percent),
    );
    fig(
        &mut o,
        "income today",
        &format!("{:.5} ETH", f.income_1d_gwei as f64 / 1e9),
    );
    fig(&mut o, "APR (7d)", &pct(f.apr_7d_percent));
    o.push_str("</div>");

    o.push_str("<h2>Nodes</h2>");
    if s.nodes.is_empty() {
        o.push_str("<p class=\"idle\">No node tick yet.</p>");
    } else {
        o.push_str("<table><tr><th>node</th><th>layer</th><th>state</th><th>client</th><th class=\"n\">peers</th><th class=\"n\">head lag (slots)</th><th>error</th></tr>");
        for n in &s.nodes {
            let (class, text) = n.health();
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&n.name),
                esc(&n.layer),
                pill(class, &text),
                esc(n.client.as_deref().unwrap_or("?")),
                esc(n.version.as_deref().unwrap_or("")),
                n.peers.map_or("–".into(), |p| p.to_string()),
                n.head_lag_slots.map_or("–".into(), |p| p.to_string()),
                esc(n.error.as_deref().unwrap_or(""))
            );
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>Recent alerts</h2>");
    o.push_str(&super::alerts::table(alerts, who, 10));

    let mut rows: Vec<_> = s.validators.values().collect();
    let rank = |c: &str| match c {
        "bad" => 0,
        "warn" => 1,
        "ok" => 2,
        _ => 3,
    };
    rows.sort_by_key(|v| (rank(v.health().0), v.index));
    let pages = rows.len().div_ceil(PAGE_ROWS).max(1);
    let page = page.clamp(1, pages);
    let _ = write!(
        o,
        "<h2>Validators</h2><table id=\"validators\"><tr><th class=\"n\">index</th><th>state</th><th>status</th><th class=\"n\">balance (ETH)</th><th class=\"n\">effectiveness</th><th class=\"n\">score (1d)</th><th class=\"n\">income today (gwei)</th><th>node</th><th>client</th></tr>"
    );
    let composite = s.scores("composite", "1d");
    for v in rows.iter().skip((page - 1) * PAGE_ROWS).take(PAGE_ROWS) {
        let (class, text) = v.health();
        let _ = write!(
            o,
            "<tr data-validator=\"{i}\"><td class=\"n\"><a href=\"/validators/{i}\">{i}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            pill(class, text),
            esc(&v.status),
            html::eth(v.balance_gwei),
            pct(s.effectiveness(v.index)),
            pct(composite.and_then(|m| m.get(&v.index).copied())),
            html::gwei(v.income_1d_gwei()),
            esc(v.labels.get("node").map_or("", String::as_str)),
            esc(v.labels.get("client").map_or("", String::as_str)),
            i = v.index
        );
    }
    o.push_str("</table>");
    if rows.is_empty() {
        o.push_str("<p class=\"idle\">No epoch evaluated yet: validators appear after the first completed epoch.</p>");
    }
    if pages > 1 {
        o.push_str("<p>Page ");
        for p in 1..=pages {
            if p == page {
                let _ = write!(o, "<b>{p}</b> ");
            } else {
                let _ = write!(o, "<a href=\"/?page={p}\">{p}</a> ");
            }
        }
        o.push_str("</p>");
    }
    o
}

/// `GET /`.
pub async fn handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(q): Query<OverviewQuery>,
    headers: HeaderMap,
) -> Html<String> {
    let alerts = super::alerts::rows(&st.parts);
    let body = {
        let s = st.parts.findings().read();
        render(&s, &alerts, &who, q.page.unwrap_or(1))
    };
    super::respond(&headers, "Overview", "/", &who, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::web::Role;
    use crate::findings::ValidatorView;

    fn who(role: Role) -> Principal {
        Principal {
            name: "t".into(),
            role,
            csrf: Some("c".into()),
        }
    }

    #[test]
    fn problems_come_first_and_pages_hold_a_thousand_rows() {
        let mut s = Snapshot::default();
        for i in 0..2500u64 {
            s.validators.insert(
                i,
                ValidatorView {
                    index: i,
                    status: "active_ongoing".into(),
                    attested: Some(i != 2100),
                    balance_gwei: Some(32_000_000_000),
                    ..ValidatorView::default()
                },
            );
        }
        let page = render(&s, &[], &who(Role::Viewer), 1);
        assert_eq!(page.matches("data-validator=").count(), PAGE_ROWS);
        let first = page.find("data-validator=").unwrap();
        assert!(
            page[first..].starts_with("data-validator=\"2100\""),
            "the miss is listed first"
        );
        assert!(page.contains("<a href=\"/?page=3\">3</a>"));
        let f = figures(&s);
        assert_eq!(
            (f.validators, f.active, f.attesting, f.problems),
            (2500, 2500, 2499, 1)
        );
        let last = render(&s, &[], &who(Role::Viewer), 3);
        assert_eq!(last.matches("data-validator=").count(), 500);
    }
}
