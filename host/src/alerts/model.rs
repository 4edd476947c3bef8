//! What the engine tracks and shows: alerts, their events, acknowledgements.
//! Every type here is `Serialize`: the web serves them as JSON and the CLI prints them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How urgent an alert is. P0-P3 are `critical`, `high`, `medium`, `low`; `info` is a
/// notice that never pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    /// Lowercase name, as in labels and matchers.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    /// `P0`..`P3`, or `info`.
    pub fn priority(self) -> &'static str {
        match self {
            Severity::Critical => "P0",
            Severity::High => "P1",
            Severity::Medium => "P2",
            Severity::Low => "P3",
            Severity::Info => "info",
        }
    }

    /// From a name or a priority (`critical`, `P0`, …), case-insensitive.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "critical" | "p0" => Severity::Critical,
            "high" | "p1" => Severity::High,
            "medium" | "p2" => Severity::Medium,
            "low" | "p3" => Severity::Low,
            "info" => Severity::Info,
            _ => return None,
        })
    }
}

impl From<crate::contract::Severity> for Severity {
    fn from(s: crate::contract::Severity) -> Severity {
        use crate::contract::Severity as P;
        match s {
            P::Critical => Severity::Critical,
            P::High => Severity::High,
            P::Medium => Severity::Medium,
            P::Low => Severity::Low,
            P::Info => Severity::Info,
        }
    }
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Reported, but not yet for long enough (`for`).
    Pending,
    /// Reported for long enough: notified.
    Firing,
    /// No longer reported (after `keep_firing_for`).
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// Who acknowledged an alert, and when. Cleared when the alert resolves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub at_ms: i64,
}

/// One alert: a condition (name + subject) and where it is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: a hash of the name and the subject labels.
    pub fingerprint: String,
    pub name: String,
    /// The subject labels, sorted by name.
    pub labels: Vec<(String, String)>,
    pub severity: Severity,
    pub state: AlertState,
    /// When it entered its current state (Unix ms, evaluation time).
    pub since_ms: i64,
    /// When it was first reported in this episode.
    pub started_ms: i64,
    /// When it was last reported.
    pub last_seen_ms: i64,
    pub summary: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// Affected validators (bounded list) and how many in all.
    pub validators: Vec<u64>,
    pub affected_count: u64,
    /// The plugin that reported it (`vigil` for the host's own conditions).
    pub plugin: String,
    /// The input kind it was reported on (`node`, `epoch`, `slot`, `reset`).
    pub input_kind: String,
    /// Ids of the silences that mute it now.
    pub silenced_by: Vec<String>,
    /// Fingerprints of the firing alerts that inhibit it now.
    pub inhibited_by: Vec<String>,
    pub acked: Option<Ack>,
    /// Changing state too often: resolves only after `flap_hold`.
    pub flapping: bool,
}

impl Alert {
    /// The value of label `key`: subject labels, plus `name`, `severity` and `plugin`
    /// (the reporting plugin, unless the subject names one, as `plugin_failed` does).
    pub fn label(&self, key: &str) -> Option<&str> {
        let subject = || {
            self.labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        match key {
            "name" | "alertname" => Some(&self.name),
            "severity" => Some(self.severity.as_str()),
            "plugin" => subject().or(Some(&self.plugin)),
            _ => subject(),
        }
    }

    /// Every label, the derived ones (`name`, `severity`, `plugin`) first.
    pub fn all_labels(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("name".to_string(), self.name.clone()),
            ("severity".to_string(), self.severity.as_str().to_string()),
        ];
        if self.label("plugin") == Some(self.plugin.as_str()) {
            out.push(("plugin".to_string(), self.plugin.clone()));
        }
        out.extend(
            self.labels
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "name" | "severity"))
                .cloned(),
        );
        out
    }

    /// Muted by a silence or an inhibition: tracked and shown, not notified.
    pub fn muted(&self) -> bool {
        !self.silenced_by.is_empty() || !self.inhibited_by.is_empty()
    }

    /// `name{k=v,…}` for logs.
    pub fn display_name(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// The identity key of a condition: name and sorted subject labels. Cheap to build; the
/// fingerprint is a hash of it.
pub fn identity(name: &str, subject: &[(String, String)]) -> String {
    let mut labels: Vec<&(String, String)> = subject.iter().collect();
    labels.sort();
    let mut key = String::with_capacity(name.len() + 16 * labels.len());
    key.push_str(name);
    for (k, v) in labels {
        key.push('\u{1f}');
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

/// The fingerprint of an identity key: 16 hex digits of SHA-256.
pub fn fingerprint(identity: &str) -> String {
    let d = Sha256::digest(identity.as_bytes());
    hex::encode(&d[..8])
}

/// What happened to an alert (history rows and the dashboard feed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Pending,
    Firing,
    Resolved,
    /// A pending alert stopped being reported before it fired.
    Cleared,
    /// The affected validators of a firing alert changed.
    AffectedChanged,
    Acked,
    Silenced,
    Unsilenced,
    Inhibited,
    Uninhibited,
    Flapping,
    /// A notification including it was queued for a receiver.
    Notified,
    /// A silence was created or expired (fingerprint empty).
    SilenceAdded,
    SilenceExpired,
}

/// One event of an alert's history, and of the dashboard feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub at_ms: i64,
    pub fingerprint: String,
    pub name: String,
    pub kind: EventKind,
    /// The alert's state after the event.
    pub state: Option<AlertState>,
    pub severity: Option<Severity>,
    /// Receiver (notified), silence id, who acked, the inhibiting alert, or a summary.
    pub detail: String,
}
