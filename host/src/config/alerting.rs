//! `[alerting]`, `[[receiver]]`, `[[route]]` and `[[inhibit]]`: the alert engine's keys.
//!
//! Kept as plain strings and options here (so serde's strict parsing names unknown keys
//! and lines); [`crate::alerts::settings`] turns them into checked values, and every
//! refusal there names the key and its line too.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[alerting]`: lifecycle defaults and the root of the routing tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Receiver of the root route: every alert no `[[route]]` claims goes here. None:
    /// alerts are tracked and shown, but not sent anywhere.
    #[serde(default)]
    pub receiver: Option<String>,
    /// Labels that split alerts into notifications (`name` is the condition's name,
    /// `severity`, `plugin`, and every subject label). `["..."]`: every label.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first notification.
    #[serde(default = "default_group_wait")]
    pub group_wait: String,
    /// How long a group waits before notifying about changes (new, resolved, a
    /// changed affected set).
    #[serde(default = "default_group_interval")]
    pub group_interval: String,
    /// How long before an unchanged, still-firing group is notified again.
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval: String,
    /// How long a condition must hold before it fires: an integer counts evaluations
    /// (1 = at once), a string is a duration ("2m").
    #[serde(default = "default_for", rename = "for")]
    pub for_: ForSpec,
    /// How long a firing alert stays firing after its plugin stops reporting it.
    #[serde(default = "default_zero")]
    pub keep_firing_for: String,
    /// How long resolved alerts stay listed as `resolved` (their history stays longer).
    #[serde(default = "default_resolved_retention")]
    pub resolved_retention: String,
    /// Flap damping: this many state changes within `flap_window` make an alert
    /// flapping; a flapping alert resolves only after `flap_hold` without a report.
    #[serde(default = "default_flap_threshold")]
    pub flap_threshold: u32,
    #[serde(default = "default_flap_window")]
    pub flap_window: String,
    #[serde(default = "default_flap_hold")]
    pub flap_hold: String,
    /// How long alert history (and the delivery log) is kept.
    #[serde(default = "default_history_retention")]
    pub history_retention: String,
    /// The built-in rule: `node_unreachable` or `cl_syncing` inhibits the duty alerts
    /// of the same `node`. `[[inhibit]]` rules add to it.
    #[serde(default = "default_true")]
    pub default_inhibition: bool,
    /// Commands an `exec` receiver may run (absolute paths). Empty: no exec receivers.
    #[serde(default)]
    pub exec_allowlist: Vec<PathBuf>,
    /// Local control socket for `vigil alerts`/`vigil outbox` while the daemon runs;
    /// default: the store's path + `.sock`. Relative to the config file.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// Per-condition overrides: `[alerting.alert.<name>]`.
    #[serde(default)]
    pub alert: BTreeMap<String, AlertOverride>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            receiver: None,
            group_by: default_group_by(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat_interval(),
            for_: default_for(),
            keep_firing_for: default_zero(),
            resolved_retention: default_resolved_retention(),
            flap_threshold: default_flap_threshold(),
            flap_window: default_flap_window(),
            flap_hold: default_flap_hold(),
            history_retention: default_history_retention(),
            default_inhibition: true,
            exec_allowlist: Vec::new(),
            socket: None,
            alert: BTreeMap::new(),
        }
    }
}

/// `for`: evaluations or a duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ForSpec {
    Evaluations(u32),
    Duration(String),
}

/// `[alerting.alert.<name>]`: lifecycle and severity for one condition name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AlertOverride {
    #[serde(default, rename = "for")]
    pub for_: Option<ForSpec>,
    #[serde(default)]
    pub keep_firing_for: Option<String>,
    /// Replace the plugin's severity: critical, high, medium, low, info (or P0-P3).
    #[serde(default)]
    pub severity: Option<String>,
}

fn default_group_by() -> Vec<String> {
    vec!["name".into()]
}
fn default_group_wait() -> String {
    "5s".into()
}
fn default_group_interval() -> String {
    "1m".into()
}
fn default_repeat_interval() -> String {
    "4h".into()
}
fn default_for() -> ForSpec {
    ForSpec::Evaluations(1)
}
fn default_zero() -> String {
    "0s".into()
}
fn default_resolved_retention() -> String {
    "1h".into()
}
fn default_flap_threshold() -> u32 {
    6
}
fn default_flap_window() -> String {
    "1h".into()
}
fn default_flap_hold() -> String {
    "10m".into()
}
fn default_history_retention() -> String {
    "30d".into()
}
fn default_true() -> bool {
    true
}

/// `[[receiver]]`: where notifications go. Keys not used by the `kind` are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name, used by routes and `vigil alerts test NAME`.
    pub name: String,
    /// `webhook`, `email`, `alertmanager` or `exec`.
    pub kind: String,
    /// webhook: `alertmanager` (generic JSON, the default), `slack`, `discord`,
    /// `pagerduty`, `telegram`, `ntfy`.
    #[serde(default)]
    pub format: Option<String>,
    /// webhook / alertmanager: target URL (alertmanager: its base URL). `{token}` in a
    /// webhook URL is replaced by the token (Telegram's bot URL).
    #[serde(default)]
    pub url: Option<String>,
    /// webhook: HMAC-SHA256 key for `X-Vigil-Signature`, from an environment variable
    /// or a file (never written in this file).
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// webhook / alertmanager: token (PagerDuty routing key, Telegram bot token, ntfy
    /// or Alertmanager bearer token), from the environment or a file.
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// webhook, telegram format: the chat id.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// email: SMTP server.
    #[serde(default)]
    pub smtp_host: Option<String>,
    /// email: port (default 587 for starttls, 465 for implicit, 25 for none).
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// email: `starttls` (default), `implicit` or `none` (local relays only).
    #[serde(default)]
    pub tls: Option<String>,
    /// email: extra CA certificate (PEM) to trust, e.g. a private relay's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// email: SMTP user; the password from `password_env` or `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// email: sender and recipients.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    /// exec: absolute path of the command (must be in `[alerting] exec_allowlist`).
    #[serde(default)]
    pub command: Option<PathBuf>,
    /// exec: arguments, each passed as one value (never through a shell). Placeholders
    /// `{name}`, `{status}`, `{severity}`, `{action_id}`, `{fingerprint}`,
    /// `{label:KEY}` are replaced inside a value.
    #[serde(default)]
    pub args: Vec<String>,
    /// exec: plugin recommendations with one of these action ids run the command too.
    #[serde(default)]
    pub action_ids: Vec<String>,
    /// Per-attempt timeout (default 10s; exec 30s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Most notifications per minute to this receiver (default 60).
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// Retry backoff: first delay (default 1s), doubling with jitter up to
    /// `backoff_max` (default 5m); dead-lettered after `give_up_after` (default 24h).
    #[serde(default)]
    pub backoff_initial: Option<String>,
    #[serde(default)]
    pub backoff_max: Option<String>,
    #[serde(default)]
    pub give_up_after: Option<String>,
    /// Also notify when alerts resolve (default true).
    #[serde(default)]
    pub send_resolved: Option<bool>,
}

/// `[[route]]` (and nested `routes`): matchers → receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// All must match, e.g. `["severity=~critical|high", "node=bn-1"]`. Empty: all.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Receiver; default: the parent's.
    #[serde(default)]
    pub receiver: Option<String>,
    /// Keep looking at the next sibling routes after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// Overrides of the parent's grouping.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default)]
    pub group_wait: Option<String>,
    #[serde(default)]
    pub group_interval: Option<String>,
    #[serde(default)]
    pub repeat_interval: Option<String>,
    /// Child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// `[[inhibit]]`: while an alert matching `source` fires, alerts matching `target`
/// with the same values of the `equal` labels are not notified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct InhibitConfig {
    pub source: Vec<String>,
    pub target: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
}
