//! The device as one ESPHome session holds it: claimed in the registry
//! (the one-owner rule, `[[allow]]`, revocation all apply as for an mTLS
//! session), opened at the device's line settings, and reopened in place
//! when it vanishes for a moment. zwave-js soft-resets 700/800-series
//! sticks at every start and the USB stick then re-enumerates: the mTLS
//! path's client reconnects its tunnel, but here the session is zwave-js's
//! own socket, and dropping it would cost one of its ten reconnects, so the
//! session waits for the stick (up to [`hold::HOLD`]) and carries on.
//! Claim, port lock and release are the mTLS path's own [`Lease`]; this
//! adds what a session of zwave-js's frames needs on top: both directions
//! at once, the reopen in place, and the session's meters.

use std::task::Poll;

use serialmesh_proto::CloseReason;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::endpoint::Endpoint;
use crate::port::Lease;
use crate::registry::Gate;
use crate::telemetry::SessionMeters;

pub struct Held {
    lease: Lease,
    meters: SessionMeters,
    to_device: u64,
    to_client: u64,
}

/// What [`Held::io`] did.
pub enum Io {
    Read(usize),
    Wrote(usize),
}

/// Why the device is no longer there for the session.
pub enum Lost {
    /// The claim was stopped (replaced, revoked, shutdown): see [`Held::reason`].
    Stopped,
    Gone(CloseReason),
}

impl Held {
    /// Claims and opens the endpoint's device for the client `gate` speaks
    /// for, waiting out a re-plug as the mTLS path does. A refusal is the
    /// caller's to count and log (it tells the client in its own terms).
    pub async fn claim(ep: &Endpoint, gate: &dyn Gate) -> Result<Held, CloseReason> {
        let lease = Lease::open_unreported(&ep.registry, &ep.device, gate, &ep.metrics).await?;
        let meters = ep.metrics.session(&ep.device);
        meters.active.add(1);
        if lease.stale() > 0 {
            meters.lost_to_client.add(lease.stale());
        }
        info!(path = %lease.path().display(), settings = %lease.settings(), session = lease.session(), "session started");
        Ok(Held {
            lease,
            meters,
            to_device: 0,
            to_client: 0,
        })
    }

    /// Cancelled when the session must end (then see [`Held::reason`]).
    pub fn stop(&self) -> CancellationToken {
        self.lease.stop().token().clone()
    }

    pub fn reason(&self) -> CloseReason {
        self.lease.stop().reason()
    }

    /// Writes some of `out` to the device or (with `read`) reads what it
    /// says into `buf`, whichever it can do first: both directions at once,
    /// so a device that echoes while it is written to (its output filling
    /// while nobody reads it) cannot stall the session. Cancel-safe.
    pub async fn io(&mut self, buf: &mut [u8], read: bool, out: &[u8]) -> Result<Io, Lost> {
        loop {
            if self.lease.tty().is_none() {
                self.reopen().await?;
            }
            let Some(port) = self.lease.tty() else {
                continue;
            };
            let done = std::future::poll_fn(|cx| {
                if !out.is_empty() {
                    if let Poll::Ready(r) = port.poll_write_some(cx, out) {
                        return Poll::Ready(r.map(Io::Wrote));
                    }
                }
                if read {
                    if let Poll::Ready(r) = port.poll_read_some(cx, buf) {
                        return Poll::Ready(r.map(Io::Read));
                    }
                }
                Poll::Pending
            })
            .await;
            match done {
                Ok(Io::Wrote(n)) => {
                    self.to_device += n as u64;
                    self.meters.relay.to_device.add(n as u64);
                    return Ok(Io::Wrote(n));
                }
                Ok(Io::Read(n)) if n > 0 => return Ok(Io::Read(n)),
                Ok(_) => warn!(path = %self.lease.path().display(), "device reached end of file"),
                Err(e) => warn!(path = %self.lease.path().display(), error = %e, "device failed"),
            }
            // The stick is re-enumerating (or gone): wait for it in place.
            self.reopen().await?;
        }
    }

    pub fn sent_to_client(&mut self, n: usize) {
        self.to_client += n as u64;
        self.meters.relay.to_net.add(n as u64);
    }

    async fn reopen(&mut self) -> Result<(), Lost> {
        match self.lease.reopen().await {
            Ok(()) => Ok(()),
            Err(_) if self.lease.stop().token().is_cancelled() => Err(Lost::Stopped),
            Err(reason) => Err(Lost::Gone(reason)),
        }
    }

    /// Closes the port before the port lock and the claim are given up, so
    /// a replacing session never finds it still open.
    pub async fn close(self) {
        self.meters.active.sub(1);
        info!(
            to_device = self.to_device,
            to_client = self.to_client,
            "session ended"
        );
        self.lease.close().await;
    }
}
