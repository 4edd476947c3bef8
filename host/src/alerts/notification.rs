//! What is queued for a receiver: one notification about one group, and its delivery
//! record in the outbox (attempts, next attempt, last error).

use super::model::Alert;
use serde::{Deserialize, Serialize};

/// `firing` while any alert of the group fires, else `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// A notification about one group of alerts, for one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub receiver: String,
    /// The route that chose the receiver (`root`, `root.0`, …).
    pub route: String,
    /// The group: route, receiver and the values of the `group_by` labels.
    pub group_key: String,
    pub group_labels: Vec<(String, String)>,
    pub status: Status,
    /// Firing alerts of the group, then the ones resolved since the last notification.
    pub alerts: Vec<Alert>,
    /// Unique per notification; receivers deduplicate on it (header
    /// `Idempotency-Key`, and in the body).
    pub idempotency_key: String,
    /// Wall clock, Unix ms.
    pub created_ms: i64,
    /// Sent by `vigil alerts test`.
    #[serde(default)]
    pub test: bool,
    /// For `exec` receivers: the plugin-suggested action id that triggered it.
    #[serde(default)]
    pub action_id: Option<String>,
    /// The group's `repeat_interval` (ms): a firing group is notified again within
    /// it, so an Alertmanager can expire alerts not re-sent by then.
    #[serde(default)]
    pub repeat_interval_ms: i64,
}

impl Notification {
    /// One line for a human: `[FIRING:3] attestations_missed node=bn-1`.
    pub fn title(&self) -> String {
        let firing = self
            .alerts
            .iter()
            .filter(|a| a.state == super::model::AlertState::Firing)
            .count();
        let labels: Vec<String> = self
            .group_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let test = if self.test { "[TEST] " } else { "" };
        match self.status {
            Status::Firing => format!("{test}[FIRING:{firing}] {}", labels.join(" ")),
            Status::Resolved => format!("{test}[RESOLVED] {}", labels.join(" ")),
        }
    }

    /// The highest severity among its alerts.
    pub fn severity(&self) -> super::model::Severity {
        self.alerts
            .iter()
            .map(|a| a.severity)
            .min()
            .unwrap_or(super::model::Severity::Info)
    }
}

/// Where a queued notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Queued,
    Delivered,
    Dead,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub at_ms: i64,
    pub duration_ms: u64,
    pub ok: bool,
    /// `200 OK`, `timeout after 10 s`, `550 mailbox unavailable`, …
    pub outcome: String,
}

/// A notification in the outbox, the dead letters or the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub receiver: String,
    pub seq: u64,
    pub state: DeliveryState,
    pub notification: Notification,
    /// The delivery log.
    pub attempts: Vec<Attempt>,
    /// Not before (Unix ms): the backoff.
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
}

impl OutboxItem {
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn decode(receiver: &str, seq: u64, bytes: &[u8]) -> Option<OutboxItem> {
        let mut item: OutboxItem = serde_json::from_slice(bytes).ok()?;
        item.receiver = receiver.to_string();
        item.seq = seq;
        Some(item)
    }
}
