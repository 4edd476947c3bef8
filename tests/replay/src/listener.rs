//! A TCP listener that can go down and come back on the same port.
//!
//! `axum::serve` can stop accepting but cannot kill live keep-alive connections, and a
//! client with a pooled connection would keep getting answers from a "dead" node. So
//! each listener runs its own accept loop: every connection is a task in a `JoinSet`,
//! and going down closes the socket (new connections are refused, as with a stopped
//! process) and aborts all connection tasks. Whether a listener should be down is asked
//! of a policy closure whenever a fault changes, at scheduled moments (recorded
//! outages) and periodically while a re-bind is failing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Whether a listener must be down now, and when to ask again (a scheduled change).
pub(crate) type DownPolicy = Arc<dyn Fn() -> (bool, Option<Duration>) + Send + Sync>;

/// How long to wait before retrying a failed re-bind.
const REBIND_RETRY: Duration = Duration::from_millis(50);

/// Binds `addr` with `SO_REUSEADDR`, so the port can be taken again right after a
/// "down" period even with connections of the previous socket in TIME_WAIT.
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let socket = TcpSocket::new_v4().context("creating a TCP socket")?;
    socket.set_reuseaddr(true).context("setting SO_REUSEADDR")?;
    socket
        .bind(addr)
        .with_context(|| format!("binding {addr}"))?;
    socket
        .listen(1024)
        .with_context(|| format!("listening on {addr}"))
}

/// Runs a listener until `shutdown` changes (or its sender is gone).
pub(crate) fn spawn(
    name: String,
    listener: TcpListener,
    router: Router,
    policy: DownPolicy,
    mut changes: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let addr = listener.local_addr().context("reading the bound address")?;
    Ok(tokio::spawn(async move {
        let mut listener = Some(listener);
        let mut conns = JoinSet::new();
        loop {
            let (down, recheck) = policy();
            let mut retry = None;
            if down && listener.is_some() {
                listener = None;
                conns.shutdown().await;
                tracing::debug!(%name, %addr, "listener down");
            } else if !down && listener.is_none() {
                match bind(addr) {
                    Ok(l) => {
                        listener = Some(l);
                        tracing::debug!(%name, %addr, "listener up again");
                    }
                    Err(e) => {
                        tracing::warn!(%name, %addr, error = %format!("{e:#}"), "re-binding failed, retrying");
                        retry = Some(REBIND_RETRY);
                    }
                }
            }
            let wake = match (recheck, retry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = sleep_or_forever(wake) => {}
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                accepted = accept(listener.as_ref()) => match accepted {
                    Ok((stream, _peer)) => {
                        let service = TowerToHyperService::new(router.clone());
                        conns.spawn(async move {
                            let conn = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service);
                            if let Err(e) = conn.await {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                        });
                    }
                    Err(e) => {
                        // EMFILE and the like: back off instead of spinning.
                        tracing::warn!(%name, error = %e, "accept failed");
                        tokio::time::sleep(REBIND_RETRY).await;
                    }
                },
            }
        }
        drop(listener);
        conns.shutdown().await;
    }))
}

async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn sleep_or_forever(wake: Option<Duration>) {
    match wake {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
