//! Email via SMTP (lettre, rustls): STARTTLS (default) or implicit TLS, optional
//! authentication, a multipart message with plain text and HTML, both with a summary
//! table of the group's alerts. The idempotency key is the Message-ID, so a mail
//! system can drop a duplicate.

use super::{DeliveryError, rfc3339};
use crate::alerts::model::AlertState;
use crate::alerts::notification::Notification;
use crate::alerts::settings::{Receiver, ReceiverKind, SmtpTls};
use crate::config::secret::scrub;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn validators(a: &crate::alerts::Alert) -> String {
    if a.affected_count == 0 {
        return String::new();
    }
    let shown: Vec<String> = a.validators.iter().take(10).map(u64::to_string).collect();
    let more = a.affected_count.saturating_sub(shown.len() as u64);
    if more > 0 {
        format!("{} (+{more})", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The plain-text body: a heading, then an aligned table of the alerts.
pub fn text(n: &Notification) -> String {
    let rows: Vec<[String; 5]> = n
        .alerts
        .iter()
        .map(|a| {
            [
                if a.state == AlertState::Resolved {
                    "resolved".into()
                } else {
                    a.severity.priority().to_string()
                },
                a.display_name(),
                validators(a),
                rfc3339(a.started_ms),
                a.summary.clone(),
            ]
        })
        .collect();
    let header = ["Severity", "Alert", "Validators", "Since", "Summary"];
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = format!("{}\n\n", n.title());
    out.push_str(&line(&header.map(String::from)));
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out.push_str(&format!(
        "\nReceiver {} · group {} · notification {}\n",
        n.receiver,
        n.group_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        n.idempotency_key
    ));
    out
}

/// The HTML body: the same table.
pub fn html(n: &Notification) -> String {
    let mut rows = String::new();
    for a in &n.alerts {
        let (sev, colour) = if a.state == AlertState::Resolved {
            ("resolved".to_string(), "#2eb886")
        } else {
            (
                a.severity.priority().to_string(),
                match a.severity {
                    crate::alerts::Severity::Critical => "#d00000",
                    crate::alerts::Severity::High => "#e06c00",
                    crate::alerts::Severity::Medium => "#b08800",
                    _ => "#6c8ebf",
                },
            )
        };
        rows.push_str(&format!(
            "<tr><td style=\"color:{colour};font-weight:bold\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&sev),
            escape(&a.display_name()),
            escape(&validators(a)),
            escape(&rfc3339(a.started_ms)),
            escape(&a.summary)
        ));
    }
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
<h2>{}</h2>\
<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\" style=\"border-collapse:collapse\">\
<thead><tr><th>Severity</th><th>Alert</th><th>Validators</th><th>Since</th><th>Summary</th></tr></thead>\n\
<tbody>\n{rows}</tbody></table>\
<p style=\"color:#888\">Receiver {} · notification {}</p></body></html>",
        escape(&n.title()),
        escape(&n.receiver),
        escape(&n.idempotency_key)
    )
}

/// Send `n` by mail.
pub async fn send(r: &Receiver, n: &Notification) -> Result<String, DeliveryError> {
    let ReceiverKind::Email {
        host,
        port,
        tls,
        ca_pem,
        username,
        password,
        from,
        to,
    } = &r.kind
    else {
        return Err(DeliveryError::permanent("not an email receiver"));
    };
    crate::net::install_tls_provider();
    let secrets: Vec<&crate::config::secret::Secret> = password.iter().collect();
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        DeliveryError::permanent(scrub(&format!("{what}: {e}"), &secrets))
    };
    let from: Mailbox = from
        .parse()
        .map_err(|e| bad(&format!("sender address {from:?}"), &e))?;
    let mut msg = Message::builder()
        .from(from)
        .subject(n.title())
        .message_id(Some(format!("<{}@vigil>", n.idempotency_key)));
    for t in to {
        let mb: Mailbox = t
            .parse()
            .map_err(|e| bad(&format!("recipient address {t:?}"), &e))?;
        msg = msg.to(mb);
    }
    let msg = msg
        .multipart(MultiPart::alternative_plain_html(text(n), html(n)))
        .map_err(|e| bad("building the message", &e))?;
    let params = || -> Result<TlsParameters, DeliveryError> {
        let mut b = TlsParameters::builder(host.clone());
        if let Some(pem) = ca_pem {
            b = b.add_root_certificate(
                Certificate::from_pem(pem)
                    .map_err(|e| bad("ca_file is not a PEM certificate", &e))?,
            );
        }
        b.build_rustls().map_err(|e| bad("TLS setup", &e))
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
        .port(*port)
        .timeout(Some(Duration::from_millis(r.timeout_ms as u64)));
    builder = match tls {
        SmtpTls::StartTls => builder.tls(Tls::Required(params()?)),
        SmtpTls::Implicit => builder.tls(Tls::Wrapper(params()?)),
        SmtpTls::None => builder.tls(Tls::None),
    };
    if let (Some(u), Some(p)) = (username, password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.expose().to_string()));
    }
    let transport = builder.build();
    match transport.send(msg).await {
        Ok(resp) => Ok(format!(
            "{} {}",
            resp.code(),
            resp.message().collect::<Vec<_>>().join(" ")
        )),
        Err(e) => {
            let m = scrub(&format!("SMTP {host}:{port}: {e}"), &secrets);
            if e.is_permanent() {
                Err(DeliveryError::permanent(m))
            } else if e.is_client() {
                // E.g. no authentication mechanism both sides know: a retry cannot help.
                Err(DeliveryError::permanent(format!(
                    "{m} (check the receiver's tls and username against what the server offers)"
                )))
            } else {
                Err(DeliveryError::transient(m))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bodies_have_a_summary_table() {
        let n = crate::alerts::engine::test_notification("mail", 1_700_000_000_000);
        let t = super::text(&n);
        assert!(t.contains("Severity  Alert"), "{t}");
        assert!(t.contains("vigil_test{receiver=mail}"), "{t}");
        let h = super::html(&n);
        assert!(h.contains("<th>Validators</th>") && h.contains("vigil_test{receiver=mail}"));
        assert!(super::escape("<a&b>") == "&lt;a&amp;b&gt;");
    }
}
