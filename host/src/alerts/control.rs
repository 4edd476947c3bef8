//! The local control channel of `vigil alerts …` and `vigil outbox …`.
//!
//! redb lets one process open the store. While the daemon runs it owns the file, so
//! the CLI sends its request over a Unix socket beside the store (`vigil.redb.sock`,
//! mode 0600: only the daemon's user can use it), one JSON line each way. When no
//! daemon answers, the CLI opens the store itself and runs the same request on an
//! engine of its own ([`run_local`]), so the commands work in both cases.

use super::engine::{AlertError, Engine};
use super::silence::Silence;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    List,
    Show {
        fingerprint: String,
    },
    History {
        fingerprint: Option<String>,
        limit: usize,
    },
    Ack {
        fingerprint: String,
        by: String,
    },
    Silences,
    Silence {
        silence: Silence,
    },
    Unsilence {
        id: String,
    },
    Test {
        receiver: String,
    },
    Outbox,
    DeadLetters,
    DeliveryLog,
    Retry {
        receiver: String,
        seq: u64,
    },
    /// One notification wherever it is (queued, dead, delivered).
    Item {
        receiver: String,
        seq: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Response {
    ok: bool,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    error: String,
}

/// Run a request on an engine; the answer as JSON.
pub fn handle(engine: &Engine, req: Request) -> Result<Value, AlertError> {
    Ok(match req {
        Request::List => v(&engine.active()),
        Request::Show { fingerprint } => v(&engine
            .get(&fingerprint)
            .ok_or(AlertError::UnknownAlert(fingerprint))?),
        Request::History { fingerprint, limit } => {
            v(&engine.history(fingerprint.as_deref(), limit)?)
        }
        Request::Ack { fingerprint, by } => v(&engine.ack(&fingerprint, &by)?),
        Request::Silences => v(&engine.silences()),
        Request::Silence { silence } => Value::String(engine.add_silence(silence)?),
        Request::Unsilence { id } => v(&engine.expire_silence(&id)?),
        Request::Test { receiver } => Value::from(engine.test_receiver(&receiver)?),
        Request::Outbox => v(&engine.outbox_list()?),
        Request::DeadLetters => v(&engine.dead_letters()?),
        Request::DeliveryLog => v(&engine.delivery_log()?),
        Request::Retry { receiver, seq } => v(&engine.retry(&receiver, seq)?),
        Request::Item { receiver, seq } => {
            let find = |items: Vec<super::OutboxItem>| {
                items
                    .into_iter()
                    .find(|i| i.receiver == receiver && i.seq == seq)
            };
            let item = find(engine.outbox_list()?)
                .or(find(engine.dead_letters()?))
                .or(find(engine.delivery_log()?));
            v(&item)
        }
    })
}

fn v<T: Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// Serve requests on `socket` until the task is dropped.
pub async fn serve(engine: Arc<Engine>, socket: &Path) -> std::io::Result<()> {
    if socket.exists() {
        // A socket left by a daemon that died: nobody answers on it.
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "{} answers already: is another vigil running on this store?",
                    socket.display()
                ),
            ));
        }
        std::fs::remove_file(socket)?;
    }
    let listener = tokio::net::UnixListener::bind(socket)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    }
    tracing::info!(socket = %socket.display(), "control socket for `vigil alerts` and `vigil outbox`");
    loop {
        let (stream, _) = listener.accept().await?;
        let engine = engine.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
            let (r, mut w) = stream.into_split();
            let mut lines = tokio::io::BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let resp = match serde_json::from_str::<Request>(&line) {
                    Ok(req) => {
                        let engine = engine.clone();
                        match tokio::task::spawn_blocking(move || handle(&engine, req)).await {
                            Ok(Ok(data)) => Response {
                                ok: true,
                                data,
                                error: String::new(),
                            },
                            Ok(Err(e)) => Response {
                                ok: false,
                                data: Value::Null,
                                error: e.to_string(),
                            },
                            Err(e) => Response {
                                ok: false,
                                data: Value::Null,
                                error: format!("request failed: {e}"),
                            },
                        }
                    }
                    Err(e) => Response {
                        ok: false,
                        data: Value::Null,
                        error: format!("bad request: {e}"),
                    },
                };
                let mut out = serde_json::to_vec(&resp).unwrap_or_default();
                out.push(b'\n');
                if w.write_all(&out).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Send a request to a running daemon. `Ok(None)`: no daemon listens on `socket`.
pub fn request(socket: &Path, req: &Request) -> anyhow::Result<Option<Value>> {
    let stream = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => anyhow::bail!("cannot reach the daemon at {}: {e}", socket.display()),
    };
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = stream.try_clone()?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    w.write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    let resp: Response = serde_json::from_str(&answer).map_err(|e| {
        anyhow::anyhow!(
            "the daemon answered something unreadable ({e}): is it the same vigil version?"
        )
    })?;
    if resp.ok {
        Ok(Some(resp.data))
    } else {
        anyhow::bail!("{}", resp.error)
    }
}

/// Run a request without a daemon: open the store and an engine of our own.
pub fn run_local(cfg: &crate::config::LoadedConfig, req: Request) -> anyhow::Result<Value> {
    let store = crate::store::Store::open(&cfg.store_path).map_err(|e| {
        anyhow::anyhow!(
            "{e}\n(no daemon answered on the control socket, and the store could not be opened: if vigil runs, check [alerting] socket)"
        )
    })?;
    // Nothing is sent from here (test sends deliver elsewhere): no secrets needed.
    let engine = Engine::new(
        super::Settings::from_loaded_with(cfg, super::settings::Secrets::Skip)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        Arc::new(store),
        Arc::new(crate::clock::SystemClock),
    )?;
    Ok(handle(&engine, req)?)
}
