//! A device that answers every byte with itself.

use std::io;
use std::path::Path;

use serialmesh_io::EchoPty;

use super::links::Links;
use super::pair::clear_exclusive;

/// A fake serial device that writes back everything the host writes to it,
/// in order, byte for byte, however much is in flight.
///
/// The agent opens [`EchoDevice::path`] (e.g. `/dev/pts/7`) as its serial
/// port. Dropping the device (or [`EchoDevice::stop`]) closes the pty
/// master: the agent's reads then fail, as when a USB adapter is unplugged.
/// See the module docs for how a pty differs from a real port. The echo
/// itself is [`EchoPty`], the agent's `--demo` device.
pub struct EchoDevice {
    echo: EchoPty,
    links: Links,
}

impl EchoDevice {
    /// Creates the pty and starts echoing.
    ///
    /// # Panics
    /// If no pty can be allocated (no `/dev/ptmx`, or out of ptys).
    pub fn start() -> EchoDevice {
        let echo =
            EchoPty::start().unwrap_or_else(|e| panic!("cannot create a pseudo-terminal: {e}"));
        let links = Links::to(echo.path());
        EchoDevice { echo, links }
    }

    /// The slave path the agent opens, e.g. `/dev/pts/7`.
    pub fn path(&self) -> &Path {
        self.echo.path()
    }

    /// Makes `link` a symlink to [`EchoDevice::path`], replacing what is
    /// there atomically; removed on stop if it still points here.
    pub fn link(&mut self, link: &Path) -> io::Result<()> {
        self.links.add(link)
    }

    /// Bytes received from the host so far.
    pub fn bytes_read(&self) -> u64 {
        self.echo.bytes_read()
    }

    /// Bytes echoed back into the pty so far (the host may not have read
    /// them yet).
    pub fn bytes_written(&self) -> u64 {
        self.echo.bytes_written()
    }

    /// Clears `TIOCEXCL` left behind by a killed `seriald`, so a restarted
    /// non-root agent can open the device again.
    pub fn clear_exclusive(&self) -> io::Result<()> {
        match self.echo.slave() {
            Some(slave) => clear_exclusive(slave),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "device stopped")),
        }
    }

    /// Stops echoing and closes the pty master: the device "vanishes".
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for EchoDevice {
    fn drop(&mut self) {
        // An echo that failed fails the test through what it did not echo.
        let _ = self.echo.stop();
        self.links.remove();
    }
}
