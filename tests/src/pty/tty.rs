//! The host's side of a terminal, as a test holds it: a pty slave the test
//! opens itself, or a pty endpoint made by `serialctl connect --pty`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::pair::open_raw;
use crate::util::{eventually, hex_preview};

/// An open terminal in raw, non-blocking mode with deadline-bounded reads
/// and writes, so a test never hangs on a broken relay. `&Tty` can be
/// shared between a writer and a reader thread.
pub struct Tty {
    file: File,
    path: PathBuf,
}

impl Tty {
    /// Opens `path` (following symlinks) and puts it in raw mode.
    pub fn open(path: &Path) -> io::Result<Tty> {
        Ok(Tty {
            file: open_raw(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Opens `path` as soon as it exists and can be opened, for endpoints a
    /// process creates after it starts.
    ///
    /// # Panics
    /// If it can not be opened within `timeout`, with the last error.
    pub fn open_within(path: &Path, timeout: Duration) -> Tty {
        let mut last = None;
        let mut tty = None;
        eventually(timeout, || match Tty::open(path) {
            Ok(t) => {
                tty = Some(t);
                true
            }
            Err(e) => {
                last = Some(e);
                false
            }
        });
        tty.unwrap_or_else(|| {
            panic!(
                "cannot open {} within {timeout:?}: {last:?}",
                path.display()
            )
        })
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, for anything not covered here (termios, ioctls).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Writes all of `bytes`, waiting for room up to `timeout` in all.
    pub fn write_all_timeout(&self, bytes: &[u8], timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut done = 0;
        while done < bytes.len() {
            match (&self.file).write(&bytes[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(PollFlags::POLLOUT, deadline).map_err(|e| {
                        io::Error::new(e.kind(), format!("wrote {done} of {}: {e}", bytes.len()))
                    })?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads exactly `n` bytes within `timeout`.
    ///
    /// # Panics
    /// On timeout, end of file or error, showing what had arrived.
    pub fn read_exact_timeout(&self, n: usize, timeout: Duration) -> Vec<u8> {
        self.try_read_exact_timeout(n, timeout)
            .unwrap_or_else(|(got, why)| {
                panic!(
                    "{}: read {} of {n} bytes, then {why}; got: {}",
                    self.path.display(),
                    got.len(),
                    hex_preview(&got, 64)
                )
            })
    }

    /// Reads exactly `n` bytes within `timeout`; on failure returns the
    /// bytes that did arrive (they are consumed) and why it stopped.
    pub fn try_read_exact_timeout(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, (Vec<u8>, io::Error)> {
        let deadline = Instant::now() + timeout;
        let mut got = vec![0u8; n];
        let mut filled = 0;
        while filled < n {
            match (&self.file).read(&mut got[filled..]) {
                Ok(0) => {
                    got.truncate(filled);
                    return Err((got, io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(k) => filled += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.wait(PollFlags::POLLIN, deadline) {
                        got.truncate(filled);
                        return Err((got, e));
                    }
                }
                Err(e) => {
                    got.truncate(filled);
                    return Err((got, e));
                }
            }
        }
        Ok(got)
    }

    /// Everything readable right now, without waiting (possibly nothing).
    pub fn read_available(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match (&self.file).read(&mut buf) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until `events` are possible or `deadline` passes. A hang-up or
    /// error also ends the wait: the next read or write reports it.
    fn wait(&self, events: PollFlags, deadline: Instant) -> io::Result<()> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
            }
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.file.as_fd(), events)];
            match poll(&mut fds, timeout) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
