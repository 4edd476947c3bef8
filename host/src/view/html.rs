//! The page frame and small HTML helpers shared by every page.
//!
//! Pages are complete without JavaScript; a few lines of script subscribe to `/events`
//! and swap in the page's fresh `<main>` when the daemon has news (once a slot at
//! most), so a page left open stays current.

use super::Principal;
use std::fmt::Write;

pub use crate::chart::esc;

/// Inline style: no extra request, nothing for an unauthenticated client to fetch.
const STYLE: &str = r#"
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1d2b36;color:#fff;padding:.5em 1em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a{color:#cfe3f3;text-decoration:none}header a.on{color:#fff;font-weight:bold}
header .who{margin-left:auto;font-size:.9em}
main{padding:1em;max-width:1200px}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.92em}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#0a7d3b}.warn{color:#a86400}.bad{color:#c0182b;font-weight:bold}.idle{color:#777}
.pill{display:inline-block;padding:0 .5em;border-radius:1em;font-size:.85em;border:1px solid currentColor}
.figs{display:flex;gap:1em;flex-wrap:wrap}.fig{background:#fff;border:1px solid #ddd;padding:.6em 1em;min-width:9em}
.fig b{display:block;font-size:1.4em}
.msg{padding:.6em 1em;border:1px solid;margin:.6em 0}.msg.err{color:#c0182b;background:#fff0f0}.msg.info{color:#0a4d7d;background:#eef6ff}
form.inline{display:inline}textarea{width:100%;font-family:monospace;font-size:.85em}
svg{max-width:100%;height:auto;background:#fff;border:1px solid #eee;margin:.3em 0}
"#;

/// Script: live refresh over SSE; without it the page is simply static.
const SCRIPT: &str = r#"
(function(){if(!window.EventSource)return;var busy=false;
var es=new EventSource('/events');
es.addEventListener('update',function(){if(busy||document.querySelector('form textarea:focus,form input:focus'))return;busy=true;
fetch(location.href,{headers:{'X-Fragment':'1'},credentials:'same-origin'}).then(function(r){return r.ok?r.text():null}).then(function(t){
if(t!==null){var m=document.getElementById('live');if(m){m.innerHTML=t;document.body.dataset.updated=Date.now();}}busy=false}).catch(function(){busy=false})});})();
"#;

/// The navigation entries: path, label.
const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/analytics", "Analytics"),
    ("/alerts", "Alerts"),
    ("/plugins", "Plugins"),
    ("/config", "Configuration"),
    ("/api/v1", "API"),
];

/// A complete page around `body`; `live` pages refresh their `<main>` on news.
pub fn page(title: &str, active: &str, who: Option<&Principal>, live: bool, body: &str) -> String {
    let mut o = String::with_capacity(body.len() + 4096);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{} · Vigil</title><style>{STYLE}</style></head><body><header><b>Vigil</b>",
        esc(title)
    );
    if let Some(p) = who {
        for (href, label) in NAV {
            let on = if href == active { " class=\"on\"" } else { "" };
            let _ = write!(o, "<a href=\"{href}\"{on}>{label}</a>");
        }
        let _ = write!(
            o,
            "<span class=\"who\">{} ({}) <form class=\"inline\" method=\"post\" action=\"/logout\">{}<button>Log out</button></form></span>",
            esc(&p.name),
            p.role.as_str(),
            csrf_field(p)
        );
    }
    let _ = write!(o, "</header><main id=\"live\">{body}</main>");
    if live {
        let _ = write!(o, "<script>{SCRIPT}</script>");
    }
    o.push_str("</body></html>");
    o
}

/// The hidden CSRF field of a form posted with a session.
pub fn csrf_field(p: &Principal) -> String {
    match &p.csrf {
        Some(t) => format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(t)),
        None => String::new(),
    }
}

/// A message box.
pub fn msg(kind: &str, text: &str) -> String {
    format!(
        "<div class=\"msg {kind}\" role=\"status\">{}</div>",
        esc(text)
    )
}

/// Gwei as ETH with 5 decimals, or "–".
pub fn eth(gwei: Option<i64>) -> String {
    gwei.map_or("–".into(), |g| format!("{:.5}", g as f64 / 1e9))
}

/// A signed gwei amount, or "–".
pub fn gwei(g: Option<i64>) -> String {
    g.map_or("–".into(), |g| format!("{g:+}"))
}

/// A percentage with one decimal, or "–".
pub fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} %"))
}

/// A coloured status pill.
pub fn pill(class: &str, text: &str) -> String {
    format!("<span class=\"pill {class}\">{}</span>", esc(text))
}

/// Labels as `k=v, …`.
pub fn labels(l: &[(String, String)]) -> String {
    esc(&l
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", "))
}

/// Unix ms as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::chart::civil(secs.div_euclid(86_400));
    let r = secs.rem_euclid(86_400);
    format!(
        "{y}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        r / 3600,
        r % 3600 / 60,
        r % 60
    )
}
