//! One client attached to one device: claim, open, relay, close with a reason.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use serialmesh_proto::conn::write_frame_within;
use serialmesh_proto::{
    CloseReason, CloseReasonKind, Frame, Liveness, Open, Opened, Relay, RelayEnd,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{info, warn, Instrument};

use crate::port::hold;
use crate::port::line_control::SessionControl;
use crate::registry::{Gate, Registry, SessionStop};
use crate::port::serial;
use crate::telemetry::AgentMetrics;

/// How long a replacing session waits for its predecessor to close the port.
const REPLACE_WAIT: Duration = Duration::from_secs(3);
/// How long we try to deliver a close frame to a peer that may be gone.
const CLOSE_WAIT: Duration = Duration::from_millis(500);
/// How long a client may take to accept `Opened`; the port is held
/// meanwhile, so a client that reads nothing must not keep it.
pub const WRITE_WAIT: Duration = Duration::from_secs(5);

/// Frees the device even if the session task panics or is cancelled.
struct Release<'a> {
    registry: &'a Registry,
    device: String,
    session: u64,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.registry.release(&self.device, self.session);
    }
}

pub async fn run<S>(
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
    // One budget for waiting out a re-plug, whether the device is known to
    // be unplugged (the claim waits) or its path just vanished (the open
    // waits).
    let hold_until = tokio::time::Instant::now() + hold::HOLD;
    let (claim, claim_waited) = match hold::claim(registry, &open.address, gate, hold_until).await {
        Ok(c) => c,
        Err(reason) => {
            metrics.refused(&reason.kind.to_string());
            let key = format!("{} {}", open.address, reason.kind);
            if let Some(unlogged) = registry.refusal_log.admit(&key) {
                warn!(address = %open.address, %reason, unlogged, "refused to open device");
            }
            let _ = write_frame_within(net, &Frame::Close(reason), CLOSE_WAIT).await;
            return;
        }
    };
    let device = claim.device.name.clone();
    let _release = Release {
        registry,
        device: device.clone(),
        session: claim.session,
    };
    // Instrumented, not entered: a span guard held across awaits would
    // tag other tasks' log lines on this worker with this session.
    let span = tracing::info_span!("session", device = %device, session = claim.session);
    async move {
        let _release = _release;

        let Ok(port_guard) =
            tokio::time::timeout(REPLACE_WAIT, claim.port_lock.clone().lock_owned()).await
        else {
            let reason = CloseReason::new(
                CloseReasonKind::Busy,
                format!("the previous session on {device} did not close within {REPLACE_WAIT:?}"),
            );
            warn!(%reason, "refused to open device");
            let _ = write_frame_within(net, &Frame::Close(reason), CLOSE_WAIT).await;
            return;
        };
        if claim.stop.token().is_cancelled() {
            // Replaced again (or shutting down) while we waited for the port.
            let _ = write_frame_within(net, &Frame::Close(claim.stop.reason()), CLOSE_WAIT).await;
            return;
        }

        let settings = open.settings.unwrap_or(claim.device.settings);
        let (mut port, stale, path) = match hold::open(registry, &claim, &settings, hold_until)
            .await
        {
            Ok(o) => {
                let waited = claim_waited + o.waited;
                if waited > Duration::from_millis(1) {
                    info!(
                        waited_ms = waited.as_millis() as u64,
                        "opened once the device came back"
                    );
                }
                (o.port, o.stale, o.path)
            }
            Err(hold::NotOpened::Stopped) => {
                // Replaced or shut down while waiting for the device: that
                // is what its client needs to hear, not the missing path.
                let reason = claim.stop.reason();
                info!(%reason, "ended while waiting for the device");
                let _ = write_frame_within(net, &Frame::Close(reason), CLOSE_WAIT).await;
                return;
            }
            Err(hold::NotOpened::Failed(path, e)) => {
                let kind = match e.kind() {
                    std::io::ErrorKind::NotFound => CloseReasonKind::DeviceGone,
                    _ => CloseReasonKind::OpenFailed,
                };
                let reason = CloseReason::new(kind, format!("cannot open {}: {e}", path.display()));
                metrics.refused(&reason.kind.to_string());
                metrics.error(&device, &reason.message);
                if let Some(unlogged) = registry.refusal_log.admit(&device) {
                    warn!(%reason, unlogged, "device open failed");
                }
                let _ = write_frame_within(net, &Frame::Close(reason), CLOSE_WAIT).await;
                return;
            }
        };
        let opened = Frame::Opened(Opened {
            device: device.clone(),
            agent: registry.agent.clone(),
            zone: registry.zone.clone(),
            settings,
        });
        registry.refusal_log.reset(&device);
        if let Err(e) = write_frame_within(net, &opened, WRITE_WAIT).await {
            info!(error = %e, "client left before the session started");
            return;
        }
        info!(path = %path.display(), %settings, "session started");

        let meters = metrics.session(&device);
        meters.active.add(1);
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
        let end = relay
            .run(
                net,
                &mut port,
                claim.stop.token().cancelled(),
                liveness,
                SessionControl::new(path.clone()),
            )
            .await;
        let reason = close_reason(end, &claim.stop, &path);
        if let Some(r) = &reason {
            info!(reason = %r, "ending session");
            if matches!(
                r.kind,
                CloseReasonKind::DeviceGone
                    | CloseReasonKind::OpenFailed
                    | CloseReasonKind::Protocol
            ) {
                metrics.error(&device, &r.to_string());
            }
        }
        relay.finish(net, reason.as_ref(), CLOSE_WAIT).await;
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
        // The port closes before the port lock is released, so a replacing
        // session never finds it still open.
        serial::close(port.into_inner(), port_guard).await;
    }
    .instrument(span)
    .await
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
