//! A real HTTP receiver on 127.0.0.1 for notification tests: answers 200, 500, 400 or
//! hangs, as the test says, and records every request (headers, body, answer). It
//! runs on its own thread and runtime, and stops when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Mode {
    Ok = 0,
    Fail = 1,
    Hang = 2,
    BadRequest = 3,
}

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub(crate) path: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Vec<u8>,
    pub(crate) status: u16,
}

impl Got {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct State {
    mode: AtomicU8,
    got: Mutex<Vec<Got>>,
}

pub(crate) struct HttpReceiver {
    pub(crate) url: String,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpReceiver {
    pub(crate) fn start(mode: Mode) -> HttpReceiver {
        let state = Arc::new(State::default());
        state.mode.store(mode as u8, Ordering::SeqCst);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(
                    move |uri: axum::http::Uri,
                          headers: axum::http::HeaderMap,
                          body: axum::body::Bytes| {
                        let st = st.clone();
                        async move {
                            let mode = st.mode.load(Ordering::SeqCst);
                            let status: u16 = match mode {
                                0 => 200,
                                1 => 500,
                                3 => 400,
                                _ => 0,
                            };
                            let got = Got {
                                path: uri.path().to_string(),
                                headers: headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (
                                            k.as_str().to_string(),
                                            v.to_str().unwrap_or("").to_string(),
                                        )
                                    })
                                    .collect(),
                                body: body.to_vec(),
                                status,
                            };
                            st.got.lock().unwrap().push(got);
                            if status == 0 {
                                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                            }
                            (
                                axum::http::StatusCode::from_u16(status.max(200)).unwrap(),
                                "ok",
                            )
                        }
                    },
                );
                // Stop at once, hanging requests included.
                tokio::select! {
                    r = axum::serve(listener, app) => r.unwrap(),
                    _ = rx => {}
                }
            });
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().unwrap();
        HttpReceiver {
            url: format!("http://{addr}"),
            state,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub(crate) fn set(&self, mode: Mode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Every request so far.
    pub(crate) fn got(&self) -> Vec<Got> {
        self.state.got.lock().unwrap().clone()
    }

    /// Requests answered 200.
    pub(crate) fn accepted(&self) -> Vec<Got> {
        self.got().into_iter().filter(|g| g.status == 200).collect()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
