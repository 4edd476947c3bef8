//! The execution collector against a real ganache (started by
//! `tests/devnet/ganache.sh`, stopped on `Drop`) and against small local servers that
//! misbehave on purpose: one that never answers, one that answers garbage, one that
//! refuses batches.

use super::support::root;
use serde_json::{Value, json};
use std::net::TcpListener as StdListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vigil::collect::execution::ExecutionCollector;
use vigil::config::NodeConfig;
use vigil::net::http_client;

/// How long a test waits for ganache to mine the blocks it needs: far above its 1 s
/// block time, so only a broken node fails it.
const BLOCKS_DEADLINE: Duration = Duration::from_secs(60);

/// A guard on a hanging poll: a test fails instead of hanging CI.
const POLL_GUARD: Duration = Duration::from_secs(30);

fn node(url: &str) -> NodeConfig {
    NodeConfig {
        name: "el-1".into(),
        url: url.into(),
        metrics_url: None,
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A ganache started by the devnet script; stopped when dropped.
struct Ganache {
    port: u16,
    running: bool,
}

impl Ganache {
    fn script() -> std::path::PathBuf {
        root().join("tests/devnet/ganache.sh")
    }

    /// Starts one on a free port, retrying on another port if that one was taken
    /// between choosing and binding.
    fn start() -> Ganache {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let out = Command::new(Self::script())
                .args(["start", &port.to_string()])
                .output()
                .expect("run tests/devnet/ganache.sh");
            if out.status.success() {
                return Ganache {
                    port,
                    running: true,
                };
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("ganache did not start: {last}");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            let status = Command::new(Self::script())
                .args(["stop", &self.port.to_string()])
                .status()
                .expect("run tests/devnet/ganache.sh stop");
            assert!(status.success(), "ganache.sh stop failed");
        }
    }
}

impl Drop for Ganache {
    fn drop(&mut self) {
        if self.running {
            let _ = Command::new(Self::script())
                .args(["stop", &self.port.to_string()])
                .status();
        }
    }
}

async fn poll(c: &mut ExecutionCollector) -> vigil::contract::ExecutionNode {
    tokio::time::timeout(POLL_GUARD, c.poll())
        .await
        .expect("poll returned")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ganache_is_observed_then_reported_down() {
    let mut ganache = Ganache::start();
    let url = ganache.url();
    let mut c = ExecutionCollector::new(&node(&url), http_client().unwrap());

    let first = poll(&mut c).await;
    assert!(first.reachable, "{:?}", first.error);
    assert_eq!(first.error, None);
    assert_eq!(first.name, "el-1");
    assert_eq!(first.chain_id, Some(1337));
    assert_eq!(c.chain_id(), Some(1337));
    assert_eq!(first.is_syncing, Some(false));
    assert_eq!(first.peers, Some(0));
    assert!(first.gas_price_wei.unwrap() > 0);
    assert!(first.block_age_ms.is_some());
    let client = first.client.unwrap();
    assert_eq!(client.name, "unknown");
    assert_eq!(client.version.as_deref(), Some("7.9.2"));
    assert!(client.raw.starts_with("Ganache/v7.9.2"), "{}", client.raw);

    // Ganache mines a block a second: poll until two more exist.
    let start = first.block_number.unwrap();
    let deadline = tokio::time::Instant::now() + BLOCKS_DEADLINE;
    let later = loop {
        let n = poll(&mut c).await;
        assert!(n.reachable, "{:?}", n.error);
        if n.block_number.unwrap() >= start + 2 {
            break n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new blocks after {start}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(later.error, None);
    assert!(later.block_time_ms.unwrap() > 0.0, "{later:?}");
    // Empty blocks: no transactions, no gas used.
    assert_eq!(later.tps, Some(0.0));
    assert_eq!(later.gas_used_ratio, Some(0.0));

    ganache.stop();
    let down = poll(&mut c).await;
    assert!(!down.reachable);
    let error = down.error.unwrap();
    assert_eq!(
        error,
        format!(
            "request to {url}/ failed: connection refused (is the node running and listening there?)"
        )
    );
    assert_eq!(down.block_number, None);
    assert!(down.client.is_none());
}

/// Answers every HTTP request with `respond(body)`'s status and body, then closes
/// the connection. Returns the base URL. Shared with the scrape tests.
pub(crate) async fn serve(
    respond: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let respond = respond.clone();
            tokio::spawn(async move {
                let Some(body) = read_request(&mut sock).await else {
                    return;
                };
                let (status, answer) = respond(&body);
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    url
}

/// The body of one HTTP/1.1 request (by its content-length).
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned())
}

#[tokio::test]
async fn a_node_that_never_answers_times_out() {
    // Accepts connections and holds them open without a word.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let mut c = ExecutionCollector::new(&node(&url), http_client().unwrap())
        .with_timeout(Duration::from_millis(300));
    let n = poll(&mut c).await;
    assert!(!n.reachable);
    assert_eq!(
        n.error.unwrap(),
        format!("request to {url}/ timed out after 300 ms")
    );
}

#[tokio::test]
async fn garbage_and_error_statuses_are_named() {
    let url = serve(|_| (200, "{not json".into())).await;
    let mut c = ExecutionCollector::new(&node(&url), http_client().unwrap());
    let n = poll(&mut c).await;
    assert!(!n.reachable);
    assert_eq!(
        n.error.unwrap(),
        format!(
            "answer from {url}/ is not JSON-RPC: key must be a string at line 1 column 2 (it starts with \"{{not json\")"
        )
    );

    let url = serve(|_| (503, "<html><h1>503 Service Unavailable</h1></html>".into())).await;
    let mut c = ExecutionCollector::new(&node(&url), http_client().unwrap());
    let n = poll(&mut c).await;
    assert!(!n.reachable);
    assert_eq!(
        n.error.unwrap(),
        format!(
            "request to {url}/ failed: HTTP 503: <html><h1>503 Service Unavailable</h1></html>"
        )
    );
}

/// A JSON-RPC node that refuses batches, lacks `net_peerCount`, and quotes a gas
/// price beyond u64. Its chain: blocks 0..=5, 12 s apart, block n holding n txs and
/// n×10% of the gas limit.
fn no_batch_node(body: &str, batches: &AtomicUsize, blocks: &AtomicUsize) -> (u16, String) {
    if body.starts_with('[') {
        batches.fetch_add(1, Ordering::SeqCst);
        let refusal = json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": -32600, "message": "batch requests are not supported"}});
        return (400, refusal.to_string());
    }
    let req: Value = serde_json::from_str(body).unwrap();
    let block = |n: u64| {
        json!({
            "number": format!("{n:#x}"), "hash": format!("0x{n}"),
            "parentHash": format!("0x{}", n.wrapping_sub(1)),
            "timestamp": format!("{:#x}", 1_700_000_000 + 12 * n),
            "gasUsed": format!("{:#x}", n * 3_000_000), "gasLimit": "0x1c9c380",
            "transactions": (0..n).map(|i| format!("0x{i}")).collect::<Vec<_>>(),
        })
    };
    let result = match req["method"].as_str().unwrap() {
        "eth_syncing" => json!(false),
        "eth_blockNumber" => json!("0x5"),
        "eth_chainId" => json!("0x539"),
        "eth_gasPrice" => json!("0x1000000000000000000000"),
        "web3_clientVersion" => json!("Geth/v1.14.8-stable-a9523b64/linux-amd64/go1.22.6"),
        "eth_getBlockByNumber" => {
            blocks.fetch_add(1, Ordering::SeqCst);
            match req["params"][0].as_str().unwrap() {
                "latest" => block(5),
                hex => block(u64::from_str_radix(&hex[2..], 16).unwrap()),
            }
        }
        other => {
            let e = json!({"jsonrpc": "2.0", "id": req["id"],
                "error": {"code": -32601, "message": format!("the method {other} does not exist/is not available")}});
            return (200, e.to_string());
        }
    };
    let answer = json!({"jsonrpc": "2.0", "id": req["id"], "result": result});
    (200, answer.to_string())
}

#[tokio::test]
async fn a_node_without_batches_is_asked_call_by_call() {
    let batches = Arc::new(AtomicUsize::new(0));
    let blocks = Arc::new(AtomicUsize::new(0));
    let (b, k) = (batches.clone(), blocks.clone());
    let url = serve(move |body| no_batch_node(body, &b, &k)).await;
    let mut c = ExecutionCollector::new(&node(&url), http_client().unwrap());

    let n = poll(&mut c).await;
    assert!(n.reachable, "{:?}", n.error);
    assert_eq!(n.chain_id, Some(1337));
    assert_eq!(n.block_number, Some(5));
    assert_eq!(n.peers, None);
    assert_eq!(n.gas_price_wei, Some(u64::MAX));
    let client = n.client.unwrap();
    assert_eq!(
        (client.name.as_str(), client.version.as_deref()),
        ("geth", Some("1.14.8"))
    );
    assert_eq!(n.block_time_ms, Some(12_000.0));
    // Blocks 1..=5 hold 15 transactions over 60 s.
    assert_eq!(n.tps, Some(0.25));
    // Mean of 0.0, 0.1, …, 0.5.
    assert!((n.gas_used_ratio.unwrap() - 0.25).abs() < 1e-9);
    assert_eq!(
        n.error.unwrap(),
        format!(
            "net_peerCount failed: the method net_peerCount does not exist/is not available (JSON-RPC error -32601); \
             eth_gasPrice returned 0x1000000000000000000000, above the largest u64: reported as {}",
            u64::MAX
        )
    );
    // The latest block, then blocks 0..=4 below it.
    assert_eq!(blocks.load(Ordering::SeqCst), 6);

    // Learnt: no second batch; the cached blocks are not fetched again.
    let again = poll(&mut c).await;
    assert!(again.reachable);
    assert_eq!(again.tps, Some(0.25));
    assert_eq!(batches.load(Ordering::SeqCst), 1);
    assert_eq!(blocks.load(Ordering::SeqCst), 7);
}
