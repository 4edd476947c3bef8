//! What the dashboard and the reports both show: the HTML frame and formatting helpers
//! ([`html`]), who a page is rendered for ([`Principal`]) and the alert row every page
//! and report lists ([`AlertRow`]). The web serves these; reports render with them; this
//! module reads nothing above the alert engine.

pub mod html;

use crate::config::web::Role;
use serde::Serialize;

/// Who made a request, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token; `None` for bearer tokens (no cookie, no CSRF risk).
    pub csrf: Option<String>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// An alert as the pages show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    pub fingerprint: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub severity: String,
    pub state: String,
    pub since_ms: i64,
    pub summary: String,
    pub validators: Vec<u64>,
    pub affected_count: u64,
    pub silenced: bool,
    pub inhibited: bool,
    pub acked_by: Option<String>,
}

impl AlertRow {
    /// Is it about this validator (listed, or its node's duty alert)?
    pub fn concerns_validator(&self, index: u64, node: Option<&str>) -> bool {
        self.validators.contains(&index)
            || self
                .labels
                .iter()
                .any(|(k, v)| k == "validator" && *v == index.to_string())
            || (self.validators.is_empty()
                && node.is_some_and(|n| self.labels.iter().any(|(k, v)| k == "node" && v == n)))
    }
}
