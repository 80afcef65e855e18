//! One application connection kept attached to one device, through tunnel
//! outages and agent restarts.
//!
//! zwave-js gives up on a dropped `tcp://` port after ten one-second retries
//! and zigbee2mqtt exits on the first drop, so the application's socket is
//! held open while we reconnect behind it. Bytes it writes meanwhile are
//! dropped and counted, not queued: a door-lock command replayed seconds
//! late is worse than one the gateway retries itself after its ACK timeout.

mod backoff;
mod local;
mod outcome;

use std::sync::Arc;
use std::time::Duration;

use serialmesh_config::Address;
use serialmesh_io::{Liveness, Relay};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::dial::Session;
use crate::route::Route;
use crate::telemetry::{EndpointMeters, ErrorKind};
use backoff::Backoff;
use local::LocalControl;
use outcome::Outcome;

pub use local::Local;
pub use outcome::LinkEnd;

const CLOSE_WAIT: Duration = Duration::from_millis(300);

/// What an endpoint's links attach to.
pub struct Target {
    pub address: Address,
    /// How each dial finds the agent.
    pub route: Arc<Route>,
    pub meters: Arc<EndpointMeters>,
    /// The USB serial number the device must have (`expect_serial`);
    /// another device is refused like an absent one, and retried.
    pub expect_serial: Option<String>,
}

/// Keeps `local` attached to the target's device until the application
/// leaves, `stop` is cancelled, or a refusal needs a human: dials (with
/// backoff while it fails), relays, and on a loss dials again, holding
/// `local` open meanwhile.
pub async fn run<L: Local>(
    target: Arc<Target>,
    local: &mut L,
    stop: CancellationToken,
    liveness: Liveness,
) -> LinkEnd {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut dropped: u64 = 0;
    let mut down_since: Option<tokio::time::Instant> = None;
    loop {
        let (mut session, attempt) =
            match dial(&target, local, &stop, &mut backoff, &mut dropped).await {
                Ok(opened) => opened,
                Err(end) => return end,
            };
        backoff.reset();
        local.tunnel_up(&session.opened, session.line_control);
        let meters = &target.meters;
        meters.tunnel_up.set(1);
        meters.session_setup.observe_duration(attempt.elapsed());
        meters.lost_to_device.add(dropped);
        if down_since.is_some() {
            meters.reconnects.inc();
        }
        let o = &session.opened;
        match down_since.take() {
            Some(t) => {
                meters.outage.observe_duration(t.elapsed());
                info!(device = %o.device, agent = %o.agent, zone = %o.zone, after = ?t.elapsed(), dropped_while_down = dropped, "tunnel restored")
            }
            None => {
                info!(device = %o.device, agent = %o.agent, zone = %o.zone, settings = %o.settings, "tunnel up")
            }
        }
        dropped = 0;
        let mut relay =
            Relay::new(std::mem::take(&mut session.buf)).with_meters(meters.relay.clone());
        let revocation = target.route.revocation();
        let agent_fp = session.agent.fingerprint;
        let agent_revoked = async move { revocation.revoked(agent_fp).await };
        let ended = async {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = agent_revoked => {}
            }
        };
        let end = relay
            .run(&mut session.stream, local, ended, liveness, LocalControl)
            .await;
        let (close, outcome) = outcome::after(end, stop.is_cancelled(), &o.agent);
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
            Outcome::Retry(kind, why) => {
                meters.error(kind);
                warn!(reason = %why, "tunnel down; holding the application connection open and reconnecting");
                down_since = Some(tokio::time::Instant::now());
            }
        }
    }
}

/// Dials until a session opens (returned with when its successful
/// attempt started), spacing attempts by `backoff`; what the
/// application writes meanwhile is dropped and counted in `dropped`. Ends
/// the link instead if the application leaves, `stop` is cancelled, or the
/// agent refuses in a way no retry can cure.
async fn dial<L: Local>(
    target: &Target,
    local: &mut L,
    stop: &CancellationToken,
    backoff: &mut Backoff,
    dropped: &mut u64,
) -> Result<(Session, tokio::time::Instant), LinkEnd> {
    loop {
        // While dialling, the application's bytes wait in the socket buffer
        // and are relayed once the tunnel is up: the first command a gateway
        // sends right after connecting must not be lost.
        let attempt = tokio::time::Instant::now();
        let opening = target
            .route
            .open(&target.address, target.expect_serial.as_deref());
        let session = tokio::select! {
            s = opening => s,
            _ = stop.cancelled() => return Err(LinkEnd::Stopped),
        };
        match session {
            Ok(s) => return Ok((s, attempt)),
            Err(e) => {
                target.meters.error(ErrorKind::of_dial(&e));
                if !outcome::retryable(&e) {
                    error!(error = %e, "giving up on this connection");
                    return Err(LinkEnd::Fatal(e.to_string()));
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
                    n = drain_for(local, dropped) => { target.meters.lost_to_device.add(n); log_app_left(n); return Err(LinkEnd::AppLeft); }
                    _ = stop.cancelled() => return Err(LinkEnd::Stopped),
                }
            }
        }
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
