//! One application connection kept attached to one device, through tunnel
//! outages and agent restarts.
//!
//! zwave-js gives up on a dropped `tcp://` port after ten one-second retries
//! and zigbee2mqtt exits on the first drop, so the application's socket is
//! held open while we reconnect behind it. Bytes it writes meanwhile are
//! dropped and counted, not queued: a door-lock command replayed seconds
//! late is worse than one the gateway retries itself after its ACK timeout.

use std::sync::Arc;
use std::time::Duration;

use serialmesh_proto::{
    CloseReason, CloseReasonKind, Control, Frame, LineSettings, Liveness, Opened, Relay, RelayEnd,
};
use tokio::io::AsyncReadExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::backoff::Backoff;
use crate::dial::{DialError, Dialer};
use crate::telemetry::EndpointMeters;

const CLOSE_WAIT: Duration = Duration::from_millis(300);

pub struct Target {
    pub address: String,
    /// `host:port` of the agent (`--agent`), or what resolves it, for logs.
    pub agent: String,
    /// Finds the agent anew before every dial (mDNS and seeds), so a device
    /// moved to another host is followed; `None`: always `agent`.
    pub resolver: Option<Arc<crate::resolve::Resolver>>,
    pub meters: Arc<EndpointMeters>,
    /// The agent certificate required (`agent_fingerprint`), also when
    /// the agent is found by resolution.
    pub pin: Option<serialmesh_pki::Fingerprint>,
}

/// The application's side of a link: a TCP connection or a pty.
pub trait Local: AsyncRead + AsyncWrite + Unpin + Send {
    /// The tunnel is up with these settings (a pty shows them to the
    /// application through its termios). `line_control`: the agent takes
    /// line control frames (break, purge, modem lines).
    fn tunnel_up(&mut self, _opened: &Opened, _line_control: bool) {}

    /// The tunnel went down; frames for the agent have nowhere to go.
    fn tunnel_down(&mut self) {}

    /// Line settings the application changed since the last call.
    fn line_change(&mut self) -> Option<LineSettings> {
        None
    }

    /// The next control frame for the agent, ahead of the application's
    /// next bytes.
    fn outbound_frame(&mut self) -> Option<Frame> {
        self.line_change().map(Frame::SetLine)
    }

    /// A control frame from the agent during the session.
    fn inbound_frame(&mut self, frame: Frame) -> Result<(), CloseReason> {
        Err(CloseReason::new(
            CloseReasonKind::Protocol,
            format!("unexpected {:?} frame from agent", frame.frame_type()),
        ))
    }
}

impl Local for TcpStream {}

/// Hands control frames between the relay and the application's side.
struct LocalControl;

impl<L: Local> Control<L> for LocalControl {
    fn inbound(&mut self, dev: &mut L, frame: Frame) -> Result<(), CloseReason> {
        dev.inbound_frame(frame)
    }

    fn outbound(&mut self, dev: &mut L) -> Option<Frame> {
        dev.outbound_frame()
    }
}

enum Outcome {
    Retry(String),
    Done(LinkEnd),
}

/// Why a link ended, for the endpoint to decide what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// The application closed its connection (or pty).
    AppLeft,
    /// The endpoint stopped it (replaced or shutting down).
    Stopped,
    /// Retrying cannot help without a human (not authorised, replaced by
    /// another session of this client, protocol mismatch).
    Fatal(String),
}

pub async fn run<L: Local>(
    dialer: Arc<Dialer>,
    target: Arc<Target>,
    local: &mut L,
    stop: CancellationToken,
    liveness: Liveness,
) -> LinkEnd {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut dropped: u64 = 0;
    let mut down_since: Option<tokio::time::Instant> = None;
    loop {
        // While dialling, the application's bytes wait in the socket buffer
        // and are relayed once the tunnel is up: the first command a gateway
        // sends right after connecting must not be lost.
        let attempt = tokio::time::Instant::now();
        let dial = async {
            match &target.resolver {
                Some(resolver) => resolver.open(&target.address, target.pin).await,
                None => dialer.open(&target.agent, &target.address).await,
            }
        };
        let session = tokio::select! {
            s = dial => s,
            _ = stop.cancelled() => return LinkEnd::Stopped,
        };
        let mut session = match session {
            Ok(s) => s,
            Err(e) => {
                target.meters.error(&e.to_string());
                if !retryable(&e) {
                    error!(error = %e, "giving up on this connection");
                    return LinkEnd::Fatal(e.to_string());
                }
                let delay = if e.nobody_listening() {
                    backoff.next_refused_delay()
                } else {
                    backoff.next_delay()
                };
                if backoff.attempts <= 1 || backoff.attempts.is_multiple_of(10) {
                    warn!(error = %e, attempt = backoff.attempts, retry_in = ?delay, "cannot open device; retrying");
                }
                // The delay spaces attempt starts, not the pause after a
                // failure: a dial into a silent network has already waited
                // out its connect timeout (3 s), and adding the delay after
                // it left the link unprobed for up to 5 s, so traffic could
                // resume that long after the link came back.
                let wait = tokio::time::sleep_until(attempt + delay);
                tokio::select! {
                    _ = wait => {}
                    n = drain_for(local, &mut dropped) => { target.meters.lost_to_device.add(n); log_app_left(n); return LinkEnd::AppLeft; }
                    _ = stop.cancelled() => return LinkEnd::Stopped,
                }
                continue;
            }
        };
        backoff.reset();
        local.tunnel_up(&session.opened, session.line_control);
        let meters = &target.meters;
        meters.tunnel_up.set(1);
        meters.lost_to_device.add(dropped);
        if down_since.is_some() {
            meters.reconnects.inc();
        }
        let o = &session.opened;
        match down_since.take() {
            Some(t) => {
                info!(device = %o.device, agent = %o.agent, zone = %o.zone, after = ?t.elapsed(), dropped_while_down = dropped, "tunnel restored")
            }
            None => {
                info!(device = %o.device, agent = %o.agent, zone = %o.zone, settings = %o.settings, "tunnel up")
            }
        }
        dropped = 0;
        let mut relay =
            Relay::new(std::mem::take(&mut session.buf)).with_meters(meters.relay.clone());
        let revocation = &dialer.revocation;
        let agent_fp = session.agent.fingerprint;
        let agent_revoked = async move { revocation.revoked(agent_fp).await };
        let ended = async {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = agent_revoked => {}
            }
        };
        let end = match relay
            .run(&mut session.stream, local, ended, liveness, LocalControl)
            .await
        {
            RelayEnd::PeerClosed(r) => RelayEnd::PeerClosed(crate::agent_text::reason(r)),
            end => end,
        };
        // The stop token is the only other way to `Stopped`: if it was not
        // cancelled, the agent's certificate was revoked.
        let closing = |kind, why: &str| Some(CloseReason::new(kind, why));
        let (close, outcome) = match end {
            RelayEnd::Stopped if !stop.is_cancelled() => {
                error!(agent = %o.agent, "the agent's certificate was revoked; session ended");
                (
                    closing(
                        CloseReasonKind::NotAuthorised,
                        "this client revoked the agent's certificate",
                    ),
                    Outcome::Retry("the agent's certificate was revoked".into()),
                )
            }
            RelayEnd::DeviceEof => {
                info!("application closed its connection");
                (
                    closing(CloseReasonKind::Normal, "application closed its connection"),
                    Outcome::Done(LinkEnd::AppLeft),
                )
            }
            RelayEnd::DeviceError(e) => {
                info!(error = %e, "application connection failed");
                (
                    closing(
                        CloseReasonKind::Normal,
                        &format!("application connection failed: {e}"),
                    ),
                    Outcome::Done(LinkEnd::AppLeft),
                )
            }
            RelayEnd::Stopped => (
                closing(
                    CloseReasonKind::Normal,
                    "client endpoint closed this connection",
                ),
                Outcome::Done(LinkEnd::Stopped),
            ),
            RelayEnd::PeerClosed(r) if r.kind == CloseReasonKind::Replaced => {
                warn!(reason = %r, "another session took the device (a newer one of this client, or a takeover); closing the application connection");
                (None, Outcome::Done(LinkEnd::Fatal(r.to_string())))
            }
            RelayEnd::PeerClosed(r) if !r.kind.is_retryable() => {
                error!(reason = %r, "agent ended the session");
                (None, Outcome::Done(LinkEnd::Fatal(r.to_string())))
            }
            RelayEnd::PeerClosed(r) => (
                None,
                Outcome::Retry(format!("agent ended the session: {r}")),
            ),
            RelayEnd::NetLost(m) => (
                None,
                Outcome::Retry(format!("connection to agent lost: {m}")),
            ),
            RelayEnd::PeerSilent(d) => (None, Outcome::Retry(format!("agent silent for {d:?}"))),
            RelayEnd::PeerNotReading(d) => (
                None,
                Outcome::Retry(format!("agent took nothing we sent for {d:?}")),
            ),
            RelayEnd::Protocol(e) => (
                None,
                Outcome::Retry(format!("agent broke the protocol: {e}")),
            ),
            RelayEnd::Refused(r) => {
                let why = r.to_string();
                (Some(r), Outcome::Retry(why))
            }
        };
        if let Some(r) = &close {
            relay.finish(&mut session.stream, Some(r), CLOSE_WAIT).await;
        }
        relay.account_losses();
        local.tunnel_down();
        meters.tunnel_up.set(0);
        let s = relay.stats;
        // The relay's "device" is the application: its lost_to_device
        // were bytes for the application, its lost_to_net bytes from it.
        meters.lost_to_app.add(s.lost_to_device);
        meters.lost_to_device.add(s.lost_to_net);
        if s.lost_to_device + s.lost_to_net > 0 {
            warn!(
                lost_to_device = s.lost_to_net,
                lost_to_app = s.lost_to_device,
                "bytes in flight were lost"
            );
        }
        match outcome {
            Outcome::Done(end) => return end,
            Outcome::Retry(why) => {
                meters.error(&why);
                warn!(reason = %why, "tunnel down; holding the application connection open and reconnecting");
                down_since = Some(tokio::time::Instant::now());
            }
        }
    }
}

fn retryable(e: &DialError) -> bool {
    match e {
        DialError::Refused { reason, .. } => reason.kind.is_retryable(),
        _ => true,
    }
}

fn log_app_left(n: u64) {
    info!(
        dropped = n,
        "application closed its connection while the tunnel was down"
    );
}

/// Reads and discards what the application writes while there is no tunnel;
/// returns (with the count) when the application closes its connection.
async fn drain_for<L: Local>(local: &mut L, dropped: &mut u64) -> u64 {
    let mut scratch = [0u8; 4096];
    loop {
        match local.read(&mut scratch).await {
            Ok(0) | Err(_) => return *dropped,
            Ok(n) => *dropped += n as u64,
        }
    }
}
