//! A local TCP endpoint bound to one device address.
//!
//! Each accepted connection becomes a link to the device; a newer local
//! connection replaces the older one (ser2net's "kickolduser"), because a
//! gateway that reconnects has given up on its old socket. With
//! [`Wire::Rfc2217`] each connection speaks telnet with the COM-PORT-OPTION (see
//! [`super::rfc2217`]).
//!
//! Anyone who can reach the address can connect, and so take the device
//! over from the gateway: on a host shared with other users or with
//! containers on the host network, that is anyone on the host. With
//! `allow_users` ([`Gate::Uids`]) a connection whose socket belongs to
//! another user (see `peer_uid.rs`) is closed before it replaces
//! anything.

use std::sync::Arc;

use serialmesh_io::Liveness;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use super::peer_uid::peer_uid;
use super::rfc2217::Rfc2217Stream;
use crate::link::{self, Target};

/// What a TCP endpoint speaks to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The device's bytes as they are.
    Raw,
    /// Telnet with the COM-PORT-OPTION (RFC 2217): the application sets
    /// baud rate, framing, flow control, modem lines and break.
    Rfc2217,
}

/// Who may connect to a TCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Anyone,
    /// Only sockets owned by these uids (a loopback listener: the config
    /// and `connect` refuse anything else).
    Uids(Vec<u32>),
}

/// Serves `target` on `listener` until `shutdown`: one link per accepted
/// connection that `gate` admits, the newest replacing the one before.
pub async fn serve_tcp(
    listener: TcpListener,
    target: Arc<Target>,
    shutdown: CancellationToken,
    liveness: Liveness,
    wire: Wire,
    gate: Gate,
) {
    let tracker = TaskTracker::new();
    let mut current: Option<(CancellationToken, tokio::task::JoinHandle<()>)> = None;
    let mut counter: u64 = 0;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Gate::Uids(allowed) = &gate {
            if let Err(why) = admit(&tracker, allowed, &stream, peer).await {
                warn!(%peer, "refused a local connection: {why}");
                target.meters.refused.inc();
                // Closed at once, before it replaces the gateway's.
                drop(stream);
                continue;
            }
        }
        if let Err(e) = stream.set_nodelay(true) {
            warn!(error = %e, "cannot set TCP_NODELAY on the local connection");
        }
        if let Some((old, task)) = current.take() {
            if !task.is_finished() {
                info!("a newer local connection replaces the previous one");
            }
            old.cancel();
        }
        counter += 1;
        let stop = shutdown.child_token();
        let link_stop = stop.clone();
        let span = tracing::info_span!("conn", n = counter, %peer);
        info!(parent: &span, "application connected");
        let target = target.clone();
        let task = tracker.spawn(
            async move {
                if wire == Wire::Rfc2217 {
                    let mut stream = Rfc2217Stream::new(stream);
                    link::run(target, &mut stream, stop, liveness).await;
                    // Answers and device bytes still queued for the
                    // application, before its connection closes.
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(300),
                        tokio::io::AsyncWriteExt::flush(&mut stream),
                    )
                    .await;
                } else {
                    let mut stream = stream;
                    link::run(target, &mut stream, stop, liveness).await;
                }
            }
            .instrument(span),
        );
        current = Some((link_stop, task));
    }
    tracker.close();
    let _ = tokio::time::timeout(std::time::Duration::from_millis(1500), tracker.wait()).await;
}

/// Ok if the socket at `peer` belongs to one of `allowed`; else why not.
async fn admit(
    tracker: &TaskTracker,
    allowed: &[u32],
    stream: &TcpStream,
    peer: SocketAddr,
) -> Result<u32, Refusal> {
    let local = stream.local_addr().map_err(Refusal::NoLocalAddress)?;
    let found = tracker
        .spawn_blocking(move || peer_uid(local, peer))
        .await
        .map_err(Refusal::LookupFailed)?;
    match found {
        Ok(Some(uid)) if allowed.contains(&uid) => Ok(uid),
        Ok(Some(uid)) => Err(Refusal::NotAllowed(uid)),
        Ok(None) => Err(Refusal::Gone),
        Err(e) => Err(Refusal::Unknown(e)),
    }
}

/// Why a local connection was closed unserved.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("its local address is unknown: {0}")]
    NoLocalAddress(#[source] std::io::Error),
    #[error("the lookup of its user failed: {0}")]
    LookupFailed(#[source] tokio::task::JoinError),
    #[error("uid {0} is not in allow_users")]
    NotAllowed(u32),
    #[error("its socket was gone before its user could be looked up")]
    Gone,
    #[error("cannot tell which user made it: {0}")]
    Unknown(#[source] std::io::Error),
}
