//! Alerts and silences: the alert engine's active alerts, their history, silences;
//! admins acknowledge, silence (from an alert or by matchers) and expire silences.

use crate::view::html::{self, esc, pill};
use crate::web::Parts;
use crate::web::Shared;
use crate::web::auth::Principal;
use axum::extract::{Extension, Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

pub use crate::view::AlertRow;

/// A silence as the pages show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SilenceRow {
    pub id: String,
    pub matchers: Vec<String>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub author: String,
    pub comment: String,
    pub state: String,
}

/// Why an alert action failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionError {
    pub status: StatusCode,
    pub message: String,
}

/// The active alerts, most severe and newest first.
pub fn rows(d: &Parts) -> Vec<AlertRow> {
    let mut rows = source::active(d);
    rows.sort_by(|a, b| {
        crate::findings::priority_rank(&a.severity)
            .cmp(&crate::findings::priority_rank(&b.severity))
            .then(b.since_ms.cmp(&a.since_ms))
    });
    rows
}

/// The active alerts as stored, for the CLI when no daemon runs.
pub fn rows_from_store(
    cfg: &crate::config::LoadedConfig,
    store: std::sync::Arc<crate::store::Store>,
) -> Vec<AlertRow> {
    let engine = crate::alerts::Settings::from_loaded(cfg)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            crate::alerts::Engine::new(s, store, std::sync::Arc::new(crate::clock::SystemClock))
                .map_err(|e| e.to_string())
        });
    match engine {
        Ok(e) => source::from_engine(&e),
        Err(e) => {
            tracing::warn!("stored alerts not read: {e}");
            Vec::new()
        }
    }
}

/// `(state, severity, count)` for `/metrics`.
pub fn counts(d: &Parts) -> Vec<(String, String, usize)> {
    let mut m: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for a in source::active(d) {
        *m.entry((a.state, a.severity)).or_default() += 1;
    }
    m.into_iter().map(|((s, v), n)| (s, v, n)).collect()
}

/// Silences (active and pending first).
pub fn silences(d: &Parts) -> Vec<SilenceRow> {
    source::silences(d)
}

/// Acknowledge an alert.
pub fn ack(d: &Parts, fingerprint: &str, who: &str) -> Result<(), ActionError> {
    source::ack(d, fingerprint, who)?;
    d.findings().touch();
    Ok(())
}

/// Create a silence from `name=value` matchers lasting `hours`; its id.
pub fn silence(
    d: &Parts,
    matchers: &[String],
    hours: f64,
    who: &str,
    comment: &str,
) -> Result<String, ActionError> {
    if !(hours > 0.0 && hours <= 24.0 * 365.0) {
        return Err(ActionError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!("duration {hours} h: use more than 0 and at most 8760 hours"),
        });
    }
    let id = source::add_silence(d, matchers, hours, who, comment)?;
    tracing::info!(user = who, silence = %id, matchers = %matchers.join(","), "silence created from the dashboard");
    d.findings().touch();
    Ok(id)
}

/// End a silence now.
pub fn expire(d: &Parts, id: &str, who: &str) -> Result<(), ActionError> {
    source::expire_silence(d, id)?;
    tracing::info!(user = who, silence = %id, "silence expired from the dashboard");
    d.findings().touch();
    Ok(())
}

/// An alerts table with quick actions for admins; at most `limit` rows.
pub fn table(alerts: &[AlertRow], who: &Principal, limit: usize) -> String {
    if alerts.is_empty() {
        return "<p class=\"idle\">No active alert.</p>".into();
    }
    let mut o = String::from(
        "<table class=\"alerts\"><tr><th>severity</th><th>state</th><th>alert</th><th>subject</th><th>summary</th><th>since (UTC)</th><th></th></tr>",
    );
    for a in alerts.iter().take(limit) {
        let class = match a.severity.as_str() {
            "critical" | "high" => "bad",
            "medium" | "low" => "warn",
            _ => "idle",
        };
        let mut flags = Vec::new();
        if a.silenced {
            flags.push("silenced".to_string());
        }
        if a.inhibited {
            flags.push("inhibited".to_string());
        }
        if let Some(by) = &a.acked_by {
            flags.push(format!("acked by {by}"));
        }
        let mut actions = String::new();
        if who.is_admin() {
            if a.acked_by.is_none() && a.state != "resolved" {
                let _ = write!(
                    actions,
                    "<form class=\"inline\" method=\"post\" action=\"/alerts/{fp}/ack\">{c}<button>Ack</button></form> ",
                    fp = esc(&a.fingerprint),
                    c = html::csrf_field(who)
                );
            }
            let _ = write!(
                actions,
                "<form class=\"inline\" method=\"post\" action=\"/silences\">{c}<input type=\"hidden\" name=\"matchers\" value=\"{m}\"><input type=\"hidden\" name=\"hours\" value=\"2\"><input type=\"hidden\" name=\"comment\" value=\"silenced from the alert list\"><button>Silence 2 h</button></form>",
                c = html::csrf_field(who),
                m = esc(&std::iter::once(format!("alertname={}", a.name))
                    .chain(a.labels.iter().map(|(k, v)| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(", "))
            );
        }
        let subject = if a.affected_count > 0 {
            format!(
                "{} · validators {}{}",
                html::labels(&a.labels),
                esc(&a
                    .validators
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")),
                if a.affected_count as usize > a.validators.len() {
                    format!(" (of {})", a.affected_count)
                } else {
                    String::new()
                }
            )
        } else {
            html::labels(&a.labels)
        };
        let _ = write!(
            o,
            "<tr data-fingerprint=\"{}\"><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.fingerprint),
            pill(class, &a.severity),
            esc(&a.state),
            esc(&flags.join(", ")),
            esc(&a.name),
            subject,
            esc(&a.summary),
            html::time(a.since_ms),
            actions
        );
    }
    o.push_str("</table>");
    if alerts.len() > limit {
        let _ = write!(
            o,
            "<p><a href=\"/alerts\">All {} alerts</a></p>",
            alerts.len()
        );
    }
    o
}

/// The alerts page's content.
pub fn render(
    alerts: &[AlertRow],
    silences: &[SilenceRow],
    who: &Principal,
    note: Option<(&str, &str)>,
) -> String {
    render_with_feed(alerts, silences, &[], who, note)
}

/// The newest alert events (the feed), newest first.
pub fn feed(d: &Parts, limit: usize) -> Vec<crate::alerts::AlertEvent> {
    match d.alerts().history(None, limit) {
        Ok(mut v) => {
            v.reverse();
            v
        }
        Err(e) => {
            tracing::warn!("alert history not read: {e}");
            Vec::new()
        }
    }
}

fn feed_html(events: &[crate::alerts::AlertEvent]) -> String {
    if events.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "<h2>Recent events</h2><table id=\"feed\"><tr><th>time (UTC)</th><th>event</th><th>alert</th><th>detail</th></tr>",
    );
    for e in events {
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html::time(e.at_ms),
            esc(&kind),
            esc(&e.name),
            esc(&e.detail)
        );
    }
    o.push_str("</table>");
    o
}

/// The alerts page's content with the event feed.
pub fn render_with_feed(
    alerts: &[AlertRow],
    silences: &[SilenceRow],
    events: &[crate::alerts::AlertEvent],
    who: &Principal,
    note: Option<(&str, &str)>,
) -> String {
    let mut o = String::from("<h1>Alerts</h1>");
    if let Some((kind, n)) = note {
        o.push_str(&html::msg(kind, n));
    }
    o.push_str(&table(alerts, who, usize::MAX));
    o.push_str("<h2>Silences</h2>");
    if silences.is_empty() {
        o.push_str("<p class=\"idle\">No silence.</p>");
    } else {
        o.push_str("<table id=\"silences\"><tr><th>id</th><th>state</th><th>matchers</th><th>from (UTC)</th><th>until (UTC)</th><th>by</th><th>comment</th><th></th></tr>");
        for s in silences {
            let action = if who.is_admin() && s.state != "expired" {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/silences/{}/expire\">{}<button>Expire</button></form>",
                    esc(&s.id),
                    html::csrf_field(who)
                )
            } else {
                String::new()
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
                esc(&s.id),
                esc(&s.state),
                esc(&s.matchers.join(", ")),
                html::time(s.starts_ms),
                html::time(s.ends_ms),
                esc(&s.author),
                esc(&s.comment)
            );
        }
        o.push_str("</table>");
    }
    if who.is_admin() {
        let _ = write!(
            o,
            "<h2>New silence</h2><form method=\"post\" action=\"/silences\" id=\"silence-form\">{}<p><label>Matchers <input name=\"matchers\" size=\"60\" placeholder=\"alertname=attestations_missed, validator=6\" required></label></p><p><label>Hours <input name=\"hours\" value=\"2\" size=\"5\"></label> <label>Comment <input name=\"comment\" size=\"40\" placeholder=\"why\"></label></p><p><button id=\"create-silence\">Create silence</button></p></form>",
            html::csrf_field(who)
        );
    }
    o.push_str(&feed_html(events));
    o
}

/// `GET /alerts`.
pub async fn handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Html<String> {
    let body = render_with_feed(
        &rows(&st.parts),
        &silences(&st.parts),
        &feed(&st.parts, 50),
        &who,
        None,
    );
    super::respond(&headers, "Alerts", "/alerts", &who, body)
}

fn after_action(st: &Shared, who: &Principal, result: Result<String, ActionError>) -> Response {
    match result {
        Ok(_) => Redirect::to("/alerts").into_response(),
        Err(e) => (
            e.status,
            Html(html::page(
                "Alerts",
                "/alerts",
                Some(who),
                false,
                &render(
                    &rows(&st.parts),
                    &silences(&st.parts),
                    who,
                    Some(("err", &e.message)),
                ),
            )),
        )
            .into_response(),
    }
}

/// `POST /alerts/{fingerprint}/ack`.
pub async fn ack_handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(fp): Path<String>,
) -> Response {
    let r = ack(&st.parts, &fp, &who.name).map(|_| String::new());
    after_action(&st, &who, r)
}

#[derive(Debug, Deserialize)]
pub struct SilenceForm {
    /// Comma-separated `name=value` (or `!=`, `=~`, `!~`) matchers.
    pub matchers: String,
    pub hours: Option<String>,
    pub comment: Option<String>,
}

/// Split a comma-separated matcher list.
pub fn split_matchers(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// `POST /silences`.
pub async fn silence_handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Form(f): Form<SilenceForm>,
) -> Response {
    let hours = f
        .hours
        .as_deref()
        .unwrap_or("2")
        .trim()
        .parse::<f64>()
        .unwrap_or(f64::NAN);
    let r = silence(
        &st.parts,
        &split_matchers(&f.matchers),
        hours,
        &who.name,
        f.comment.as_deref().unwrap_or(""),
    );
    after_action(&st, &who, r)
}

/// `POST /silences/{id}/expire`.
pub async fn expire_handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let r = expire(&st.parts, &id, &who.name).map(|_| String::new());
    after_action(&st, &who, r)
}

/// Where alert state comes from: the alert engine (`parts.alerts()`).
mod source {
    use super::{ActionError, AlertRow, SilenceRow};
    use crate::alerts::{AlertError, Engine, Matcher, Silence, SilenceState};
    use crate::web::Parts;
    use axum::http::StatusCode;

    fn row(a: crate::alerts::Alert) -> AlertRow {
        AlertRow {
            fingerprint: a.fingerprint,
            name: a.name,
            labels: a.labels,
            severity: a.severity.as_str().to_string(),
            state: a.state.as_str().to_string(),
            since_ms: a.since_ms,
            summary: a.summary,
            validators: a.validators,
            affected_count: a.affected_count,
            silenced: !a.silenced_by.is_empty(),
            inhibited: !a.inhibited_by.is_empty(),
            acked_by: a.acked.map(|k| k.by),
        }
    }

    fn err(e: AlertError) -> ActionError {
        let status = match e {
            AlertError::UnknownAlert(_)
            | AlertError::UnknownSilence(_)
            | AlertError::UnknownReceiver(_)
            | AlertError::UnknownDeadLetter { .. } => StatusCode::NOT_FOUND,
            AlertError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AlertError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ActionError {
            status,
            message: e.to_string(),
        }
    }

    pub(super) fn active(d: &Parts) -> Vec<AlertRow> {
        d.alerts().active().into_iter().map(row).collect()
    }

    pub(super) fn from_engine(e: &Engine) -> Vec<AlertRow> {
        e.active().into_iter().map(row).collect()
    }

    pub(super) fn silences(d: &Parts) -> Vec<SilenceRow> {
        let now = crate::clock::now_ms();
        let mut rows: Vec<SilenceRow> = d
            .alerts()
            .silences()
            .into_iter()
            .map(|s| {
                let state = match s.state_at(now) {
                    SilenceState::Pending => "pending",
                    SilenceState::Active => "active",
                    SilenceState::Expired => "expired",
                };
                SilenceRow {
                    id: s.id,
                    matchers: s.matchers.iter().map(|m| m.to_string()).collect(),
                    starts_ms: s.starts_ms,
                    ends_ms: s.ends_ms,
                    author: s.author,
                    comment: s.comment,
                    state: state.to_string(),
                }
            })
            .collect();
        rows.sort_by_key(|r| (r.state == "expired", -r.starts_ms));
        rows
    }

    pub(super) fn ack(d: &Parts, fp: &str, who: &str) -> Result<(), ActionError> {
        d.alerts().ack(fp, who).map(|_| ()).map_err(err)
    }

    pub(super) fn add_silence(
        d: &Parts,
        m: &[String],
        hours: f64,
        who: &str,
        comment: &str,
    ) -> Result<String, ActionError> {
        let matchers = m
            .iter()
            .map(|t| Matcher::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ActionError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!("{e} (write name=value, name!=value, name=~regex or name!~regex, comma-separated)"),
            })?;
        let now = crate::clock::now_ms();
        d.alerts()
            .add_silence(Silence {
                id: String::new(),
                matchers,
                starts_ms: now,
                ends_ms: now + (hours * 3_600_000.0) as i64,
                author: who.to_string(),
                comment: comment.to_string(),
                created_ms: now,
                expired_ms: None,
                state: SilenceState::Active,
            })
            .map_err(err)
    }

    pub(super) fn expire_silence(d: &Parts, id: &str) -> Result<(), ActionError> {
        d.alerts().expire_silence(id).map(|_| ()).map_err(err)
    }
}
