//! Prometheus remote write: the `/metrics` samples pushed every `interval` to
//! `[web.remote_write] url` (Prometheus with `--web.enable-remote-write-receiver`,
//! Mimir, Thanos receive, VictoriaMetrics).
//!
//! The body is a `prometheus.WriteRequest` (remote write 1.0) encoded by hand — four
//! small messages, not worth a code generator — then snappy-compressed (block format).
//! Each series gets `job="vigil"` and `instance` (this host's dashboard address), like a
//! scrape would. A failed push is logged once per distinct error and retried at the next
//! interval with the then-current values (remote write keeps no backlog here: the
//! store keeps the history).

use super::metrics::Sample;
use crate::web::Parts;
use std::sync::Arc;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field.
fn bytes_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    varint(out, u64::from(field << 3 | 2));
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Encode a `WriteRequest` of `samples`, all at `timestamp_ms`, with `extra` labels.
pub fn encode(samples: &[Sample], extra: &[(String, String)], timestamp_ms: i64) -> Vec<u8> {
    let mut req = Vec::with_capacity(samples.len() * 96);
    for s in samples {
        let mut labels: Vec<(&str, &str)> = vec![("__name__", s.name.as_str())];
        labels.extend(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in extra {
            if !labels.iter().any(|(n, _)| n == k) {
                labels.push((k, v));
            }
        }
        // Remote write requires labels sorted by name.
        labels.sort_by(|a, b| a.0.cmp(b.0));
        let mut ts = Vec::new();
        for (k, v) in labels {
            let mut label = Vec::new();
            bytes_field(&mut label, 1, k.as_bytes());
            bytes_field(&mut label, 2, v.as_bytes());
            bytes_field(&mut ts, 1, &label);
        }
        let mut sample = Vec::with_capacity(20);
        varint(&mut sample, 1 << 3 | 1); // value: double, fixed64
        sample.extend_from_slice(&s.value.to_le_bytes());
        varint(&mut sample, 2 << 3); // timestamp: int64, varint
        varint(&mut sample, timestamp_ms as u64);
        bytes_field(&mut ts, 2, &sample);
        bytes_field(&mut req, 1, &ts);
    }
    req
}

/// Compress for the wire (snappy block format).
pub fn compress(body: &[u8]) -> anyhow::Result<Vec<u8>> {
    snap::raw::Encoder::new()
        .compress_vec(body)
        .map_err(|e| anyhow::anyhow!("snappy: {e}"))
}

/// Push once. `Err` carries the endpoint's answer.
pub async fn push(
    http: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
    body: Vec<u8>,
) -> anyhow::Result<()> {
    let mut req = http
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body);
    match auth {
        Some((user, pass)) if !user.is_empty() => req = req.basic_auth(user, Some(pass)),
        Some((_, token)) => req = req.bearer_auth(token),
        None => {}
    }
    let res = req
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the remote-write endpoint: {e}"))?;
    let status = res.status();
    if !status.is_success() {
        let text = res.text().await.unwrap_or_default();
        anyhow::bail!(
            "remote-write endpoint answered {status}: {}",
            text.chars().take(200).collect::<String>()
        );
    }
    Ok(())
}

/// Push every `[web.remote_write] interval` while the daemon runs. The URL given is
/// the one at start; a changed URL applies after a restart (logged by the reload).
pub async fn run(parts: Arc<Parts>, url: String) {
    let http = match crate::net::http_client() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("remote write disabled: cannot build the HTTP client: {e}");
            return;
        }
    };
    let instance = parts.config().config.web.listen.clone();
    let extra = vec![
        ("job".to_string(), "vigil".to_string()),
        ("instance".to_string(), instance),
    ];
    let mut last_error: Option<String> = None;
    tracing::info!(url = %redacted(&url), "remote write on");
    loop {
        let cfg = parts.config();
        let interval = cfg.web.push_interval;
        let Some(rw) = cfg.config.web.remote_write.clone() else {
            tracing::info!("remote write off (removed from the config)");
            return;
        };
        let secret = match (&rw.password_env, &cfg.web.push_secret_file) {
            (Some(var), _) => Some(crate::config::secret::Secret::from_env(var)),
            (None, Some(f)) => Some(crate::config::secret::Secret::from_file(f)),
            (None, None) => None,
        };
        let secret = match secret.transpose() {
            Ok(s) => s,
            Err(e) => {
                if last_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!("remote write: {e}");
                    last_error = Some(e);
                }
                tokio::time::sleep(interval).await;
                continue;
            }
        };
        let auth = secret
            .as_ref()
            .map(|p| (rw.username.as_deref().unwrap_or(""), p.expose()));
        let samples = super::metrics::collect_from(&parts);
        let result = match compress(&encode(&samples, &extra, crate::clock::now_ms())) {
            Ok(body) => push(&http, &url, auth, body).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                if last_error.take().is_some() {
                    tracing::info!(url = %redacted(&url), "remote write works again");
                }
            }
            Err(e) => {
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(url = %redacted(&url), "remote write failed (retried every {} s): {msg}", interval.as_secs());
                    last_error = Some(msg);
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

fn redacted(url: &str) -> String {
    super::config_edit::redact_url(url).unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_request_bytes_match_the_protobuf_layout() {
        let s = Sample {
            name: "up".into(),
            labels: vec![],
            value: 1.0,
        };
        let body = encode(&[s], &[("job".into(), "v".into())], 5);
        // WriteRequest.timeseries (field 1) → TimeSeries: label __name__=up, label
        // job=v, sample {value 1.0, timestamp 5}.
        let expected: Vec<u8> = [
            vec![0x0a, 39],
            vec![0x0a, 14, 0x0a, 8],
            b"__name__".to_vec(),
            vec![0x12, 2],
            b"up".to_vec(),
            vec![0x0a, 8, 0x0a, 3],
            b"job".to_vec(),
            vec![0x12, 1, b'v'],
            vec![0x12, 11, 0x09],
            1.0f64.to_le_bytes().to_vec(),
            vec![0x10, 5],
        ]
        .concat();
        assert_eq!(body, expected);
        let c = compress(&body).unwrap();
        assert_eq!(snap::raw::Decoder::new().decompress_vec(&c).unwrap(), body);
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_an_error_naming_it() {
        let http = crate::net::http_client().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = push(
            &http,
            &format!("http://127.0.0.1:{port}/api/v1/write"),
            None,
            vec![1, 2, 3],
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot reach the remote-write endpoint"),
            "{e}"
        );
    }
}
