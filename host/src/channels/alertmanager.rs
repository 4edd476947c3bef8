//! An operator's own Alertmanager: `POST <url>/api/v2/alerts` with the group's alerts.
//! Resolved alerts carry `endsAt` (their resolution time), so Alertmanager resolves
//! them at once; firing alerts carry none, so Alertmanager keeps them firing for its
//! `resolve_timeout` (default 5m) after the last post — route Alertmanager receivers
//! with a `repeat_interval` below that (e.g. "1m").

use super::secret::Secret;
use super::{DeliveryError, rfc3339};
use crate::alerts::model::AlertState;
use crate::alerts::notification::Notification;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The `postableAlerts` body.
pub fn body(n: &Notification) -> Value {
    Value::Array(
        n.alerts
            .iter()
            .map(|a| {
                let mut labels: BTreeMap<String, String> = a.all_labels().into_iter().collect();
                // Alertmanager's conventional name label.
                labels.insert("alertname".into(), a.name.clone());
                let mut v = json!({
                    "labels": labels,
                    "annotations": {
                        "summary": a.summary,
                        "validators": a.validators.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
                        "affected_count": a.affected_count.to_string(),
                        "fingerprint": a.fingerprint,
                    },
                    "startsAt": rfc3339(a.started_ms),
                    "generatorURL": "",
                });
                if a.state == AlertState::Resolved {
                    v["endsAt"] = Value::String(rfc3339(a.since_ms));
                }
                v
            })
            .collect(),
    )
}

/// POST the alerts.
pub async fn send(
    http: &reqwest::Client,
    url: &str,
    token: Option<&Secret>,
    n: &Notification,
) -> Result<String, DeliveryError> {
    let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
    let mut req = http
        .post(&endpoint)
        .header("idempotency-key", &n.idempotency_key)
        .json(&body(n));
    if let Some(t) = token {
        req = req.bearer_auth(t.expose());
    }
    let secrets: Vec<&Secret> = token.into_iter().collect();
    let resp = req.send().await.map_err(|e| {
        let mut d = super::request_error(e, &secrets);
        d.message = format!("Alertmanager {endpoint}: {}", d.message);
        d
    })?;
    super::http_outcome(resp, &secrets).await
}
