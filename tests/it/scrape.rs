//! Scraping a `/metrics` endpoint: a local server serves a real Lodestar exposition,
//! then garbage, then an error status.

use super::execution::serve;
use super::support::root;
use std::sync::atomic::{AtomicUsize, Ordering};
use vigil::collect::scrape::{ScrapeError, scrape};
use vigil::net::http_client;

#[tokio::test]
async fn scrapes_samples_then_names_what_went_wrong() {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/metrics/lodestar-beacon.txt")).unwrap();
    let calls = AtomicUsize::new(0);
    let url = serve(move |_| match calls.fetch_add(1, Ordering::SeqCst) {
        0 => (200, text.clone()),
        1 => (
            200,
            "<html>\n<body>\nnot metrics\n</body>\n</html>\n".into(),
        ),
        _ => (500, "internal error".into()),
    })
    .await;
    let http = http_client().unwrap();
    let metrics = format!("{url}/metrics");

    let s = scrape("beacon", &metrics, &http).await.unwrap();
    assert_eq!(s.target, "beacon");
    assert_eq!(s.names.len(), 2748);
    let head = s
        .names
        .iter()
        .position(|n| n == "beacon_head_slot")
        .unwrap();
    assert_eq!(s.values[head], 49.0);

    let err = scrape("beacon", &metrics, &http).await.unwrap_err();
    assert!(matches!(err, ScrapeError::Parse { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "metrics from {metrics} rejected: not Prometheus text: 5 malformed lines and 0 samples; \
             first line 1: expected a metric name at the start: <html>"
        )
    );

    let err = scrape("beacon", &metrics, &http).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("request to {metrics} failed: HTTP 500: internal error")
    );
}

#[tokio::test]
async fn nothing_listening_is_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let err = scrape("validator", &url, &http_client().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "request to {url} failed: connection refused (is the node running and listening there?)"
        )
    );
}
