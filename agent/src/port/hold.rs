//! Waiting out a re-plug. A stick that re-enumerates (zwave-js soft-resets
//! 700/800-series controllers at every start; firmware updates; a USB
//! hiccup; a cable pulled and pushed back) is gone for about a second. A
//! client asking for it then is answered as soon as it is back, within
//! [`HOLD`], rather than told "device gone" and left to retry on its
//! backoff (up to 2 s later). Whatever a device says in its first moments
//! after coming back (a Z-Wave controller's "Serial API started") is only
//! seen by a port that is already open.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serialmesh_proto::{CloseReason, CloseReasonKind, LineSettings};
use tokio::time::Instant;

use super::serial;
use crate::registry::{Claim, Gate, Registry};

/// How long an open waits for a vanished device. Clients wait 5 s for an
/// answer; this leaves room for a slow network.
pub const HOLD: Duration = Duration::from_secs(3);

/// A configured path has no discovery to say it is back, so it is tried
/// again, at growing intervals up to [`PROBE_MAX`]: only if it opened
/// before (a wrong path is reported at once), and only this long after it
/// went missing (a device gone for good must not keep the agent probing
/// for every client that keeps asking).
const PROBE_WINDOW: Duration = Duration::from_secs(30);
const PROBE_FIRST: Duration = Duration::from_millis(20);
const PROBE_MAX: Duration = Duration::from_millis(250);

/// [`Registry::claim_gated`], waiting until `deadline` for a discovered
/// device that is unplugged to come back; also returns how long it waited.
pub async fn claim(
    registry: &Registry,
    address: &str,
    gate: &dyn Gate,
    deadline: Instant,
) -> Result<(Claim, Duration), CloseReason> {
    let start = Instant::now();
    loop {
        let mut changes = registry.changes();
        match registry.claim_gated(address, gate) {
            Ok(c) => return Ok((c, start.elapsed())),
            Err(r) if r.kind == CloseReasonKind::DeviceGone && Instant::now() < deadline => {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => return Err(r),
                    _ = registry.shutdown().cancelled() => {
                        return Err(CloseReason::new(CloseReasonKind::Shutdown, "agent is shutting down"));
                    }
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return Err(r);
                        }
                    }
                }
            }
            Err(r) => return Err(r),
        }
    }
}

/// An open tty, and how long the open waited for the device. (Not
/// `proto::Opened`, the frame that tells the client.)
pub struct OpenTty {
    pub tty: serial::Tty,
    pub stale: u64,
    pub path: PathBuf,
    pub waited: Duration,
}

/// Why [`open`] gave up.
pub enum NotOpened {
    /// The claim was stopped (replaced, shut down) while waiting.
    Stopped,
    /// The open of this path failed, and waiting longer would not help.
    Failed(PathBuf, io::Error),
}

/// Opens the claimed device, waiting until `deadline` (or until the claim
/// is stopped) for a path that has just gone missing to come back.
pub async fn open(
    registry: &Registry,
    claim: &Claim,
    settings: &LineSettings,
    deadline: Instant,
) -> Result<OpenTty, NotOpened> {
    let device = &claim.device.name;
    let start = Instant::now();
    let mut pause = PROBE_FIRST;
    loop {
        let mut changes = registry.changes();
        let path = registry
            .path_of(device)
            .unwrap_or_else(|| claim.device.path.clone());
        let e = match serial::open(&path, settings).await {
            Ok((tty, stale)) => {
                registry.found(device);
                return Ok(OpenTty {
                    tty,
                    stale,
                    path,
                    waited: start.elapsed(),
                });
            }
            Err(e) => e,
        };
        let now = Instant::now();
        let worth_waiting = e.kind() == io::ErrorKind::NotFound
            && now < deadline
            && registry
                .missing(device)
                .is_some_and(|gone| gone < PROBE_WINDOW);
        if !worth_waiting {
            return Err(NotOpened::Failed(path, e));
        }
        let retry_at = (now + pause).min(deadline);
        pause = (pause * 2).min(PROBE_MAX);
        tokio::select! {
            _ = tokio::time::sleep_until(retry_at) => {}
            _ = changes.changed() => {}
            _ = claim.stop.token().cancelled() => return Err(NotOpened::Stopped),
        }
    }
}

#[cfg(test)]
#[path = "hold_tests.rs"]
mod tests;
