//! After the TLS handshake: who is this, which protocol, what do they want.
//!
//! Everything a client sends before its request is untrusted and may be
//! trickled a byte at a time, so Hello and the request share one deadline
//! (`request_timeout`), and a peer that breaks the protocol loses only
//! its own connection, told why in a Close frame.

use std::net::SocketAddr;

use bytes::BytesMut;
use serialmesh_proto::conn::{read_frame, write_frame_within, ConnError};
use serialmesh_proto::{
    CloseReason, CloseReasonKind, Frame, Hello, Inventory, ALPN, FEATURE_LINE_CONTROL,
    PROTOCOL_VERSION,
};
use tracing::{debug, info, warn, Instrument};

use super::limits::Limits;
use super::server::{ClientConn, Server};
use crate::port::{self, WRITE_WAIT};
use crate::telemetry::AgentMetrics;

impl Server {
    /// Serves one authenticated connection: Hello both ways, then the
    /// client's one request (`Open` a device, or `List` the inventory).
    pub(super) async fn handle(&self, mut tls: ClientConn, peer: SocketAddr) {
        let Server {
            registry,
            authz,
            mesh,
            limits,
            metrics,
            ..
        } = self;
        let (_, conn) = tls.get_ref();
        if conn.alpn_protocol() != Some(ALPN) {
            warn!(%peer, "client did not negotiate ALPN {}; closing", String::from_utf8_lossy(ALPN));
            return;
        }
        // The verifier already checked chain, role and deny-list; this only
        // reads the name the certificate carries.
        let identity = match conn.peer_certificates().and_then(|c| c.first()) {
            Some(cert) => match serialmesh_pki::identity_of(cert) {
                Ok(id) => id,
                Err(e) => {
                    warn!(%peer, error = %e, "client certificate carries no usable identity");
                    return;
                }
            },
            None => {
                warn!(%peer, "client presented no certificate");
                return;
            }
        };
        let gate = authz.gate(&identity);
        let span = tracing::info_span!("client", client = %identity.name, %peer);
        // One deadline for Hello and the request together: a peer trickling a
        // byte at a time can not stretch it frame by frame.
        let deadline = tokio::time::Instant::now() + limits.request_timeout;
        async move {
            let mut buf = BytesMut::new();
            let hello = match next(&mut tls, &mut buf, deadline, limits).await {
                Ok(Frame::Hello(h)) => h,
                Ok(other) => {
                    return refuse(
                        metrics,
                        &mut tls,
                        format!("expected Hello first, got {:?}", other.frame_type()),
                    )
                    .await
                }
                Err(e) => return report(metrics, &mut tls, e).await,
            };
            if hello.version != PROTOCOL_VERSION {
                return refuse(
                    metrics,
                    &mut tls,
                    format!(
                    "protocol version {} is not supported; this agent speaks {PROTOCOL_VERSION}",
                    hello.version
                ),
                )
                .await;
            }
            debug!(software = %hello.software, "hello");
            let ours = Frame::Hello(Hello {
                version: PROTOCOL_VERSION,
                software: format!("seriald {}", env!("CARGO_PKG_VERSION")),
                name: registry.agent.clone(),
                zone: registry.zone.clone(),
                features: vec![FEATURE_LINE_CONTROL.to_string()],
                time: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs()),
            });
            if write_frame_within(&mut tls, &ours, WRITE_WAIT)
                .await
                .is_err()
            {
                return;
            }
            match next(&mut tls, &mut buf, deadline, limits).await {
                Ok(Frame::Open(open)) => {
                    port::serve(
                        &mut tls,
                        buf,
                        open,
                        &gate,
                        registry,
                        limits.liveness,
                        metrics,
                    )
                    .await
                }
                Ok(Frame::List) => {
                    let peer_keys = mesh.peers();
                    let inv = Frame::Inventory(
                        Inventory {
                            agent: registry.agent.clone(),
                            zone: registry.zone.clone(),
                            devices: registry.inventory_for(&gate),
                            peers: peer_keys.iter().map(|p| p.addr.clone()).collect(),
                            peer_keys,
                            truncated: false,
                        }
                        // The encoder refuses a frame over the limit: one that
                        // would not fit goes out shortened, and says so.
                        .fit(),
                    );
                    if let Err(e) = write_frame_within(&mut tls, &inv, WRITE_WAIT).await {
                        info!(error = %e, "inventory not delivered");
                    }
                }
                Ok(other) => {
                    refuse(
                        metrics,
                        &mut tls,
                        format!("expected Open or List, got {:?}", other.frame_type()),
                    )
                    .await
                }
                Err(e) => report(metrics, &mut tls, e).await,
            }
        }
        .instrument(span)
        .await
    }
}

async fn next<S>(
    tls: &mut S,
    buf: &mut BytesMut,
    deadline: tokio::time::Instant,
    limits: &Limits,
) -> Result<Frame, ConnError>
where
    S: tokio::io::AsyncRead + Unpin,
{
    match tokio::time::timeout_at(deadline, read_frame(tls, buf)).await {
        Ok(r) => r,
        Err(_) => Err(ConnError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no request within {:?}", limits.request_timeout),
        ))),
    }
}

async fn report(metrics: &AgentMetrics, tls: &mut ClientConn, e: ConnError) {
    match e {
        ConnError::Protocol(p) => refuse(metrics, tls, p.to_string()).await,
        ConnError::Closed => debug!("client closed the connection"),
        other => info!(error = %other, "connection ended before a request"),
    }
}

/// Logs a protocol violation, tells the peer why, and drops only this
/// connection.
async fn refuse(metrics: &AgentMetrics, tls: &mut ClientConn, why: String) {
    metrics.protocol_violations.inc();
    warn!(error = %why, "protocol violation; closing this connection");
    let reason = CloseReason::new(CloseReasonKind::Protocol, why);
    let _ = write_frame_within(
        tls,
        &Frame::Close(reason),
        std::time::Duration::from_millis(500),
    )
    .await;
}
