//! One client attached to one device over serialmesh's protocol: answer
//! `Open` with `Opened`, relay, close with a reason.
//!
//! The client learns why its session ended only from the Close frame, and
//! acts on its kind (retry on "device gone" and "busy", stop on "protocol"
//! or "unauthorized"), so every way a session ends leads to
//! [`Goodbye::say`], the one place the frame is written.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use serialmesh_io::{Liveness, Relay, RelayEnd};
use serialmesh_proto::conn::write_frame_within;
use serialmesh_proto::{CloseReason, CloseReasonKind, Frame, Open, Opened};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{info, warn, Instrument};

use super::lease::Lease;
use crate::registry::{Gate, Registry, SessionStop};
use crate::telemetry::AgentMetrics;

/// How long we try to deliver a close frame to a peer that may be gone.
const CLOSE_WAIT: Duration = Duration::from_millis(500);
/// How long a client may take to accept `Opened`; the port is held
/// meanwhile, so a client that reads nothing must not keep it.
pub const WRITE_WAIT: Duration = Duration::from_secs(5);

/// Serves `open` on `net` for the client behind `gate`: claims and opens
/// the device ([`Lease::open`]), answers `Opened`, relays until either
/// side ends, then says why and closes the port. `buf` holds what the
/// client sent after its `Open`.
pub async fn serve<S>(
    net: &mut S,
    buf: BytesMut,
    open: Open,
    gate: &dyn Gate,
    registry: &Arc<Registry>,
    liveness: Liveness,
    metrics: &AgentMetrics,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let asked = tokio::time::Instant::now();
    let expect_serial = open.expect_serial.as_deref();
    match Lease::open(
        registry,
        &open.address,
        open.settings,
        expect_serial,
        gate,
        metrics,
    )
    .await
    {
        Err(reason) => Goodbye::Refused(&reason).say(net).await,
        Ok(lease) => {
            let span = lease.span().clone();
            attached(net, buf, lease, asked, registry, liveness, metrics)
                .instrument(span)
                .await
        }
    }
}

/// The session once the port is open; runs in the lease's span. `asked`:
/// when the client's Open arrived (the session setup histogram).
async fn attached<S>(
    net: &mut S,
    buf: BytesMut,
    mut lease: Lease,
    asked: tokio::time::Instant,
    registry: &Registry,
    liveness: Liveness,
    metrics: &AgentMetrics,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let device = lease.device().to_string();
    let opened = Frame::Opened(Opened {
        device: device.clone(),
        agent: registry.agent.clone(),
        zone: registry.zone.clone(),
        settings: lease.settings(),
        serial: registry.serial_of(&device),
    });
    if let Err(e) = write_frame_within(net, &opened, WRITE_WAIT).await {
        info!(error = %e, "client left before the session started");
        lease.close().await;
        return;
    }
    metrics.session_setup(&device, asked.elapsed());
    info!(path = %lease.path().display(), settings = %lease.settings(), "session started");

    let meters = metrics.session(&device);
    meters.active.add(1);
    let stale = lease.stale();
    if stale > 0 {
        // Output of a device nobody was attached to, as a closed serial
        // port would have dropped it (docs/design.md: discarded and counted).
        meters.lost_to_client.add(stale);
        info!(
            discarded = stale,
            "device output from before the session discarded"
        );
    }
    let mut relay = Relay::new(buf).with_meters(meters.relay.clone());
    let end = lease.relay(&mut relay, net, liveness).await;
    let reason = close_reason(end, lease.stop(), lease.path());
    if let Some(r) = &reason {
        info!(reason = %r, "ending session");
        if matches!(
            r.kind,
            CloseReasonKind::DeviceGone | CloseReasonKind::OpenFailed | CloseReasonKind::Protocol
        ) {
            metrics.error(&device, r.kind);
        }
    }
    Goodbye::Relayed(&mut relay, reason.as_ref()).say(net).await;
    meters.active.sub(1);
    let s = relay.stats;
    meters.lost_to_device.add(s.lost_to_device);
    meters.lost_to_client.add(s.lost_to_net);
    info!(
        to_device = s.to_device,
        to_client = s.to_net,
        lost_to_device = s.lost_to_device,
        lost_to_client = s.lost_to_net,
        "session ended"
    );
    lease.close().await;
}

/// How a session leaves its client.
enum Goodbye<'a> {
    /// Refused before `Opened`: nothing is buffered, so the Close frame
    /// alone, and the connection is dropped.
    Refused(&'a CloseReason),
    /// After the relay: what it still buffered for the client, the Close
    /// frame when there is a reason (none when the client itself ended or
    /// is gone), then a TLS close.
    Relayed(&'a mut Relay, Option<&'a CloseReason>),
}

impl Goodbye<'_> {
    /// Best effort within [`CLOSE_WAIT`]: the client may already be gone.
    async fn say<S: AsyncWrite + Unpin>(self, net: &mut S) {
        match self {
            Goodbye::Refused(reason) => {
                let _ = write_frame_within(net, &Frame::Close(reason.clone()), CLOSE_WAIT).await;
            }
            Goodbye::Relayed(relay, reason) => relay.finish(net, reason, CLOSE_WAIT).await,
        }
    }
}

/// What the client is told when the relay stopped for `end`; None when
/// the client itself ended the session or is gone.
fn close_reason(end: RelayEnd, stop: &SessionStop, path: &Path) -> Option<CloseReason> {
    match end {
        RelayEnd::Stopped => Some(stop.reason()),
        RelayEnd::DeviceEof => Some(CloseReason::new(
            CloseReasonKind::DeviceGone,
            format!("{} reached end of file", path.display()),
        )),
        RelayEnd::DeviceError(e) => Some(CloseReason::new(
            CloseReasonKind::DeviceGone,
            format!("{} failed: {e}", path.display()),
        )),
        RelayEnd::Refused(r) => Some(r),
        RelayEnd::Protocol(e) => {
            warn!(error = %e, "client broke the protocol; closing its session");
            Some(CloseReason::new(CloseReasonKind::Protocol, e.to_string()))
        }
        RelayEnd::PeerSilent(d) => {
            warn!(silent = ?d, "client went silent; ending its session");
            Some(CloseReason::new(
                CloseReasonKind::Timeout,
                format!("nothing heard for {d:?}"),
            ))
        }
        RelayEnd::PeerNotReading(d) => {
            warn!(stuck = ?d, "client stopped reading; ending its session");
            Some(CloseReason::new(
                CloseReasonKind::Timeout,
                format!("you read nothing for {d:?}"),
            ))
        }
        RelayEnd::PeerClosed(r) => {
            info!(reason = %r, "client closed the session");
            None
        }
        RelayEnd::NetLost(msg) => {
            info!(error = %msg, "connection to client lost");
            None
        }
    }
}
