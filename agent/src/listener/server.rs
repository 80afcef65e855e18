//! The mTLS listener: accept, limit, hand each connection to its own task.
//!
//! The TLS handshake happens inside the spawned task under its own timeout,
//! so a slow or hostile peer never stalls the accept loop. Floods are logged
//! a line per interval, not a line per connection (`crate::throttle`).
//! What an authenticated connection asks for is [`Server::handle`]'s
//! (`handler.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serialmesh_io::ReadAhead;
use serialmesh_proto::conn::write_frame_within;
use serialmesh_proto::{CloseReason, Frame};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::admission::{Admission, Caps, Eviction, PendingTicket, Slot, Source};
use super::limits::Limits;
use crate::registry::Registry;
use crate::telemetry::AgentMetrics;

/// A client's connection once its handshake is done.
pub type ClientConn = tokio_rustls::server::TlsStream<ReadAhead<TcpStream>>;

/// Depth of the kernel's queue of connections not yet accepted. Under a
/// handshake flood the agent accepts in bursts, between bursts of TLS work;
/// when the queue is full the kernel drops new SYNs, a real client's among
/// them, and a dropped SYN is retried only after a second. The 128 of
/// `TcpListener::bind` overflowed under a one-host flood in tests.
const ACCEPT_BACKLOG: u32 = 1024;

/// Listens on `addr` with a queue of [`ACCEPT_BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As TcpListener::bind does: a restarted agent rebinds at once, though
    // connections of the old one linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

pub struct Server {
    /// Other agents, for `Inventory.peers`.
    pub mesh: Arc<crate::mesh::Mesh>,
    pub registry: Arc<Registry>,
    pub authz: Arc<crate::authz::Authz>,
    pub metrics: AgentMetrics,
    pub acceptor: TlsAcceptor,
    pub limits: Limits,
}

impl Server {
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: CancellationToken) {
        let l = self.limits;
        let admission = Arc::new(Admission::new(Caps {
            max_connections: l.max_connections,
            max_pending: l.max_pending,
            max_pending_per_source: l.max_pending_per_source,
            max_per_client: l.max_connections_per_client,
        }));
        let tracker = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let Some(slot) = admission.connection() else {
                        self.metrics.over_limit.inc();
                        if let Some(unlogged) = admission.log_over_limit.admit() {
                            warn!(%peer, limit = l.max_connections, unlogged, "too many connections (max_connections); closing new ones");
                        }
                        continue;
                    };
                    // Registered here, in arrival order and before any TLS
                    // work: a flood's connections are pushed out while they
                    // wait for a worker, and then cost that worker a poll,
                    // not a key exchange and a signature.
                    let ticket = self.register_pending(&admission, peer, slot);
                    let this = self.clone();
                    let admission = admission.clone();
                    tracker.spawn(async move {
                        this.connection(stream, peer, ticket, &admission).await
                    });
                }
                Err(e) => {
                    // Out of file descriptors and similar: back off instead
                    // of spinning, and keep serving the sessions we have.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        tracker.close();
        if tokio::time::timeout(self.limits.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            warn!("some sessions did not finish within the shutdown grace period");
        }
        info!("stopped");
    }

    async fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        ticket: PendingTicket,
        admission: &Admission,
    ) {
        let Some(tls) = self.handshake(stream, peer, &ticket, admission).await else {
            return;
        };
        // Pushed out just as its handshake finished: closed like the others.
        let Some(_slot) = ticket.admitted() else {
            return;
        };
        // The handler refuses a connection without a usable certificate
        // name; only named clients count toward the per-client cap.
        let name = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| serialmesh_pki::identity_of(c).ok())
            .map(|id| id.name);
        let _ticket = match name {
            Some(name) => match admission.client(&name) {
                Some(t) => Some(t),
                None => {
                    return self
                        .refuse_over_client_limit(tls, peer, &name, admission)
                        .await
                }
            },
            None => None,
        };
        // Boxed: a connection's task is spawned, with room for its whole
        // future, before its handshake; under a handshake flood most never
        // get past it, and should not each carry a session's state.
        Box::pin(self.handle(tls, peer)).await;
    }

    /// A pending place for a new connection from `peer`, logging whose
    /// place it took.
    fn register_pending(
        &self,
        admission: &Arc<Admission>,
        peer: SocketAddr,
        slot: Slot,
    ) -> PendingTicket {
        let (ticket, eviction) = admission.pending(Source::of(peer.ip()), slot);
        match eviction {
            Eviction::None => {}
            Eviction::OwnSource => {
                self.metrics.over_limit.inc();
                if let Some(unlogged) = admission.log_evicted_source.admit() {
                    warn!(%peer, limit = self.limits.max_pending_per_source, unlogged, "too many pending TLS handshakes from one address (max_pending_per_source); closed its oldest to make room");
                }
            }
            Eviction::BusiestSource => {
                self.metrics.over_limit.inc();
                if let Some(unlogged) = admission.log_evicted.admit() {
                    warn!(%peer, limit = self.limits.max_pending, unlogged, "too many pending TLS handshakes (max_pending); closed the oldest of the address holding the most to make room");
                }
            }
        }
        ticket
    }

    /// The TLS handshake, within `handshake_timeout` and while no newer
    /// connection needs this one's pending place.
    async fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        ticket: &PendingTicket,
        admission: &Admission,
    ) -> Option<ClientConn> {
        if let Err(e) = stream.set_nodelay(true) {
            warn!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let accept = tokio::time::timeout(
            self.limits.handshake_timeout,
            self.acceptor.accept(ReadAhead::new(stream)),
        );
        let result = tokio::select! {
            // Evicted before this task first ran: close without starting
            // the handshake's work.
            biased;
            _ = ticket.evicted.cancelled() => {
                self.metrics.handshake_failures.inc();
                tracing::debug!(%peer, "pending handshake closed to make room for a newer connection");
                return None;
            }
            r = accept => r,
        };
        match result {
            Ok(Ok(mut tls)) => {
                // Authenticated: worth a read-ahead buffer now.
                tls.get_mut().0.enable();
                Some(tls)
            }
            // Closed during the handshake without a word: a port probe
            // (other agents' liveness checks, Kubernetes tcpSocket probes)
            // or a client that gave up, not a TLS failure.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::debug!(%peer, "connection closed during the TLS handshake (a port probe?)");
                None
            }
            Ok(Err(e)) => {
                self.metrics.handshake_failures.inc();
                match admission.log_handshake.admit() {
                    Some(unlogged) => warn!(%peer, error = %e, unlogged, "TLS handshake failed"),
                    None => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                }
                None
            }
            Err(_) => {
                self.metrics.handshake_failures.inc();
                let timeout = self.limits.handshake_timeout;
                match admission.log_handshake.admit() {
                    Some(unlogged) => warn!(%peer, ?timeout, unlogged, "TLS handshake timed out"),
                    None => tracing::debug!(%peer, ?timeout, "TLS handshake timed out"),
                }
                None
            }
        }
    }

    /// Tells a client over its cap why, out of band, and closes.
    async fn refuse_over_client_limit(
        &self,
        mut tls: ClientConn,
        peer: SocketAddr,
        name: &str,
        admission: &Admission,
    ) {
        let limit = admission.caps().max_per_client;
        self.metrics.refused("too many connections");
        if let Some(unlogged) = admission.log_per_client.admit() {
            warn!(%peer, client = %name, limit, unlogged, "client has too many connections (max_connections_per_client); refusing another");
        }
        let reason = CloseReason::busy(
            name,
            format!("client '{name}' already has {limit} connections to this agent (max_connections_per_client)"),
        );
        let _ =
            write_frame_within(&mut tls, &Frame::Close(reason), Duration::from_millis(500)).await;
    }
}
