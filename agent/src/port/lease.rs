//! [`Lease`]: one client's hold on one shared device, from the registry's
//! claim to the closed tty.
//!
//! A device has one holder at a time, and a tty is a kernel object with a
//! slow close: a replacing session must wait for its predecessor to have
//! closed the port (else its open fails with EBUSY, or it reads the old
//! session's leftovers), and the device must be freed in the registry even
//! if the session task panics or is cancelled. So the claim, the port lock
//! and the open tty live and die together here, and leave in one order:
//! the tty closes (on a blocking thread), then the port lock is released,
//! then the claim.
//!
//! A session whose client cannot reconnect cheaply (the ESPHome endpoint:
//! zwave-js's socket is the session, and it soft-resets the stick, which
//! then re-enumerates) keeps its lease across the re-plug:
//! [`Lease::reopen`] closes the tty and opens the device again, keeping
//! the claim and the port lock, so no other session slips in between.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serialmesh_io::{Liveness, Relay, RelayEnd};
use serialmesh_proto::{CloseReason, CloseReasonKind, LineSettings};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use tracing::{info, warn, Instrument, Span};

use super::hold::{self, NotOpened};
use super::line_control::SessionControl;
use super::serial::{self, Tty};
use crate::registry::{Claim, Gate, Registry, SessionStop};
use crate::telemetry::AgentMetrics;

/// How long a replacing session waits for its predecessor to close the port.
const REPLACE_WAIT: Duration = Duration::from_secs(3);

/// A claimed device with its tty open; see the module docs. Close it with
/// [`Lease::close`]; dropped instead (a panic, a cancelled task), the tty
/// is closed on the async thread and the device still freed.
pub struct Lease {
    // Fields drop in declaration order: tty, port lock, then the claim.
    /// None only after a [`Lease::reopen`] that failed or was cancelled
    /// while it waited for the device.
    tty: Option<Tty>,
    port_lock: OwnedMutexGuard<()>,
    release: Release,
    claim: Claim,
    registry: Arc<Registry>,
    settings: LineSettings,
    path: PathBuf,
    stale: u64,
    span: Span,
}

/// Who tells of a refused open: [`Lease::open`] counts and logs it itself;
/// a caller that reports refusals in its own words (the ESPHome endpoint
/// tells its client "no Z-Wave proxy") does so alone.
#[derive(Clone, Copy)]
enum Refusals {
    Report,
    Caller,
}

/// Frees the device in the registry, whatever ends the lease.
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

impl Lease {
    /// Claims `address` for the client behind `gate` and opens it at
    /// `settings` (else the device's own): the entry point for anything
    /// that serves a shared device to a client.
    ///
    /// Waits, within one budget of [`hold::HOLD`], for a device that is
    /// being re-plugged; and up to 3 s for a session it replaces to close
    /// the port. `Err` is what the client is to be told; it has been
    /// counted and (throttled) logged, and nothing is held any more.
    /// With `expect_serial` (the client's pin), a device with another USB
    /// serial number is refused before it is claimed, so the session it
    /// would replace and the device itself are left alone.
    pub async fn open(
        registry: &Arc<Registry>,
        address: &str,
        settings: Option<LineSettings>,
        expect_serial: Option<&str>,
        gate: &dyn Gate,
        metrics: &AgentMetrics,
    ) -> Result<Lease, CloseReason> {
        Self::open_with(
            registry,
            address,
            settings,
            expect_serial,
            gate,
            metrics,
            Refusals::Report,
        )
        .await
    }

    /// As [`Lease::open`] at the device's own settings, but a refusal is
    /// left to the caller to count and log (only a failed open of a
    /// claimed device is counted here, as a device error).
    pub async fn open_unreported(
        registry: &Arc<Registry>,
        address: &str,
        gate: &dyn Gate,
        metrics: &AgentMetrics,
    ) -> Result<Lease, CloseReason> {
        Self::open_with(
            registry,
            address,
            None,
            None,
            gate,
            metrics,
            Refusals::Caller,
        )
        .await
    }

    async fn open_with(
        registry: &Arc<Registry>,
        address: &str,
        settings: Option<LineSettings>,
        expect_serial: Option<&str>,
        gate: &dyn Gate,
        metrics: &AgentMetrics,
        refusals: Refusals,
    ) -> Result<Lease, CloseReason> {
        // One budget for waiting out a re-plug, whether the device is known
        // to be unplugged (the claim waits) or its path just vanished (the
        // open waits).
        let hold_until = Instant::now() + hold::HOLD;
        let pinned = match expect_serial {
            Some(expect) => registry.check_serial(address, gate, expect),
            None => Ok(()),
        };
        let claimed = match pinned {
            Ok(()) => hold::claim(registry, address, gate, hold_until).await,
            Err(wrong) => Err(wrong),
        };
        let (claim, claim_waited) = match claimed {
            Ok(c) => c,
            Err(reason) if matches!(refusals, Refusals::Caller) => return Err(reason),
            Err(reason) => {
                metrics.refused(&reason.kind.to_string());
                let key = format!("{address} {}", reason.kind);
                if let Some(unlogged) = registry.refusal_log.admit(&key) {
                    warn!(%address, %reason, unlogged, "refused to open device");
                }
                return Err(reason);
            }
        };
        let release = Release {
            registry: registry.clone(),
            device: claim.device.name.clone(),
            session: claim.session,
        };
        // Instrumented, not entered: a span guard held across awaits would
        // tag other tasks' log lines on this worker with this session.
        let span =
            tracing::info_span!("session", device = %claim.device.name, session = claim.session);
        let opening = Opening {
            registry,
            metrics,
            claim,
            release,
            claim_waited,
            hold_until,
            refusals,
        };
        opening.open(settings, span.clone()).instrument(span).await
    }

    /// The device's share name.
    pub fn device(&self) -> &str {
        &self.claim.device.name
    }

    /// The session number the registry gave this claim.
    pub fn session(&self) -> u64 {
        self.claim.session
    }

    /// The tty's path as opened (a re-plugged device may have a new one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line settings the tty was opened at.
    pub fn settings(&self) -> LineSettings {
        self.settings
    }

    /// Bytes of device output discarded at open: nobody was attached to
    /// read them, and a new client must not get frames meant for another.
    pub fn stale(&self) -> u64 {
        self.stale
    }

    /// The `session` span (device, session number) to run the session in.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Cancelled when the session must end (replaced by another client,
    /// revoked, the device gone from the config, shutting down);
    /// [`SessionStop::reason`] says which.
    pub fn stop(&self) -> &SessionStop {
        &self.claim.stop
    }

    /// The open tty, for a relay of a protocol of its own; None after a
    /// [`Lease::reopen`] that failed or was cancelled (reopen again).
    pub fn tty(&mut self) -> Option<&mut Tty> {
        self.tty.as_mut()
    }

    /// Closes the tty (if open) and opens the device again at the lease's
    /// settings, waiting up to [`hold::HOLD`] for it to come back (a stick
    /// that re-enumerates after a soft reset); the claim and the port lock
    /// are kept throughout, so no other session can take the device in
    /// between. Cancel-safe: cancelled after the close, the lease is left
    /// without a tty and the next reopen only opens. `Err` is why the
    /// session must end: stopped while waiting ([`Lease::stop`]'s reason),
    /// or the device did not come back.
    pub async fn reopen(&mut self) -> Result<(), CloseReason> {
        if let Some(tty) = self.tty.take() {
            serial::close(tty.into_inner(), ()).await;
        }
        let until = Instant::now() + hold::HOLD;
        match hold::open(&self.registry, &self.claim, &self.settings, until).await {
            Ok(o) => {
                info!(
                    path = %o.path.display(),
                    waited_ms = o.waited.as_millis() as u64,
                    "device is back; session goes on"
                );
                self.path = o.path;
                self.tty = Some(o.tty);
                Ok(())
            }
            Err(NotOpened::Stopped) => Err(self.claim.stop.reason()),
            Err(NotOpened::Failed(path, e)) => Err(CloseReason::new(
                CloseReasonKind::DeviceGone,
                format!("{} did not come back: {e}", path.display()),
            )),
        }
    }

    /// Runs serialmesh's relay between `net` and the tty until something
    /// ends it; line changes the client sends on the way (SetLine, break,
    /// purge, modem lines) are applied to this tty
    /// ([`SessionControl`]). Ends at once when [`Lease::stop`] fires.
    pub async fn relay<N>(&mut self, relay: &mut Relay, net: &mut N, liveness: Liveness) -> RelayEnd
    where
        N: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(tty) = self.tty.as_mut() else {
            // Only a reopen takes the tty away, and a lease that relays
            // never reopens; should one do both, its client hears so.
            return RelayEnd::DeviceEof;
        };
        relay
            .run(
                net,
                tty,
                self.claim.stop.token().cancelled(),
                liveness,
                SessionControl::new(self.path.clone()),
            )
            .await
    }

    /// Closes the tty on a blocking thread, then releases the port lock
    /// and the claim: a replacing session never finds the port still open
    /// (see [`serial::close`]).
    pub async fn close(self) {
        let Lease {
            tty,
            port_lock,
            release,
            ..
        } = self;
        serial::close(tty.map(Tty::into_inner), port_lock).await;
        drop(release);
    }
}

/// A claim on its way to an open tty; what it holds is released if the
/// open fails.
struct Opening<'a> {
    registry: &'a Arc<Registry>,
    metrics: &'a AgentMetrics,
    claim: Claim,
    release: Release,
    claim_waited: Duration,
    hold_until: Instant,
    refusals: Refusals,
}

impl Opening<'_> {
    async fn open(self, settings: Option<LineSettings>, span: Span) -> Result<Lease, CloseReason> {
        let Opening {
            registry,
            metrics,
            claim,
            release,
            claim_waited,
            hold_until,
            refusals,
        } = self;
        let device = &claim.device.name;
        let Ok(port_lock) =
            tokio::time::timeout(REPLACE_WAIT, claim.port_lock.clone().lock_owned()).await
        else {
            let reason = CloseReason::new(
                CloseReasonKind::Busy,
                format!("the previous session on {device} did not close within {REPLACE_WAIT:?}"),
            );
            if matches!(refusals, Refusals::Report) {
                warn!(%reason, "refused to open device");
            }
            return Err(reason);
        };
        if claim.stop.token().is_cancelled() {
            // Replaced again (or shutting down) while we waited for the port.
            return Err(claim.stop.reason());
        }
        let settings = settings.unwrap_or(claim.device.settings);
        match hold::open(registry, &claim, &settings, hold_until).await {
            Ok(o) => {
                let waited = claim_waited + o.waited;
                if waited > Duration::from_millis(1) {
                    info!(
                        waited_ms = waited.as_millis() as u64,
                        "opened once the device came back"
                    );
                }
                registry.refusal_log.reset(device);
                Ok(Lease {
                    tty: Some(o.tty),
                    port_lock,
                    release,
                    registry: Arc::clone(registry),
                    claim,
                    settings,
                    path: o.path,
                    stale: o.stale,
                    span,
                })
            }
            Err(NotOpened::Stopped) => {
                // Replaced or shut down while waiting for the device: that
                // is what its client needs to hear, not the missing path.
                let reason = claim.stop.reason();
                info!(%reason, "ended while waiting for the device");
                Err(reason)
            }
            Err(NotOpened::Failed(path, e)) => {
                let kind = match e.kind() {
                    std::io::ErrorKind::NotFound => CloseReasonKind::DeviceGone,
                    _ => CloseReasonKind::OpenFailed,
                };
                let reason = CloseReason::new(kind, format!("cannot open {}: {e}", path.display()));
                metrics.error(device, reason.kind);
                if matches!(refusals, Refusals::Report) {
                    metrics.refused(&reason.kind.to_string());
                    if let Some(unlogged) = registry.refusal_log.admit(device) {
                        warn!(%reason, unlogged, "device open failed");
                    }
                }
                Err(reason)
            }
        }
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
