//! The part every fake device shares: a pty pair, its pump thread, the
//! symlinks pointing at it, and how it goes away.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use serialmesh_io::tty::open_pty;

use super::links::Links;
use super::pair::clear_exclusive;
use super::pump::{self, Shared};

/// A fake serial device on a pseudo-terminal whose side of the
/// conversation the test writes; [`super::ScriptedDevice`] wraps it. (The
/// echo device is `serialmesh_io::EchoPty`, shared with the agent's demo
/// device and the benchmark.)
///
/// The slave descriptor we opened stays open for the device's lifetime, on
/// purpose:
/// - the master then never sees hang-up between the agent's opens (with no
///   slave open, Linux reports POLLHUP/EIO on the master continuously);
/// - it lets [`PtyDevice::clear_exclusive`] reach the terminal.
///
/// Consequences tests must know (they differ from a real serial port):
/// - terminal settings persist across opens and are shared by both sides;
///   we set raw mode once at creation, but a process that changes them
///   changes them for the next opener too;
/// - bytes the device writes while the agent has the port closed wait in
///   the pty and are handed to the next opener (a closed real port drops
///   them); `seriald` flushes input when it opens a port, which hides this.
pub(crate) struct PtyDevice {
    path: PathBuf,
    slave: Option<File>,
    shared: Arc<Shared>,
    /// Dropping this tells the pump to stop.
    wake: Option<File>,
    pump: Option<JoinHandle<()>>,
    links: Links,
}

impl PtyDevice {
    /// Creates the pty and starts its pump thread.
    pub fn start() -> io::Result<PtyDevice> {
        let pair = open_pty()?;
        let (wake_rx, wake_tx) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let shared = Arc::new(Shared::default());
        let pump_shared = Arc::clone(&shared);
        let master = pair.master;
        let wake_rx = File::from(wake_rx);
        let name = format!("pty-{}", pair.path.display());
        let pump = thread::Builder::new()
            .name(name)
            .spawn(move || pump::run(master, wake_rx, &pump_shared))?;
        Ok(PtyDevice {
            links: Links::to(&pair.path),
            path: pair.path,
            slave: Some(pair.slave),
            shared,
            wake: Some(File::from(wake_tx)),
            pump: Some(pump),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Wakes the pump because the outbox has new bytes.
    pub fn wake(&self) {
        if let Some(mut w) = self.wake.as_ref() {
            // A full pipe means a wakeup is already pending: ignore it.
            let _ = w.write(&[1]);
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.shared.read.load(Ordering::Relaxed)
    }

    pub fn bytes_written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// Creates (or atomically replaces) a symlink at `link` pointing to the
    /// pty, removed again when the device stops if it still points here.
    pub fn link(&mut self, link: &Path) -> io::Result<()> {
        self.links.add(link)
    }

    pub fn clear_exclusive(&self) -> io::Result<()> {
        match &self.slave {
            Some(slave) => clear_exclusive(slave),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "device stopped")),
        }
    }

    /// Stops the pump and closes both of our descriptors. Once the agent
    /// closes its own, the pty is gone; until then its reads fail with EIO,
    /// which is how an unplugged USB serial adapter looks to it.
    /// Idempotent.
    pub fn stop(&mut self) {
        drop(self.wake.take());
        if let Some(pump) = self.pump.take() {
            // The pump only panics on a poll failure; that test fails anyway.
            let _ = pump.join();
        }
        drop(self.slave.take());
        self.links.remove();
    }
}

impl Drop for PtyDevice {
    fn drop(&mut self) {
        self.stop();
    }
}
