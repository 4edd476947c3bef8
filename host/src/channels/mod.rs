//! Notification channels: how queued notifications reach receivers. The alert engine
//! queues them; the [`outbox`] workers take them from the store, call [`deliver`] with a
//! timeout and decide retries.
//!
//! - [`webhook`]: generic (Alertmanager-compatible) JSON, Slack, Discord, PagerDuty,
//!   Telegram, ntfy; HMAC signature; idempotency key;
//! - [`email`]: SMTP via lettre (STARTTLS or implicit TLS), HTML + text;
//! - [`alertmanager`]: `POST /api/v2/alerts` of an operator's Alertmanager;
//! - [`exec`]: an allowlisted command, arguments as separate values, no shell;
//! - [`outbox`]: the delivery workers (retries, backoff, rate limit, dead letters).
//!
//! The dashboard feed is not a receiver: it is [`crate::alerts::Engine::subscribe`].

pub mod alertmanager;
pub mod email;
pub mod exec;
pub mod outbox;
pub mod webhook;

use crate::alerts::notification::Notification;
use crate::alerts::settings::{Receiver, ReceiverKind};
use crate::config::secret::{Secret, scrub};

/// A failed attempt: whether retrying can help, and what went wrong (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    /// A retry cannot help (a 4xx answer, a refused address): dead-letter now.
    pub permanent: bool,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            permanent: false,
        }
    }
    pub fn permanent(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Send `n` to receiver `r`; the outcome for the delivery log (`200 OK`, …).
pub async fn deliver(
    r: &Receiver,
    n: &Notification,
    http: &reqwest::Client,
) -> Result<String, DeliveryError> {
    match &r.kind {
        ReceiverKind::Webhook {
            format,
            url,
            secret,
            token,
            chat_id,
        } => {
            webhook::send(
                http,
                *format,
                url,
                secret.as_ref(),
                token.as_ref(),
                chat_id.as_deref(),
                n,
            )
            .await
        }
        ReceiverKind::Email { .. } => email::send(r, n).await,
        ReceiverKind::Alertmanager { url, token } => {
            alertmanager::send(http, url, token.as_ref(), n).await
        }
        ReceiverKind::Exec { command, args, .. } => {
            exec::run(
                command,
                args,
                n,
                std::time::Duration::from_millis(r.timeout_ms as u64),
            )
            .await
        }
    }
}

/// A transport error with its causes (`error sending request: connection refused`),
/// the URL left out (it may hold a token).
pub(crate) fn request_error(e: reqwest::Error, secrets: &[&Secret]) -> DeliveryError {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    if timeout {
        text.push_str(" (timeout)");
    }
    DeliveryError::transient(scrub(&text, secrets))
}

/// Classify an HTTP answer: 2xx delivered; 408, 425, 429 and 5xx worth a retry; any
/// other 4xx permanent (a retry would get the same answer).
pub(crate) async fn http_outcome(
    resp: reqwest::Response,
    secrets: &[&Secret],
) -> Result<String, DeliveryError> {
    let status = resp.status();
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    if status.is_success() {
        return Ok(line.trim().to_string());
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    let message = scrub(
        &format!("answered {}: {}", line.trim(), body.trim()),
        secrets,
    );
    if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
        Err(DeliveryError::transient(message))
    } else {
        Err(DeliveryError::permanent(format!(
            "{message} (a client error: check the receiver's url and token)"
        )))
    }
}

/// Unix ms → `2023-11-14T22:13:20.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            super::rfc3339(1_795_381_736_000),
            "2026-11-22T21:08:56.000Z"
        );
    }
}
