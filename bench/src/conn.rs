//! What the measuring client talks to: a relay's TCP port, or (for the
//! floor) the pty slave itself. Both look like one blocking byte stream
//! with timeouts, so every figure is measured by the same code.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serialmesh_esphome::client::BlockingClient;

/// A read or write that takes longer than this means bytes were lost (or
/// a relay stalled); failing beats hanging the whole run.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a graceful close waits for the relay to close its side.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Pty(PathBuf),
    /// An ESPHome API endpoint and the client key to prove.
    Esphome(SocketAddr, [u8; 32]),
}

impl Endpoint {
    /// Opens a fresh connection (or a fresh open of the pty).
    pub fn connect(&self) -> Result<Conn> {
        match self {
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, IO_TIMEOUT)
                    .with_context(|| format!("cannot connect to {addr}"))?;
                // Frames are tiny; without NODELAY, Nagle would hold the
                // next one back until the previous one is acknowledged.
                s.set_nodelay(true).context("TCP_NODELAY")?;
                s.set_read_timeout(Some(IO_TIMEOUT))
                    .context("read timeout")?;
                s.set_write_timeout(Some(IO_TIMEOUT))
                    .context("write timeout")?;
                Ok(Conn::Tcp(s))
            }
            Endpoint::Esphome(addr, key) => {
                let c = BlockingClient::connect(*addr, key, IO_TIMEOUT)
                    .with_context(|| format!("cannot open an ESPHome session on {addr}"))?;
                if !c.has_device() {
                    anyhow::bail!(
                        "the ESPHome endpoint on {addr} refused the device (feature flags 0)"
                    );
                }
                Ok(Conn::Esphome(Box::new(c)))
            }
            Endpoint::Pty(path) => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOCTTY)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                Ok(Conn::Pty(f))
            }
        }
    }
}

pub enum Conn {
    Tcp(TcpStream),
    Pty(File),
    Esphome(Box<BlockingClient>),
}

impl Conn {
    /// A second handle on the same connection, for a writer thread.
    pub fn try_clone(&self) -> Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone().context("cannot clone the socket")?),
            Conn::Pty(f) => Conn::Pty(f.try_clone().context("cannot clone the pty")?),
            Conn::Esphome(c) => Conn::Esphome(Box::new(
                c.try_clone().context("cannot clone the ESPHome session")?,
            )),
        })
    }

    /// Half-closes and waits for the relay to close its side.
    ///
    /// Relays then end their session (socat's child exits, serialmesh sends
    /// its Close) before the next connection arrives; a connection simply
    /// dropped could leave a socat child reading the pty for `-t` seconds,
    /// stealing the next connection's bytes (docs/facts.md, "Other relays").
    pub fn close_gracefully(self) {
        if let Conn::Esphome(c) = self {
            c.close();
            return;
        }
        if let Conn::Tcp(mut s) = self {
            if s.shutdown(Shutdown::Write).is_err() {
                return;
            }
            let _ = s.set_read_timeout(Some(CLOSE_TIMEOUT));
            let deadline = Instant::now() + CLOSE_TIMEOUT;
            let mut scratch = [0u8; 4096];
            while Instant::now() < deadline {
                match s.read(&mut scratch) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Esphome(c) => c.read(buf),
            Conn::Pty(f) => {
                // A tty has no SO_RCVTIMEO; poll gives the read its timeout
                // (one extra syscall on the floor's path, about a microsecond).
                wait_readable(f, IO_TIMEOUT)?;
                f.read(buf)
            }
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Esphome(c) => c.write(buf),
            // The echo device never stops reading, so a pty write cannot
            // block for long and needs no timeout.
            Conn::Pty(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn wait_readable(f: &File, timeout: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: `pfd` is one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        match n {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "pty read timed out",
                ))
            }
            n if n > 0 => return Ok(()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
                // Not ErrorKind::Interrupted: read_exact would retry that.
                if crate::interrupt::requested() {
                    return Err(io::Error::other("interrupted by a signal"));
                }
            }
        }
    }
}
