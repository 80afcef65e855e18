//! A device whose side of the conversation the test writes.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::device::PtyDevice;
use super::pump::Shared;
use crate::util::hex_preview;

/// A fake serial device driven by the test: [`ScriptedDevice::write`] sends
/// bytes to the host (as the device would), and the `read_*` methods return
/// what the host sent.
///
/// A background thread reads the pty all the time into a buffer, and writes
/// queued bytes as the host makes room, so the relay under test never
/// blocks on this device however the test paces itself.
pub struct ScriptedDevice {
    inner: PtyDevice,
}

impl ScriptedDevice {
    /// Creates the pty and starts its background thread.
    ///
    /// # Panics
    /// If no pty can be allocated.
    pub fn start() -> ScriptedDevice {
        let inner =
            PtyDevice::start().unwrap_or_else(|e| panic!("cannot create a pseudo-terminal: {e}"));
        ScriptedDevice { inner }
    }

    /// The slave path the agent opens, e.g. `/dev/pts/7`.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// Makes `link` a symlink to [`ScriptedDevice::path`] (see
    /// [`super::EchoDevice::link`]).
    pub fn link(&mut self, link: &Path) -> io::Result<()> {
        self.inner.link(link)
    }

    /// Queues `bytes` to be sent to the host, in order; never blocks.
    ///
    /// The bytes reach the pty as soon as it has room; if nobody has the
    /// port open they wait in the pty for the next opener (unlike a real
    /// port).
    pub fn write(&self, bytes: &[u8]) {
        Shared::lock(&self.inner.shared().outbox).extend(bytes);
        self.inner.wake();
    }

    /// Bytes queued by [`ScriptedDevice::write`] not yet in the pty (the
    /// host is not reading): a paced generator waits while this is large.
    pub fn pending(&self) -> usize {
        Shared::lock(&self.inner.shared().outbox).len()
    }

    /// Waits until everything passed to [`ScriptedDevice::write`] is in the
    /// pty (not necessarily read by the host yet); false on timeout.
    pub fn wait_flushed(&self, timeout: Duration) -> bool {
        let shared = self.inner.shared();
        let deadline = Instant::now() + timeout;
        let mut outbox = Shared::lock(&shared.outbox);
        while !outbox.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            outbox = shared
                .changed
                .wait_timeout(outbox, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Takes exactly `n` bytes the host sent, waiting up to `timeout`.
    ///
    /// # Panics
    /// On timeout, showing what had arrived (left in the buffer).
    pub fn read_exact_timeout(&self, n: usize, timeout: Duration) -> Vec<u8> {
        self.try_read_exact_timeout(n, timeout).unwrap_or_else(|| {
            let inbox = Shared::lock(&self.inner.shared().inbox);
            let (a, b) = inbox.as_slices();
            panic!(
                "device {} got {} of {n} bytes within {timeout:?}: {}",
                self.path().display(),
                inbox.len(),
                hex_preview(&[a, b].concat(), 64)
            )
        })
    }

    /// Like [`ScriptedDevice::read_exact_timeout`], but returns `None` on
    /// timeout and leaves what arrived in the buffer.
    pub fn try_read_exact_timeout(&self, n: usize, timeout: Duration) -> Option<Vec<u8>> {
        let shared = self.inner.shared();
        let deadline = Instant::now() + timeout;
        let mut inbox = Shared::lock(&shared.inbox);
        while inbox.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            inbox = shared
                .changed
                .wait_timeout(inbox, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Some(inbox.drain(..n).collect())
    }

    /// Takes at most `max` of the bytes the host has sent so far.
    pub fn read_some(&self, max: usize) -> Vec<u8> {
        let mut inbox = Shared::lock(&self.inner.shared().inbox);
        let n = inbox.len().min(max);
        inbox.drain(..n).collect()
    }

    /// Takes everything the host has sent so far (possibly nothing).
    pub fn read_available(&self) -> Vec<u8> {
        Shared::lock(&self.inner.shared().inbox).drain(..).collect()
    }

    /// Bytes received from the host so far (taken or not).
    pub fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    /// Bytes that went into the pty towards the host so far.
    pub fn bytes_written(&self) -> u64 {
        self.inner.bytes_written()
    }

    /// Clears `TIOCEXCL` left behind by a killed `seriald` (see
    /// [`super::EchoDevice::clear_exclusive`]).
    pub fn clear_exclusive(&self) -> io::Result<()> {
        self.inner.clear_exclusive()
    }

    /// Stops the background thread and closes the pty master: the device
    /// "vanishes".
    pub fn stop(mut self) {
        self.inner.stop();
    }
}
