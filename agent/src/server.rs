//! The mTLS listener: accept, limit, hand each connection to its own task.
//!
//! The TLS handshake happens inside the spawned task under its own timeout,
//! so a slow or hostile peer never stalls the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::handler;
use crate::registry::Registry;
use crate::telemetry::AgentMetrics;
use serialmesh_proto::Liveness;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections at once, authenticated or not.
    pub max_connections: usize,
    /// TLS handshake, then hello and request, must each finish within this.
    pub handshake_timeout: Duration,
    pub liveness: Liveness,
    /// Grace period for sessions to say goodbye on shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            handshake_timeout: Duration::from_secs(10),
            liveness: Liveness::default(),
            shutdown_grace: Duration::from_millis(1500),
        }
    }
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
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let tracker = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        self.metrics.over_limit.inc();
                        warn!(%peer, limit = self.limits.max_connections, "too many connections; dropping this one");
                        continue;
                    };
                    let this = self.clone();
                    tracker.spawn(async move { this.connection(stream, peer, permit).await });
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

    async fn connection(&self, stream: TcpStream, peer: SocketAddr, _permit: OwnedSemaphorePermit) {
        if let Err(e) = stream.set_nodelay(true) {
            warn!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let accept = self.acceptor.accept(stream);
        let tls = match tokio::time::timeout(self.limits.handshake_timeout, accept).await {
            Ok(Ok(tls)) => tls,
            // Closed during the handshake without a word: a port probe
            // (other agents' liveness checks, Kubernetes tcpSocket probes)
            // or a client that gave up, not a TLS failure.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::debug!(%peer, "connection closed during the TLS handshake (a port probe?)");
                return;
            }
            Ok(Err(e)) => {
                self.metrics.handshake_failures.inc();
                warn!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                self.metrics.handshake_failures.inc();
                warn!(%peer, timeout = ?self.limits.handshake_timeout, "TLS handshake timed out");
                return;
            }
        };
        handler::handle(
            tls,
            peer,
            &self.registry,
            &self.authz,
            &self.mesh,
            &self.limits,
            &self.metrics,
        )
        .await;
    }
}
