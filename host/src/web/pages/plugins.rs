//! Plugins: what is loaded, how it runs, what failed; rescan and lift quarantines.

use crate::view::html::{self, esc, pill};
use crate::web::Parts;
use crate::web::Shared;
use crate::web::auth::Principal;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Html;
use serde::Serialize;
use std::fmt::Write;

/// One plugin as the page and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginRow {
    pub name: String,
    pub version: String,
    pub description: String,
    pub file: String,
    pub subscribes: Vec<String>,
    pub health: crate::plugins::registry::Health,
}

/// Loaded plugins, and files that were refused (path, reason).
pub fn rows(d: &Parts) -> (Vec<PluginRow>, Vec<(String, String)>) {
    let set = d.registry().current();
    let rows = set
        .plugins
        .iter()
        .map(|p| PluginRow {
            name: p.name().to_string(),
            version: p.module.manifest.version.clone(),
            description: p.module.manifest.description.clone(),
            file: p.module.file.display().to_string(),
            subscribes: p
                .module
                .manifest
                .subscribes
                .iter()
                .map(|k| crate::findings::kind_name(*k).to_string())
                .collect(),
            health: p.health(),
        })
        .collect();
    let errors = d
        .registry()
        .file_errors()
        .into_iter()
        .map(|(f, e)| (f.display().to_string(), e))
        .collect();
    (rows, errors)
}

/// Rescan the folder and lift every quarantine; what changed, for the log and page.
pub fn reload(d: &Parts, who: &str) -> String {
    let released: Vec<String> = d
        .registry()
        .current()
        .plugins
        .iter()
        .filter(|p| p.release())
        .map(|p| p.name().to_string())
        .collect();
    let r = d.registry().scan();
    let text = format!(
        "rescanned {}: {} added, {} replaced, {} removed, {} refused; quarantine lifted: {}",
        d.registry().dir().display(),
        r.added.len(),
        r.replaced.len(),
        r.removed.len(),
        r.errors.len(),
        if released.is_empty() {
            "none".into()
        } else {
            released.join(", ")
        }
    );
    tracing::info!(user = who, "plugins reloaded from the dashboard: {text}");
    text
}

/// The page's content.
pub fn render(
    rows: &[PluginRow],
    errors: &[(String, String)],
    who: &Principal,
    note: Option<&str>,
) -> String {
    let mut o = String::from("<h1>Plugins</h1>");
    if let Some(n) = note {
        o.push_str(&html::msg("info", n));
    }
    if who.is_admin() {
        let _ = write!(
            o,
            "<form method=\"post\" action=\"/plugins/reload\">{}<button id=\"reload\">Rescan folder and lift quarantines</button></form>",
            html::csrf_field(who)
        );
    }
    o.push_str("<table><tr><th>plugin</th><th>version</th><th>inputs</th><th>state</th><th class=\"n\">runs</th><th class=\"n\">failures</th><th>last run (UTC)</th><th class=\"n\">last duration (µs)</th><th>last error</th></tr>");
    for p in rows {
        let h = &p.health;
        let state = if h.quarantined {
            pill("bad", "quarantined")
        } else if h.consecutive_failures > 0 {
            pill("warn", "failing")
        } else {
            pill("ok", "running")
        };
        let _ = write!(
            o,
            "<tr><td><b>{}</b><br><small>{}</small></td><td>{}</td><td>{}</td><td>{state}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&p.name),
            esc(&p.description),
            esc(&p.version),
            esc(&p.subscribes.join(", ")),
            h.calls,
            h.failures_total,
            h.last_run_ms.map_or("–".into(), html::time),
            h.last_duration_us,
            esc(h.last_error.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</table>");
    if rows.is_empty() {
        o.push_str(
            "<p class=\"idle\">No plugin loaded: build them with `vigil plugins build`.</p>",
        );
    }
    if !errors.is_empty() {
        o.push_str("<h2>Refused files</h2><table><tr><th>file</th><th>reason</th></tr>");
        for (f, e) in errors {
            let _ = write!(o, "<tr><td>{}</td><td>{}</td></tr>", esc(f), esc(e));
        }
        o.push_str("</table>");
    }
    o
}

/// `GET /plugins`.
pub async fn handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Html<String> {
    let (rows, errors) = rows(&st.parts);
    super::respond(
        &headers,
        "Plugins",
        "/plugins",
        &who,
        render(&rows, &errors, &who, None),
    )
}

/// `POST /plugins/reload` (admin).
pub async fn reload_handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Html<String> {
    let st2 = st.clone();
    let name = who.name.clone();
    let note = tokio::task::spawn_blocking(move || reload(&st2.parts, &name))
        .await
        .unwrap_or_else(|_| "reload failed".into());
    let (rows, errors) = rows(&st.parts);
    super::respond(
        &headers,
        "Plugins",
        "/plugins",
        &who,
        render(&rows, &errors, &who, Some(&note)),
    )
}
