//! The admin endpoint: `/healthz`, `/readyz` and `/metrics` on an optional
//! address, separate from the mTLS port so probes and scrapers need no
//! client certificate.
//!
//! Slow or hostile clients are bounded three ways: a deadline for the whole
//! request head (a byte every few seconds does not keep a connection alive),
//! a cap on its size, and a cap on concurrent connections. At that cap the
//! oldest connection is closed to make room (`slots.rs`), not the newcomer:
//! the newcomer is usually a liveness probe, and a probe turned away by
//! connections that say nothing gets a healthy process restarted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::http::{read_head, write_response, HeadError, Request, Response, Status};
use crate::metrics::Metrics;
use crate::slots::{Slots, Taken};

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// One line for a human reading the probe output ("2 of 3 devices open").
    pub detail: String,
}

impl Readiness {
    pub fn ready(detail: impl Into<String>) -> Self {
        Self {
            ready: true,
            detail: detail.into(),
        }
    }

    pub fn not_ready(detail: impl Into<String>) -> Self {
        Self {
            ready: false,
            detail: detail.into(),
        }
    }
}

/// What the admin endpoint serves.
#[derive(Clone)]
pub struct AdminState {
    pub metrics: Metrics,
    /// Called on every `/readyz`, on a runtime thread: it must be cheap and
    /// must not block (read an atomic or a watch channel, not a device).
    pub ready: Arc<dyn Fn() -> Readiness + Send + Sync>,
}

/// Bounds on what one client can cost us. The defaults suit a probe every
/// few seconds and a scrape every 15 s with plenty of headroom.
#[derive(Debug, Clone)]
pub struct AdminLimits {
    /// Connections held at once; a newcomer beyond this closes the oldest
    /// (at least one is always held).
    pub max_connections: usize,
    /// A request head larger than this gets 431.
    pub max_head_bytes: usize,
    /// Deadline for the whole request head, and separately for the response.
    pub io_timeout: Duration,
}

impl Default for AdminLimits {
    fn default() -> Self {
        Self {
            max_connections: 32,
            max_head_bytes: 8 * 1024,
            io_timeout: Duration::from_secs(5),
        }
    }
}

/// How long to keep reading after responding, so that unread request bytes
/// do not make the kernel reset the connection before the client has read
/// our response (the "lingering close" of other HTTP servers).
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;

/// Pause after a failed accept (out of file descriptors, usually), so the
/// loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Binds the admin address, with an error that names it: "address in use"
/// alone does not say which of the agent's sockets clashed.
pub async fn bind_admin(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on admin address {addr}: {e}"),
        )
    })
}

/// Serves until `shutdown` fires, with the default [`AdminLimits`].
pub async fn serve_admin(listener: TcpListener, state: AdminState, shutdown: CancellationToken) {
    serve_admin_with(listener, state, shutdown, AdminLimits::default()).await
}

/// Serves until `shutdown` fires, then stops accepting, ends the open
/// connections and returns once their tasks are gone.
pub async fn serve_admin_with(
    listener: TcpListener,
    state: AdminState,
    shutdown: CancellationToken,
    limits: AdminLimits,
) {
    let slots = Slots::new(limits.max_connections);
    let tasks = TaskTracker::new();
    let shared = Arc::new((state, limits));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "admin endpoint: accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let slot = loop {
            match slots.take() {
                Taken::Free(slot) => break Some(slot),
                Taken::EvictedOldest(slot) => {
                    tracing::debug!(%peer, "admin endpoint: too many connections; closed the oldest");
                    break Some(slot);
                }
                Taken::Wait(until) => tokio::select! {
                    _ = shutdown.cancelled() => break None,
                    _ = tokio::time::sleep_until(until.into()) => {}
                },
            }
        };
        let Some(slot) = slot else {
            break;
        };
        let shared = shared.clone();
        let stop = shutdown.clone();
        tasks.spawn(
            async move {
                let (state, limits) = &*shared;
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = slot.evicted.cancelled() => {}
                    _ = handle(stream, state, limits) => {}
                }
                drop(slot);
            }
            .instrument(tracing::debug_span!("admin", %peer)),
        );
        // Let the new connection read the request that came with it before
        // the next accept: otherwise a burst of connections waiting in the
        // backlog is accepted in one go, and `max_connections` of them push
        // out a probe that was never polled.
        tokio::task::yield_now().await;
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
}

/// One connection: one request, one response, close.
async fn handle(mut stream: TcpStream, state: &AdminState, limits: &AdminLimits) {
    let head = tokio::time::timeout(
        limits.io_timeout,
        read_head(&mut stream, limits.max_head_bytes),
    )
    .await;
    let response = match head {
        Ok(Ok(request)) => route(&request, state),
        Ok(Err(HeadError::TooLarge)) => {
            Response::text(Status::HeaderFieldsTooLarge, "request head too large\n")
        }
        Ok(Err(HeadError::Malformed)) => Response::text(Status::BadRequest, "bad request\n"),
        Ok(Err(HeadError::Io(e))) => {
            tracing::debug!(error = %e, "client left before finishing its request");
            return;
        }
        Err(_) => {
            tracing::debug!("request head not complete in time; dropping the connection");
            return;
        }
    };
    match tokio::time::timeout(limits.io_timeout, write_response(&mut stream, &response)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "could not write the response");
            return;
        }
        Err(_) => {
            tracing::debug!("client did not read the response in time");
            return;
        }
    }
    linger(stream).await;
}

fn route(request: &Request, state: &AdminState) -> Response {
    if request.method != "GET" {
        return Response::text(Status::MethodNotAllowed, "method not allowed\n");
    }
    match request.path.as_str() {
        // Answering at all proves the process is alive and its runtime is
        // scheduling tasks; anything deeper belongs in /readyz.
        "/healthz" => Response::text(Status::Ok, "ok\n"),
        "/readyz" => {
            let readiness = (state.ready)();
            let status = if readiness.ready {
                Status::Ok
            } else {
                Status::ServiceUnavailable
            };
            let mut body = readiness.detail;
            if body.is_empty() {
                body.push_str(if readiness.ready {
                    "ready"
                } else {
                    "not ready"
                });
            }
            if !body.ends_with('\n') {
                body.push('\n');
            }
            Response::text(status, body)
        }
        "/metrics" => Response {
            status: Status::Ok,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: state.metrics.render(),
        },
        _ => Response::text(Status::NotFound, "not found\n"),
    }
}

/// Sends our FIN, then discards what the client still sends until it closes,
/// for a bounded time and amount.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
