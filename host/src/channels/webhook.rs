//! Webhooks: Alertmanager-compatible JSON (the generic shape), Slack, Discord,
//! PagerDuty Events v2, Telegram and ntfy. Every request carries `Idempotency-Key`,
//! and with a configured secret `X-Vigil-Signature: sha256=<hex HMAC-SHA256 of the
//! body>` so the receiver can check it came from this Vigil.

use super::{DeliveryError, rfc3339};
use crate::alerts::model::{AlertState, Severity};
use crate::alerts::notification::{Notification, Status};
use crate::alerts::settings::WebhookFormat;
use crate::config::secret::Secret;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `sha256=<hex>` of `body` under `key`.
pub fn signature(key: &Secret, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn labels_map(labels: &[(String, String)]) -> BTreeMap<String, String> {
    labels.iter().cloned().collect()
}

/// The lines of a notification's text: one per alert.
pub fn lines(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| {
            let state = if a.state == AlertState::Resolved {
                "RESOLVED"
            } else {
                a.severity.priority()
            };
            format!("[{state}] {}: {}", a.display_name(), a.summary)
        })
        .collect()
}

/// Alertmanager's webhook payload (version 4), plus `idempotencyKey` and Vigil's
/// extra fields per alert (validators, affected count, severity).
pub fn alertmanager_body(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let resolved = a.state == AlertState::Resolved;
            json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": labels_map(&a.all_labels()),
                "annotations": {"summary": a.summary},
                "startsAt": rfc3339(a.started_ms),
                "endsAt": if resolved { rfc3339(a.since_ms) } else { "0001-01-01T00:00:00Z".to_string() },
                "generatorURL": "",
                "fingerprint": a.fingerprint,
                "validators": a.validators,
                "affectedCount": a.affected_count,
                "value": a.value,
                "threshold": a.threshold,
            })
        })
        .collect();
    // Labels shared by every alert.
    let mut common: BTreeMap<String, String> = n
        .alerts
        .first()
        .map(|a| labels_map(&a.all_labels()))
        .unwrap_or_default();
    for a in n.alerts.iter().skip(1) {
        let l = labels_map(&a.all_labels());
        common.retain(|k, v| l.get(k) == Some(v));
    }
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": n.status.as_str(),
        "receiver": n.receiver,
        "groupLabels": labels_map(&n.group_labels),
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": alerts,
        "idempotencyKey": n.idempotency_key,
        "test": n.test,
    })
}

fn colour(n: &Notification) -> u32 {
    if n.status == Status::Resolved {
        return 0x2e_b8_86;
    }
    match n.severity() {
        Severity::Critical => 0xd0_00_00,
        Severity::High => 0xe0_6c_00,
        Severity::Medium => 0xe0_b0_00,
        Severity::Low | Severity::Info => 0x6c_8e_bf,
    }
}

fn pagerduty_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium | Severity::Low => "warning",
        Severity::Info => "info",
    }
}

/// The request body and content type for `format`.
pub fn body(
    format: WebhookFormat,
    n: &Notification,
    token: Option<&Secret>,
    chat_id: Option<&str>,
) -> (Vec<u8>, &'static str) {
    let text = format!("{}\n{}", n.title(), lines(n).join("\n"));
    let v = match format {
        WebhookFormat::Alertmanager => alertmanager_body(n),
        WebhookFormat::Slack => json!({
            "text": n.title(),
            "attachments": [{"color": format!("#{:06x}", colour(n)), "text": lines(n).join("\n"), "footer": n.idempotency_key}],
        }),
        WebhookFormat::Discord => json!({
            "content": n.title(),
            "embeds": [{"title": n.title(), "description": lines(n).join("\n"), "color": colour(n), "footer": {"text": n.idempotency_key}}],
        }),
        WebhookFormat::PagerDuty => json!({
            "routing_key": token.map(Secret::expose).unwrap_or(""),
            "event_action": if n.status == Status::Resolved { "resolve" } else { "trigger" },
            // Stable per group: PagerDuty folds the group's notifications into one incident.
            "dedup_key": crate::alerts::model::fingerprint(&n.group_key),
            "payload": {
                "summary": n.title(),
                "source": "vigil",
                "severity": pagerduty_severity(n.severity()),
                "custom_details": {"alerts": lines(n), "idempotency_key": n.idempotency_key},
            },
        }),
        WebhookFormat::Telegram => json!({"chat_id": chat_id.unwrap_or(""), "text": text}),
        WebhookFormat::Ntfy => return (text.into_bytes(), "text/plain; charset=utf-8"),
    };
    (
        serde_json::to_vec(&v).unwrap_or_default(),
        "application/json",
    )
}

/// POST the notification; `Ok` with the status line on 2xx.
pub async fn send(
    http: &reqwest::Client,
    format: WebhookFormat,
    url: &str,
    secret: Option<&Secret>,
    token: Option<&Secret>,
    chat_id: Option<&str>,
    n: &Notification,
) -> Result<String, DeliveryError> {
    let (body, content_type) = body(format, n, token, chat_id);
    let url = match token {
        Some(t) => url.replace("{token}", t.expose()),
        None => url.to_string(),
    };
    let mut req = http
        .post(&url)
        .header("content-type", content_type)
        .header("idempotency-key", &n.idempotency_key);
    if let Some(s) = secret {
        req = req.header("x-vigil-signature", signature(s, &body));
    }
    if format == WebhookFormat::Ntfy {
        req = req
            .header("title", n.title())
            .header(
                "priority",
                match n.severity() {
                    Severity::Critical => "5",
                    Severity::High => "4",
                    Severity::Medium => "3",
                    _ => "2",
                },
            )
            .header("tags", n.status.as_str());
        if let Some(t) = token {
            req = req.bearer_auth(t.expose());
        }
    }
    let secrets: Vec<&Secret> = secret.into_iter().chain(token).collect();
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| super::request_error(e, &secrets))?;
    super::http_outcome(resp, &secrets).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::engine::test_notification;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        let s = signature(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn shapes() {
        let n = test_notification("hook", 1_700_000_000_000);
        let am = alertmanager_body(&n);
        assert_eq!(am["version"], "4");
        assert_eq!(am["alerts"][0]["labels"]["name"], "vigil_test");
        assert_eq!(am["alerts"][0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(am["idempotencyKey"], n.idempotency_key.as_str());
        let key = Secret::new("R0UTING");
        let (pd, _) = body(WebhookFormat::PagerDuty, &n, Some(&key), None);
        let pd: Value = serde_json::from_slice(&pd).unwrap();
        assert_eq!(
            (pd["event_action"].as_str(), pd["routing_key"].as_str()),
            (Some("trigger"), Some("R0UTING"))
        );
        let (tg, _) = body(WebhookFormat::Telegram, &n, None, Some("-100"));
        let tg: Value = serde_json::from_slice(&tg).unwrap();
        assert_eq!(tg["chat_id"], "-100");
        assert!(tg["text"].as_str().unwrap().contains("[TEST]"));
        let (ntfy, ct) = body(WebhookFormat::Ntfy, &n, None, None);
        assert!(ct.starts_with("text/plain") && !ntfy.is_empty());
        for f in [WebhookFormat::Slack, WebhookFormat::Discord] {
            let (b, _) = body(f, &n, None, None);
            assert!(String::from_utf8(b).unwrap().contains("vigil_test"));
        }
    }
}
