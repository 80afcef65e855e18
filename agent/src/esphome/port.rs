//! The device as one ESPHome session holds it: claimed in the registry
//! (the one-owner rule, `[[allow]]`, revocation all apply as for an mTLS
//! session), opened at the device's line settings, and reopened in place
//! when it vanishes for a moment. zwave-js soft-resets 700/800-series
//! sticks at every start and the USB stick then re-enumerates: the mTLS
//! path's client reconnects its tunnel, but here the session is zwave-js's
//! own socket, and dropping it would cost one of its ten reconnects, so the
//! session waits for the stick (up to [`hold::HOLD`]) and carries on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serialmesh_proto::{CloseReason, CloseReasonKind, LineSettings};
use std::task::Poll;
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::endpoint::Endpoint;
use crate::port::hold::{self, NotOpened};
use crate::port::serial;
use crate::registry::{Claim, Gate, Registry};
use crate::telemetry::SessionMeters;

/// How long a replacing session waits for its predecessor to close the port.
const REPLACE_WAIT: Duration = Duration::from_secs(3);

/// Frees the device however the session ends.
struct Release {
    registry: Arc<Registry>,
    device: String,
    session: u64,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.registry.release(&self.device, self.session);
    }
}

pub struct Held {
    claim: Claim,
    registry: Arc<Registry>,
    /// None while the device is being reopened.
    port: Option<serial::Tty>,
    guard: OwnedMutexGuard<()>,
    path: PathBuf,
    settings: LineSettings,
    meters: SessionMeters,
    to_device: u64,
    to_client: u64,
    _release: Release,
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
    /// for, waiting out a re-plug as the mTLS path does.
    pub async fn claim(ep: &Endpoint, gate: &dyn Gate) -> Result<Held, CloseReason> {
        let registry = ep.registry.clone();
        let hold_until = Instant::now() + hold::HOLD;
        let (claim, _) = hold::claim(&registry, &ep.device, gate, hold_until).await?;
        let release = Release {
            registry: registry.clone(),
            device: claim.device.name.clone(),
            session: claim.session,
        };
        let Ok(guard) =
            tokio::time::timeout(REPLACE_WAIT, claim.port_lock.clone().lock_owned()).await
        else {
            return Err(CloseReason::new(
                CloseReasonKind::Busy,
                format!(
                    "the previous session on {} did not close within {REPLACE_WAIT:?}",
                    ep.device
                ),
            ));
        };
        if claim.stop.token().is_cancelled() {
            return Err(claim.stop.reason());
        }
        let settings = claim.device.settings;
        let opened = match hold::open(&registry, &claim, &settings, hold_until).await {
            Ok(o) => o,
            Err(NotOpened::Stopped) => return Err(claim.stop.reason()),
            Err(NotOpened::Failed(path, e)) => {
                let kind = match e.kind() {
                    std::io::ErrorKind::NotFound => CloseReasonKind::DeviceGone,
                    _ => CloseReasonKind::OpenFailed,
                };
                let reason = CloseReason::new(kind, format!("cannot open {}: {e}", path.display()));
                ep.metrics.error(&ep.device, reason.kind);
                return Err(reason);
            }
        };
        registry.refusal_log.reset(&ep.device);
        let meters = ep.metrics.session(&ep.device);
        meters.active.add(1);
        if opened.stale > 0 {
            meters.lost_to_client.add(opened.stale);
        }
        info!(path = %opened.path.display(), %settings, session = claim.session, "session started");
        Ok(Held {
            claim,
            registry,
            port: Some(opened.tty),
            guard,
            path: opened.path,
            settings,
            meters,
            to_device: 0,
            to_client: 0,
            _release: release,
        })
    }

    /// Cancelled when the session must end (then see [`Held::reason`]).
    pub fn stop(&self) -> CancellationToken {
        self.claim.stop.token().clone()
    }

    pub fn reason(&self) -> CloseReason {
        self.claim.stop.reason()
    }

    /// Writes some of `out` to the device or (with `read`) reads what it
    /// says into `buf`, whichever it can do first: both directions at once,
    /// so a device that echoes while it is written to (its output filling
    /// while nobody reads it) cannot stall the session. Cancel-safe.
    pub async fn io(&mut self, buf: &mut [u8], read: bool, out: &[u8]) -> Result<Io, Lost> {
        loop {
            let port = self.port().await?;
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
                Ok(_) => warn!(path = %self.path.display(), "device reached end of file"),
                Err(e) => warn!(path = %self.path.display(), error = %e, "device failed"),
            }
            self.drop_port().await;
        }
    }

    pub fn sent_to_client(&mut self, n: usize) {
        self.to_client += n as u64;
        self.meters.relay.to_net.add(n as u64);
    }

    /// The open port, reopening it if it vanished.
    async fn port(&mut self) -> Result<&mut serial::Tty, Lost> {
        if self.port.is_none() {
            let until = Instant::now() + hold::HOLD;
            match hold::open(&self.registry, &self.claim, &self.settings, until).await {
                Ok(o) => {
                    info!(path = %o.path.display(), waited_ms = o.waited.as_millis() as u64, "device is back; session goes on");
                    self.path = o.path;
                    self.port = Some(o.tty);
                }
                Err(NotOpened::Stopped) => return Err(Lost::Stopped),
                Err(NotOpened::Failed(path, e)) => {
                    return Err(Lost::Gone(CloseReason::new(
                        CloseReasonKind::DeviceGone,
                        format!("{} did not come back: {e}", path.display()),
                    )))
                }
            }
        }
        Ok(self.port.as_mut().expect("opened above"))
    }

    async fn drop_port(&mut self) {
        if let Some(p) = self.port.take() {
            serial::close(p.into_inner(), ()).await;
        }
    }

    /// Closes the port before the port lock and the claim are given up, so
    /// a replacing session never finds it still open.
    pub async fn close(mut self) {
        self.meters.active.sub(1);
        info!(
            to_device = self.to_device,
            to_client = self.to_client,
            "session ended"
        );
        let port = self.port.take().map(|p| p.into_inner());
        let Held {
            guard, _release, ..
        } = self;
        serial::close(port, guard).await;
        drop(_release);
    }
}
