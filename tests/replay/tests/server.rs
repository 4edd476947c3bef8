//! The replay over real HTTP, as a collector sees it.
//!
//! Facts asserted come from the fixture's README (scenario A). No timing assertions:
//! every wait is "until it happens, within a generous limit", so a loaded 2-core
//! machine makes the tests slower, not flaky. Replays start part-way through the
//! recording at double speed to keep the run short.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use vigil_replay::{Replay, ReplayOptions};

/// Upper bound for anything that should happen within a few replayed slots.
const PATIENCE: Duration = Duration::from_secs(60);

async fn start(slot: u64) -> Replay {
    let opts = ReplayOptions::new(vigil_replay::scenario_a())
        .start_at_slot(slot)
        .speed(2);
    Replay::start(opts)
        .await
        .expect("replay of scenario A starts (is the fixture there?)")
}

fn client() -> reqwest::Client {
    // Harmless when already installed (another test did it).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

async fn get(c: &reqwest::Client, url: &str) -> (u16, Value) {
    let resp = c
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (
        status,
        resp.json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: body is not JSON: {e}")),
    )
}

async fn post(c: &reqwest::Client, url: &str, body: &str) -> (u16, Value) {
    let resp = c
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    (
        status,
        resp.json()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: body is not JSON: {e}")),
    )
}

/// Polls `probe` until it yields a value (every 100 ms, up to [`PATIENCE`]).
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn head_slot(body: &Value) -> u64 {
    body["data"]["header"]["message"]["slot"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no header slot in {body}"))
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[tokio::test]
async fn serves_the_chain_on_a_shifted_clock() {
    let replay = start(80).await;
    let c = client();
    let base = replay.beacon_url();

    let (status, genesis) = get(&c, &format!("{base}/eth/v1/beacon/genesis")).await;
    assert_eq!(status, 200);
    assert_eq!(
        genesis["data"]["genesis_time"],
        replay.genesis_time().to_string()
    );
    assert_eq!(
        genesis["data"]["genesis_validators_root"],
        replay.meta()["genesis_validators_root"]
    );
    let (_, spec) = get(&c, &format!("{base}/eth/v1/config/spec")).await;
    assert_eq!(spec["data"]["SECONDS_PER_SLOT"], "1");

    // A client's wall-clock slot is the replayed slot.
    let before = replay.current_slot();
    let client_slot = unix_now_s() - replay.genesis_time();
    let after = replay.current_slot();
    assert!(
        (before..=after).contains(&client_slot),
        "{before} ≤ {client_slot} ≤ {after}"
    );
    assert!(before >= 80);

    let (_, head) = get(&c, &format!("{base}/eth/v1/beacon/headers/head")).await;
    let first_head = head_slot(&head);
    assert!(first_head <= replay.current_slot());

    // Slot 82 was validator 6's and it was offline: no block, ever.
    replay.wait_for_slot(84).await;
    let (status, missed) = get(&c, &format!("{base}/eth/v1/beacon/headers/82")).await;
    assert_eq!(status, 404);
    assert_eq!(missed["code"], 404);
    assert_eq!(missed["message"], "No block found for id '82'");

    // The head moves on: 81–84 are empty too, the next block is 85.
    assert!(
        (79..=80).contains(&first_head),
        "head {first_head} at slot 80"
    );
    eventually("the head to reach the next block (85)", || {
        let (c, url) = (c.clone(), format!("{base}/eth/v1/beacon/headers/head"));
        async move {
            let (_, head) = get(&c, &url).await;
            Some(head_slot(&head)).filter(|s| *s >= 85)
        }
    })
    .await;
    replay.stop().await;
}

#[tokio::test]
async fn liveness_and_rewards_are_filtered_by_index() {
    // Slot 125: epoch 15, after the recorder's slot-4 polls of epoch 15.
    let replay = start(125).await;
    let c = client();
    let base = replay.beacon_url();

    let (status, live) = post(
        &c,
        &format!("{base}/eth/v1/validator/liveness/14"),
        r#"["6","7","1"]"#,
    )
    .await;
    assert_eq!(status, 200);
    let entries = live["data"].as_array().expect("liveness data");
    let got: Vec<(&str, bool)> = entries
        .iter()
        .map(|e| {
            (
                e["index"].as_str().expect("index"),
                e["is_live"].as_bool().expect("is_live"),
            )
        })
        .collect();
    assert_eq!(got, vec![("6", false), ("7", false), ("1", true)]);

    let (status, rewards) = post(
        &c,
        &format!("{base}/eth/v1/beacon/rewards/attestations/13"),
        r#"["6","7"]"#,
    )
    .await;
    assert_eq!(status, 200);
    let total = rewards["data"]["total_rewards"]
        .as_array()
        .expect("total_rewards");
    let indices: Vec<&str> = total
        .iter()
        .filter_map(|e| e["validator_index"].as_str())
        .collect();
    assert_eq!(indices, vec!["6", "7"]);
    for entry in total {
        assert_eq!(entry["head"], "0", "{entry}");
        assert!(
            entry["target"].as_str().is_some_and(|t| t.starts_with('-')),
            "{entry}"
        );
        assert!(
            entry["source"].as_str().is_some_and(|t| t.starts_with('-')),
            "{entry}"
        );
    }
    assert!(
        rewards["data"]["ideal_rewards"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );

    // The epoch in progress has no state yet: Lodestar's 500.
    let (status, err) = post(
        &c,
        &format!("{base}/eth/v1/beacon/rewards/attestations/14"),
        "[]",
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(err["code"], 500);
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("State is unavailable"))
    );

    let (status, balances) = get(
        &c,
        &format!("{base}/eth/v1/beacon/states/head/validator_balances?id=6&id=7"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(balances["data"].as_array().map(Vec::len), Some(2));
    replay.stop().await;
}

/// Reads SSE frames from a response until `want` `event`s were seen.
async fn read_events(resp: reqwest::Response, event: &str, want: usize) -> Vec<Value> {
    let mut stream = resp.bytes_stream();
    let mut buffer = String::new();
    let mut found = Vec::new();
    while found.len() < want {
        let chunk = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("an SSE chunk in time")
            .expect("the stream stays open")
            .expect("a readable chunk");
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8 SSE"));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut name = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(v.to_owned());
                }
            }
            if name.as_deref() == Some(event)
                && let Some(data) = data
            {
                found.push(serde_json::from_str(&data).expect("event data is JSON"));
            }
        }
    }
    found
}

#[tokio::test]
async fn sse_delivers_head_events_in_order() {
    let replay = start(140).await;
    let c = client();
    let url = format!(
        "{}/eth/v1/events?topics=head&topics=block,finalized_checkpoint",
        replay.beacon_url()
    );
    let resp = c.get(&url).send().await.expect("SSE connects");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    );
    let heads = read_events(resp, "head", 3).await;
    let slots: Vec<u64> = heads
        .iter()
        .map(|h| {
            h["slot"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("head slot")
        })
        .collect();
    assert!(slots[0] >= 140, "{slots:?}");
    assert!(slots.windows(2).all(|w| w[0] < w[1]), "{slots:?}");

    // An unknown topic is refused as Lodestar does.
    let bad = c
        .get(format!("{}/eth/v1/events?topics=nope", replay.beacon_url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(bad.status().as_u16(), 400);
    replay.stop().await;
}

#[tokio::test]
async fn drop_sse_cuts_open_streams() {
    let replay = start(140).await;
    let c = client();
    let url = format!("{}/eth/v1/events?topics=head", replay.beacon_url());
    let resp = c.get(&url).send().await.expect("SSE connects");
    let mut stream = resp.bytes_stream();
    let first = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("a first event in time");
    assert!(matches!(first, Some(Ok(_))));

    replay.faults().drop_sse();
    // Frames already in flight may still arrive; then an error or the end.
    let ended = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end after drop_sse");

    // A new stream can connect.
    let again = c.get(&url).send().await.expect("SSE reconnects");
    assert_eq!(again.status().as_u16(), 200);
    replay.stop().await;
}

#[tokio::test]
async fn metrics_targets_follow_the_recording() {
    // Slot 40: both validator clients up.
    let replay = start(40).await;
    let c = client();
    for target in ["beacon-metrics", "vc-metrics-A", "vc-metrics-B"] {
        let url = replay.metrics_url(target).expect("known target");
        let resp = c
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(resp.status().as_u16(), 200, "{target}");
        let content_type = resp.headers().get("content-type").cloned();
        assert!(
            content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/plain; version=0.0.4")),
            "{target}"
        );
        let text = resp.text().await.expect("text");
        assert!(
            text.contains("# TYPE "),
            "{target}: {}",
            &text[..text.len().min(200)]
        );
    }
    assert!(replay.metrics_url("nope").is_none());
    replay.stop().await;

    // Slot 120: validator client B is stopped; its endpoint refuses connections.
    let replay = start(120).await;
    let b = replay.metrics_url("vc-metrics-B").expect("known target");
    let err = c
        .get(&b)
        .send()
        .await
        .expect_err("vc-metrics-B is down in this part of the recording");
    assert!(err.is_connect() || err.is_request(), "{err}");
    let beacon = replay.metrics_url("beacon-metrics").expect("known target");
    assert_eq!(
        c.get(&beacon)
            .send()
            .await
            .expect("beacon metrics up")
            .status()
            .as_u16(),
        200
    );
    replay.stop().await;

    // Unless outages are turned off: the last text before the outage is served.
    let opts = ReplayOptions::new(vigil_replay::scenario_a())
        .start_at_slot(120)
        .speed(2)
        .recorded_outages(false);
    let replay = Replay::start(opts).await.expect("replay starts");
    let b = replay.metrics_url("vc-metrics-B").expect("known target");
    assert_eq!(
        c.get(&b).send().await.expect("B served").status().as_u16(),
        200
    );
    replay.stop().await;
}

#[tokio::test]
async fn faults_take_effect_immediately() {
    let replay = start(100).await;
    let c = client();
    let base = replay.beacon_url();
    let syncing = format!("{base}/eth/v1/node/syncing");
    let faults = replay.faults();

    faults.set_status(Some(500));
    let (status, err) = get(&c, &syncing).await;
    assert_eq!(status, 500);
    assert_eq!(err["code"], 500);
    assert!(err["message"].is_string());
    faults.set_status(Some(503));
    assert_eq!(get(&c, &syncing).await.0, 503);
    faults.set_status(None);
    assert_eq!(get(&c, &syncing).await.0, 200);

    faults.set_garbage(true);
    let resp = c.get(&syncing).send().await.expect("an answer");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.expect("a body");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    faults.set_garbage(false);

    faults.set_delay(Some(Duration::from_secs(5)));
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = impatient
        .get(&syncing)
        .send()
        .await
        .expect_err("the answer is late");
    assert!(err.is_timeout(), "{err}");
    faults.set_delay(None);
    assert_eq!(get(&impatient, &syncing).await.0, 200);

    let metrics = replay.metrics_url("beacon-metrics").expect("known target");
    faults.set_metrics_garbage(true);
    let text = c
        .get(&metrics)
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert!(text.contains('\0'), "{text}");
    faults.set_metrics_garbage(false);
    let text = c
        .get(&metrics)
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert!(text.contains("beacon_head_slot"));

    faults.reset_genesis(1_234_567, "0x01");
    let (_, genesis) = get(&c, &format!("{base}/eth/v1/beacon/genesis")).await;
    assert_eq!(genesis["data"]["genesis_time"], "1234567");
    assert_eq!(genesis["data"]["genesis_validators_root"], "0x01");
    assert_eq!(replay.genesis_time(), 1_234_567);

    // Down: the pooled connection of `c` is cut and new connections are refused.
    faults.set_down(true);
    let err = c.get(&syncing).send().await.expect_err("the node is down");
    assert!(err.is_connect() || err.is_request(), "{err}");
    let err = client()
        .get(&syncing)
        .send()
        .await
        .expect_err("the node is down");
    assert!(err.is_connect() || err.is_request(), "{err}");
    faults.set_down(false);
    eventually("the node to answer again", || {
        let (c, url) = (c.clone(), syncing.clone());
        async move {
            c.get(&url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;
    replay.stop().await;
}

#[tokio::test]
async fn stop_closes_every_listener() {
    let replay = start(60).await;
    let urls = [
        format!("{}/eth/v1/node/version", replay.beacon_url()),
        replay.metrics_url("vc-metrics-A").expect("known target"),
    ];
    let c = client();
    for url in &urls {
        assert_eq!(c.get(url).send().await.expect("up").status().as_u16(), 200);
    }
    replay.stop().await;
    for url in &urls {
        let err = client().get(url).send().await.expect_err("stopped");
        assert!(err.is_connect(), "{url}: {err}");
    }
}

#[tokio::test]
async fn unsupported_speeds_are_refused() {
    for speed in [0, 3, 4] {
        let opts = ReplayOptions::new(vigil_replay::scenario_a()).speed(speed);
        let err = Replay::start(opts).await.expect_err("refused");
        assert!(format!("{err:#}").contains("speed"), "{err:#}");
    }
    let missing = ReplayOptions::new("/nonexistent/recording.jsonl.gz");
    assert!(Replay::start(missing).await.is_err());
}
