//! An operator's own Alertmanager: `POST <url>/api/v2/alerts` with the group's alerts.
//! Resolved alerts carry `endsAt` = their resolution time, so Alertmanager resolves
//! them at once. Firing alerts carry `endsAt` = now + 2 × the group's
//! `repeat_interval` (Prometheus does the same with its evaluation interval): Vigil
//! re-sends them before that, and if Vigil stops they expire instead of firing forever.
//! A shorter `repeat_interval` on the route to Alertmanager makes that expiry quicker.

use super::{DeliveryError, rfc3339};
use crate::alerts::model::AlertState;
use crate::alerts::notification::Notification;
use crate::config::secret::Secret;
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
                } else if n.repeat_interval_ms > 0 {
                    v["endsAt"] =
                        Value::String(rfc3339(n.created_ms + 2 * n.repeat_interval_ms));
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

#[cfg(test)]
mod tests {
    #[test]
    fn firing_alerts_expire_after_two_repeat_intervals_resolved_end_now() {
        let mut n = crate::alerts::engine::test_notification("am", 1_700_000_000_000);
        n.repeat_interval_ms = 60_000;
        let b = super::body(&n);
        assert_eq!(b[0]["labels"]["alertname"], "vigil_test");
        assert_eq!(b[0]["endsAt"], "2023-11-14T22:15:20.000Z");
        n.alerts[0].state = crate::alerts::AlertState::Resolved;
        n.alerts[0].since_ms = 1_700_000_001_000;
        assert_eq!(super::body(&n)[0]["endsAt"], "2023-11-14T22:13:21.000Z");
    }
}
