//! Configuration: the running config with secrets redacted; admins edit it here and
//! the edit goes through validation and the daemon's hot-reload path.

use crate::view::html::{self, esc};
use crate::web::Shared;
use crate::web::auth::Principal;
use crate::web::config_edit::{self, EditError};
use axum::extract::{Extension, Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write;

/// The page's content: `text` is what the editor holds (the redacted config, or a
/// refused edit to fix).
pub fn render(file: &str, text: &str, who: &Principal, note: Option<(&str, String)>) -> String {
    let mut o = String::from("<h1>Configuration</h1>");
    let _ = write!(
        o,
        "<p>File <code>{}</code>. Secrets show as <code>{}</code>; leave them so to keep them.</p>",
        esc(file),
        esc(config_edit::REDACTED)
    );
    if let Some((kind, n)) = note {
        o.push_str(&html::msg(kind, &n));
    }
    if who.is_admin() {
        let _ = write!(
            o,
            "<form method=\"post\" action=\"/config\" id=\"config-form\">{}<textarea name=\"text\" rows=\"30\" spellcheck=\"false\">{}</textarea><p><button name=\"action\" value=\"check\">Validate</button> <button name=\"action\" value=\"apply\" id=\"apply\">Validate and apply</button></p></form>",
            html::csrf_field(who),
            esc(text)
        );
    } else {
        let _ = write!(
            o,
            "<pre id=\"config-text\">{}</pre><p class=\"idle\">Viewers cannot change the configuration.</p>",
            esc(text)
        );
    }
    o
}

/// `GET /config`.
pub async fn handler(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Html<String> {
    let cfg = st.parts.config();
    let text = config_edit::redacted_text(&cfg.source);
    // No live refresh here: it would overwrite an edit in progress.
    if headers.contains_key("x-fragment") {
        return Html(render(&cfg.file.display().to_string(), &text, &who, None));
    }
    Html(html::page(
        "Configuration",
        "/config",
        Some(&who),
        false,
        &render(&cfg.file.display().to_string(), &text, &who, None),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ConfigForm {
    pub text: String,
    pub action: Option<String>,
}

/// The message for a refused edit: key, line and reason.
pub fn refusal(e: &EditError) -> String {
    format!(
        "refused, nothing changed: {}{}{}",
        e.key().map(|k| format!("key {k}: ")).unwrap_or_default(),
        e.line().map(|l| format!("(line {l}) ")).unwrap_or_default(),
        e.reason()
    )
}

/// `POST /config` (admin): validate, and apply when asked.
pub async fn submit(
    State(st): State<Shared>,
    Extension(who): Extension<Principal>,
    Form(f): Form<ConfigForm>,
) -> Response {
    let apply = f.action.as_deref() != Some("check");
    let st2 = st.clone();
    let name = who.name.clone();
    let text = f.text.replace("\r\n", "\n");
    let edited = text.clone();
    let result = tokio::task::spawn_blocking(move || {
        if apply {
            config_edit::apply(&st2.parts, &edited, &name).map(|changed| {
                if changed {
                    "applied: the new configuration is in force".to_string()
                } else {
                    "no change".to_string()
                }
            })
        } else {
            config_edit::prepare(&st2.parts, &edited).map(|_| "valid (not applied)".to_string())
        }
    })
    .await;
    let cfg = st.parts.config();
    let file = cfg.file.display().to_string();
    match result {
        Ok(Ok(note)) => {
            let text = config_edit::redacted_text(&cfg.source);
            let text = if apply { text } else { f.text.clone() };
            Html(html::page(
                "Configuration",
                "/config",
                Some(&who),
                false,
                &render(&file, &text, &who, Some(("info", note))),
            ))
            .into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(user = %who.name, "config edit refused: {}", refusal(&e));
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Html(html::page(
                    "Configuration",
                    "/config",
                    Some(&who),
                    false,
                    // The edit stays in the editor (redacted again) to be fixed.
                    &render(&file, &text, &who, Some(("err", refusal(&e)))),
                )),
            )
                .into_response()
        }
        Err(_) => crate::web::refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
            "config check failed",
        ),
    }
}
