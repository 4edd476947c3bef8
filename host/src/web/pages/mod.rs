//! The HTML pages. Each page is a pure render function of the data it shows (used by
//! the handlers, the benchmark and the tests) plus a thin handler.

pub mod alerts;
pub mod analytics;
pub mod config;
pub mod overview;
pub mod plugins;
pub mod validator;

use super::Shared;
use super::auth::Principal;
use axum::Router;
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::{get, post};

/// Page routes (behind authentication).
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(overview::handler))
        .route("/validators/{index}", get(validator::handler))
        .route("/analytics", get(analytics::handler))
        .route("/alerts", get(alerts::handler))
        .route("/alerts/{fingerprint}/ack", post(alerts::ack_handler))
        .route("/silences", post(alerts::silence_handler))
        .route("/silences/{id}/expire", post(alerts::expire_handler))
        .route("/plugins", get(plugins::handler))
        .route("/plugins/reload", post(plugins::reload_handler))
        .route("/config", get(config::handler).post(config::submit))
}

/// The full page, or only its `<main>` content when the live script asks.
pub fn respond(
    headers: &HeaderMap,
    title: &str,
    active: &str,
    who: &Principal,
    body: String,
) -> Html<String> {
    if headers.contains_key("x-fragment") {
        Html(body)
    } else {
        Html(crate::view::html::page(
            title,
            active,
            Some(who),
            true,
            &body,
        ))
    }
}
